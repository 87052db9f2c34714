"""Reads of the PayTabs simulator, and the signed callback of any transaction for tests of our own side."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum
from django.http import Http404

from shifa.billing.paytabs import sign
from shifa.core import timezones

from . import protocol
from .models import SimDelivery, SimTransaction, Status

#: Refunds that hold part of the sale's amount (a pending refund may still be approved).
REFUND_HOLDING = (Status.AUTHORISED, Status.PENDING)


def page_transaction(tran_ref: str) -> SimTransaction:
    """The transaction behind a hosted page (its unguessable ``tran_ref`` is the page's address); 404 else."""
    tran = SimTransaction.objects.filter(
        tran_ref=tran_ref, tran_type__in=("sale", "auth"), tran_class="ecom"
    ).first()
    if tran is None:
        raise Http404
    return tran


def page_state(tran: SimTransaction) -> str:
    """What the page shows: ``open`` (buttons), ``expired`` (its time passed, swept or not), or its outcome."""
    if tran.status == Status.PAGE:
        return "expired" if tran.expires_at and tran.expires_at <= timezones.now() else "open"
    return {"A": "approved", "D": "declined", "C": "cancelled", "X": "expired"}.get(tran.status, "finished")


def transaction_find(*, profile_id: int, tran_ref: str = "", cart_id: str = "") -> SimTransaction | None:
    """A transaction of the profile by its reference, or the payment (sale or auth) of a cart; failing that the
    cart's latest transaction (a refund's)."""
    found = SimTransaction.objects.select_related("parent").filter(profile_id=profile_id)
    if tran_ref:
        return found.filter(tran_ref=tran_ref).first()
    if not cart_id:
        return None
    return (
        found.filter(cart_id=cart_id, tran_type__in=("sale", "auth")).first()
        or found.filter(cart_id=cart_id).order_by("-created_at", "-pk").first()
    )


def refunded(sale: SimTransaction) -> Decimal:
    """How much of a sale its approved and pending refunds take."""
    total = sale.children.filter(tran_type="refund", status__in=REFUND_HOLDING).aggregate(total=Sum("amount"))
    return total["total"] or Decimal("0.000")


def pages_due(now=None) -> list[int]:
    """Ids of the pages whose time has passed with nobody choosing."""
    return list(
        SimTransaction.objects.filter(status=Status.PAGE, expires_at__lte=now or timezones.now())
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )


def deliveries_of(tran_ref: str) -> list[SimDelivery]:
    return list(SimDelivery.objects.filter(transaction__tran_ref=tran_ref).order_by("created_at", "pk"))


def signed_callback(tran_ref: str, *, key: str | None = None, **changes) -> tuple[bytes, str]:
    """A test helper for our own side: the callback body PayTabs would send for ``tran_ref`` now, and its
    ``Signature`` header. ``changes`` overwrite top-level fields (``cart_amount="1.000"``) or, for
    ``response_status``/``response_code``/``response_message``, fields of ``payment_result``; ``key`` signs with
    another key (a forged callback)."""
    tran = SimTransaction.objects.select_related("parent").get(tran_ref=tran_ref)
    body = protocol.ipn_body(tran)
    result = dict(body["payment_result"])
    for name, value in changes.items():
        if name in result or name in {"response_status", "response_code", "response_message"}:
            result[name] = value
        else:
            body[name] = value
    body["payment_result"] = result
    raw = protocol.encode(body)
    return raw, sign(raw, key)
