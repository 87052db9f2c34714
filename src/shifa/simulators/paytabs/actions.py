"""Writes of the PayTabs simulator: pages, their outcomes, refunds, recurring payments and the callbacks they owe.

Every outcome is decided under the transaction's row lock, once: a second submit of the page, a sweep racing a
payer, or a repeated settle changes nothing and sends no second callback.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction

from shifa.billing.paytabs import sign
from shifa.core import timezones

from . import protocol, queries
from .models import DeliveryStatus, SimDelivery, SimTransaction, Status

logger = logging.getLogger(__name__)

#: A test hook, like the client's: an ``httpx`` transport that carries the callbacks (tests route them in-process).
transport: httpx.BaseTransport | None = None

#: PayTabs tries a callback until it is answered HTTP 200, at most this many times…
MAX_ATTEMPTS = 5
#: … waiting this long (seconds) after the first, second, third and fourth failure.
BACKOFF_SECONDS = (10, 30, 90, 270)

#: The payer's buttons on the hosted page.
CHOICES = {
    "pay": Status.AUTHORISED,
    "decline": Status.DECLINED,
    "cancel": Status.CANCELLED,
    "expire": Status.EXPIRED,
}


def _refunds_pending() -> bool:
    return getattr(settings, "PAYTABS_SIMULATOR_REFUNDS", "approve") == "pending"


def _duplicate(profile_id: int, cart_id: str) -> bool:
    return SimTransaction.objects.filter(
        profile_id=profile_id, cart_id=cart_id, tran_type__in=("sale", "auth")
    ).exists()


def _new_tran_ref() -> str:
    while True:
        tran_ref = protocol.new_tran_ref(timezones.now())
        if not SimTransaction.objects.filter(tran_ref=tran_ref).exists():
            return tran_ref


def _insert_payment(**fields) -> SimTransaction:
    """A new sale of a cart, or Duplicate Request when the cart already has one (also when two race)."""
    if _duplicate(fields["profile_id"], fields["cart_id"]):
        raise protocol.Refusal(protocol.DUPLICATE)
    try:
        with transaction.atomic():
            return SimTransaction.objects.create(tran_ref=_new_tran_ref(), **fields)
    except IntegrityError:
        raise protocol.Refusal(protocol.DUPLICATE) from None


def _decide(tran: SimTransaction, status: str, *, now: dt.datetime) -> None:
    """Set the outcome's status, codes and time (the card fields are the caller's)."""
    tran.status = status
    if status == Status.AUTHORISED:
        tran.response_code, tran.response_message = protocol.approval_code(), "Authorised"
        tran.acquirer_rrn = protocol.new_rrn()
    else:
        tran.response_code, tran.response_message = protocol.OUTCOMES[status]
    tran.finished_at = now


def _owe_callback(tran: SimTransaction) -> SimDelivery | None:
    """Queue the callback of the transaction's present state (when the merchant gave a callback URL)."""
    from .tasks import deliver_callback

    if not tran.callback_url:
        return None
    tran = SimTransaction.objects.select_related("parent").get(pk=tran.pk)
    delivery = SimDelivery.objects.create(
        transaction=tran, url=tran.callback_url, body=protocol.encode(protocol.ipn_body(tran)).decode()
    )
    deliver_callback.defer(delivery_id=delivery.pk)
    return delivery


@transaction.atomic
def page_create(*, profile_id: int, request: protocol.PaymentRequest) -> SimTransaction:
    """A hosted payment page for a cart, open for ``PAYTABS_PAGE_MINUTES``."""
    now = timezones.now()
    return _insert_payment(
        profile_id=profile_id,
        cart_id=request.cart_id,
        tran_type=request.tran_type,
        tran_class="ecom",
        amount=request.amount,
        currency=request.currency,
        description=request.description,
        callback_url=request.callback_url,
        return_url=request.return_url,
        customer_details=request.customer_details,
        user_defined=request.user_defined,
        language=request.language,
        tokenise=request.tokenise,
        status=Status.PAGE,
        expires_at=now + dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES),
    )


@transaction.atomic
def page_choose(*, tran_ref: str, choice: str, card_number: str = "") -> SimTransaction:
    """Apply the payer's button once. A page already decided stays as it is (a double submit is harmless); a
    page whose time has passed expires instead."""
    tran = (
        SimTransaction.objects.select_for_update()
        .filter(tran_ref=tran_ref, tran_type__in=("sale", "auth"), tran_class="ecom")
        .first()
    )
    if tran is None:
        raise protocol.Refusal(protocol.NOT_FOUND, http_status=404)
    if tran.status != Status.PAGE:
        return tran
    now = timezones.now()
    status = CHOICES[choice]
    if tran.expires_at and tran.expires_at <= now:
        status = Status.EXPIRED
    if status in (Status.AUTHORISED, Status.DECLINED) and card_number:
        tran.card_scheme, tran.payment_description = protocol.card_of(card_number)
    _decide(tran, status, now=now)
    if status == Status.AUTHORISED and tran.tokenise:
        tran.token = protocol.new_token()
    tran.save()
    _owe_callback(tran)
    return tran


@transaction.atomic
def page_expire(*, transaction_id: int, now: dt.datetime | None = None) -> bool:
    """Expire one page whose time has passed with nobody choosing (and tell the merchant); false when it was
    decided meanwhile."""
    now = now or timezones.now()
    tran = SimTransaction.objects.select_for_update().filter(pk=transaction_id).first()
    if tran is None or tran.status != Status.PAGE or tran.expires_at is None or tran.expires_at > now:
        return False
    _decide(tran, Status.EXPIRED, now=now)
    tran.save()
    _owe_callback(tran)
    return True


def pages_expire(now: dt.datetime | None = None) -> int:
    """The sweep: expire every page whose time has passed; returns how many expired."""
    now = now or timezones.now()
    return sum(page_expire(transaction_id=pk, now=now) for pk in queries.pages_due(now))


def transaction_current(tran: SimTransaction) -> SimTransaction:
    """The transaction as a query must report it: a page whose time has passed is expired first."""
    if tran.status == Status.PAGE and tran.expires_at and tran.expires_at <= timezones.now():
        page_expire(transaction_id=tran.pk)
        return SimTransaction.objects.select_related("parent").get(pk=tran.pk)
    return tran


@transaction.atomic
def refund_request(*, profile_id: int, request: protocol.PaymentRequest) -> SimTransaction:
    """Refund (part of) an authorised sale of the profile, at most what its other refunds leave. Answered at
    once: approved, or pending when ``PAYTABS_SIMULATOR_REFUNDS`` is "pending" (then settled later)."""
    sale = (
        SimTransaction.objects.select_for_update()
        .filter(profile_id=profile_id, tran_ref=request.tran_ref, tran_type="sale")
        .first()
    )
    if sale is None:
        raise protocol.Refusal(protocol.NOT_FOUND)
    if sale.status != Status.AUTHORISED:
        raise protocol.Refusal(protocol.NOT_ALLOWED, "Only an authorised sale can be refunded")
    left = sale.amount - queries.refunded(sale)
    if request.amount > left:
        raise protocol.Refusal(
            protocol.NOT_ALLOWED,
            f"Refund amount exceeds what is left to refund ({protocol.format_amount(left)})",
        )
    now = timezones.now()
    refund = SimTransaction(
        tran_ref=_new_tran_ref(),
        profile_id=profile_id,
        cart_id=request.cart_id,
        tran_type="refund",
        tran_class="ecom",
        amount=request.amount,
        currency=sale.currency,
        description=request.description,
        callback_url=request.callback_url or sale.callback_url,
        customer_details=sale.customer_details,
        user_defined=request.user_defined,
        language=sale.language,
        card_scheme=sale.card_scheme,
        payment_description=sale.payment_description,
        parent=sale,
    )
    _decide(refund, Status.PENDING if _refunds_pending() else Status.AUTHORISED, now=now)
    refund.save()
    if refund.status == Status.AUTHORISED:
        _owe_callback(refund)
    return refund


@transaction.atomic
def refund_settle(*, tran_ref: str, status: str = Status.AUTHORISED) -> SimTransaction:
    """Settle a pending refund (approved ``A`` or declined ``D``) and send its callback. Settling it again to
    the same outcome changes nothing."""
    refund = SimTransaction.objects.select_for_update().filter(tran_ref=tran_ref, tran_type="refund").first()
    if refund is None:
        raise protocol.Refusal(protocol.NOT_FOUND, http_status=404)
    if refund.status == status:
        return refund
    if refund.status != Status.PENDING:
        raise protocol.Refusal(protocol.NOT_ALLOWED, "Only a pending refund can be settled", http_status=409)
    _decide(refund, status, now=timezones.now())
    refund.save()
    _owe_callback(refund)
    return refund


@transaction.atomic
def recurring_charge(*, profile_id: int, request: protocol.PaymentRequest) -> SimTransaction:
    """Charge a saved card again: approved when ``token`` is the one made by the first (tokenised, authorised)
    sale of the chain that ``tran_ref`` belongs to, declined otherwise. Answered at once, with a callback."""
    given = (
        SimTransaction.objects.select_related("parent")
        .filter(profile_id=profile_id, tran_ref=request.tran_ref)
        .exclude(tran_type="refund")
        .first()
    )
    first = given.parent if given is not None and given.tran_class == "recurring" else given
    approved = (
        first is not None
        and first.status == Status.AUTHORISED
        and bool(first.token)
        and hmac.compare_digest(first.token.encode(), request.token.encode())
    )
    tran = _insert_payment(
        profile_id=profile_id,
        cart_id=request.cart_id,
        tran_type=request.tran_type,
        tran_class="recurring",
        amount=request.amount,
        currency=request.currency,
        description=request.description,
        callback_url=request.callback_url,
        customer_details=request.customer_details or (first.customer_details if first else {}),
        user_defined=request.user_defined,
        token=request.token if approved else "",
        card_scheme=first.card_scheme if approved else "",
        payment_description=first.payment_description if approved else "",
        parent=first,
    )
    _decide(tran, Status.AUTHORISED if approved else Status.DECLINED, now=timezones.now())
    tran.save()
    _owe_callback(tran)
    return tran


def _delivery_attempt_start(delivery_id: int) -> SimDelivery | None:
    with transaction.atomic():
        delivery = SimDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery
        delivery.attempts += 1
        delivery.save(update_fields=["attempts", "updated_at"])
        return delivery


def deliver(delivery_id: int) -> str:
    """One attempt at a callback: POST the body with its ``Signature``; HTTP 200 delivers it, anything else
    (or no answer) tries again later with back-off, up to ``MAX_ATTEMPTS`` attempts. Returns the delivery's
    status (``pending``, ``delivered`` or ``failed``)."""
    from .tasks import deliver_callback

    delivery = _delivery_attempt_start(delivery_id)
    if delivery is None:
        return "missing"
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    raw = delivery.body.encode()
    status_code, error = None, ""
    try:
        with httpx.Client(transport=transport, timeout=settings.PAYTABS_TIMEOUT_SECONDS) as http:
            response = http.post(
                delivery.url,
                content=raw,
                headers={"Content-Type": "application/json", "Signature": sign(raw), "User-Agent": "IPN/1.0"},
            )
        status_code = response.status_code
        if status_code != 200:
            error = f"answered HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    now = timezones.now()
    with transaction.atomic():
        delivery = SimDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.last_status_code, delivery.last_error = status_code, error[:300]
        delivery.next_attempt_at = None
        if not error:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            logger.warning(
                "PayTabs simulator gave up a callback", extra={"url": delivery.url, "error": error}
            )
        else:
            wait = BACKOFF_SECONDS[min(delivery.attempts, len(BACKOFF_SECONDS)) - 1]
            delivery.next_attempt_at = now + dt.timedelta(seconds=wait)
            deliver_callback.configure(schedule_at=delivery.next_attempt_at).defer(delivery_id=delivery.pk)
        delivery.save()
    return delivery.status
