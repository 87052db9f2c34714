"""PayTabs' routes, played locally. The API routes are called server to server (no CSRF; the server key
authenticates them) and answer JSON the way PayTabs does; the hosted page is the payer's, in Arabic or English."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from shifa.access.declare import public_page
from shifa.core import timezones

from . import actions, policies, protocol, queries
from .forms import TEST_CARD, PageForm
from .models import SimTransaction


def _answer(body: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _refused(refusal: protocol.Refusal) -> JsonResponse:
    return _answer(refusal.body(), refusal.http_status)


def page_url(tran: SimTransaction) -> str:
    """The hosted page's address as the payer's browser reaches it."""
    return settings.SHIFA_PUBLIC_URL + reverse("sim_paytabs:page", args=[tran.tran_ref])


@public_page(methods=("POST",))
@csrf_exempt
def payment_request(request: HttpRequest) -> HttpResponse:
    """``POST /payment/request``: a hosted page (sale/auth ecom), a refund, or a recurring payment."""
    try:
        data = protocol.read_json(request.content_type, request.body)
        profile_id = policies.authenticate(request.headers.get("authorization"), data)
        wanted = protocol.read_payment_request(data)
        if wanted.tran_type == "refund":
            return _answer(protocol.ipn_body(actions.refund_request(profile_id=profile_id, request=wanted)))
        if wanted.tran_class == "recurring":
            return _answer(protocol.ipn_body(actions.recurring_charge(profile_id=profile_id, request=wanted)))
        tran = actions.page_create(profile_id=profile_id, request=wanted)
        return _answer(protocol.page_answer(tran, page_url(tran)))
    except protocol.Refusal as refusal:
        return _refused(refusal)


@public_page(methods=("POST",))
@csrf_exempt
def payment_query(request: HttpRequest) -> HttpResponse:
    """``POST /payment/query`` by ``tran_ref`` or ``cart_id``: the transaction, IPN-shaped."""
    try:
        data = protocol.read_json(request.content_type, request.body)
        profile_id = policies.authenticate(request.headers.get("authorization"), data)
        tran_ref, cart_id = data.get("tran_ref"), data.get("cart_id")
        if not (isinstance(tran_ref, str) and tran_ref) and not (isinstance(cart_id, str) and cart_id):
            raise protocol.Refusal(protocol.INVALID_FIELD, "tran_ref or cart_id is required")
        tran = queries.transaction_find(
            profile_id=profile_id,
            tran_ref=tran_ref if isinstance(tran_ref, str) else "",
            cart_id=cart_id if isinstance(cart_id, str) else "",
        )
        if tran is None:
            raise protocol.Refusal(protocol.NOT_FOUND)
        return _answer(protocol.ipn_body(actions.transaction_current(tran)))
    except protocol.Refusal as refusal:
        return _refused(refusal)


@public_page(methods=("POST",))
@csrf_exempt
def refund_settle(request: HttpRequest, tran_ref: str) -> HttpResponse:
    """The simulator's control: settle a pending refund (``{"status": "A"}`` by default, or ``"D"``)."""
    try:
        data = protocol.read_json(request.content_type, request.body)
        policies.authenticate_control(request.headers.get("authorization"))
        status = data.get("status", "A")
        if status not in {"A", "D"}:
            raise protocol.Refusal(protocol.INVALID_FIELD, "status must be A or D")
        return _answer(protocol.ipn_body(actions.refund_settle(tran_ref=tran_ref, status=status)))
    except protocol.Refusal as refusal:
        return _refused(refusal)


def _page(request: HttpRequest, tran: SimTransaction, form: PageForm | None = None, *, status: int = 200):
    state = queries.page_state(tran)
    if form is None and state == "open":
        year = (timezones.now().year + 3) % 100
        form = PageForm(initial={"card_number": TEST_CARD, "expiry": f"12/{year:02d}", "cvv": "123"})
    context = {
        "tran": tran,
        "state": state,
        "form": form if state == "open" else None,
        # Back to the merchant with the outcome, once there is one (an unswept expired page has none yet).
        "back": protocol.return_fields(tran) if tran.status != "page" and tran.return_url else None,
    }
    return render(request, "sim_paytabs/page.html", context, status=status)


@public_page(methods=("GET", "POST"))
@never_cache
def payment_page(request: HttpRequest, tran_ref: str) -> HttpResponse:
    """The hosted payment page. A choice is applied once; the browser then goes back to the merchant's
    ``return`` URL with PayTabs' signed return form (the callback is sent server to server meanwhile)."""
    tran = queries.page_transaction(tran_ref)
    with translation.override(tran.language):
        if request.method != "POST":
            return _page(request, tran)
        form = PageForm(request.POST)
        if not form.is_valid():
            return _page(request, tran, form, status=400)
        tran = actions.page_choose(
            tran_ref=tran.tran_ref,
            choice=form.cleaned_data["choice"],
            card_number=form.cleaned_data["card_number"],
        )
        if not tran.return_url or tran.status == "page":
            return _page(request, tran)
        return render(
            request, "sim_paytabs/return.html", {"tran": tran, "fields": protocol.return_fields(tran)}
        )
