"""Online payments API (PAY-1): the patient's checkout through PayTabs' hosted page, PayTabs' callback, and the
clinic's refunds to the card.

The callback is the only thing that credits a payment (besides our own queries to PayTabs); it is anonymous and
authenticated by its signature."""

from __future__ import annotations

import logging
import uuid

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.errors import NotAuthenticated
from shifa.core.schemas import ERRORS

from . import actions, paytabs, queries
from .models import OnlinePayment

logger = logging.getLogger(__name__)
router = Router(tags=["payments"])
PAY = operation("billing.pay_own")
REFUND = operation("billing.refund_online")
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}


def payment_out(payment: OnlinePayment | None) -> dict:
    if payment is None:
        return {"id": None, "status": "nothing_due", "redirect_url": None}
    return {
        "id": str(payment.external_id),
        "kind": payment.kind,
        "invoice_id": str(payment.invoice.external_id),
        "cart_id": payment.cart_id,
        "transaction": payment.tran_ref or None,
        "amount": f"{payment.amount:.3f}",
        "currency": payment.invoice.currency,
        "status": payment.status,
        "message": payment.response_message or None,
        "redirect_url": payment.redirect_url or None if payment.status == "page" else None,
        "page_expires_at": timezones.isoformat_z(payment.page_expires_at)
        if payment.page_expires_at
        else None,
        "refund_due": payment.refund_due,
        "created_at": timezones.isoformat_z(payment.created_at),
    }


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


@router.post(
    "/me/appointments/{appointment_id}/checkout",
    response={**CREATED, 200: dict},
    operation_id="billing_checkout_appointment",
    summary="Pay for my (or my dependant's) appointment: a PayTabs payment page for what is due (the hold is "
    "kept while it is open; nothing due books the hold at once)",
    **PAY,
)
def checkout_appointment(request: HttpRequest, appointment_id: uuid.UUID):
    payment = actions.checkout_start(
        actor=request.actor, appointment_id=appointment_id, language=_language(request)
    )
    return Status(201 if payment else 200, payment_out(payment))


@router.post(
    "/me/invoices/{invoice_id}/checkout",
    response={**CREATED, 200: dict},
    operation_id="billing_checkout_invoice",
    summary="Pay what is due on my (or my dependant's) invoice: a PayTabs payment page",
    **PAY,
)
def checkout_invoice(request: HttpRequest, invoice_id: uuid.UUID):
    payment = actions.checkout_start(actor=request.actor, invoice_id=invoice_id, language=_language(request))
    return Status(201 if payment else 200, payment_out(payment))


@router.get(
    "/me/online-payments/{payment_id}",
    response=OK,
    operation_id="billing_my_online_payment",
    summary="One of my online payments: where it stands (the app polls it after the payment page)",
    **PAY,
)
def my_online_payment(request: HttpRequest, payment_id: uuid.UUID):
    return payment_out(queries.my_online_payment(actor=request.actor, payment_id=payment_id))


@router.post(
    "/payments/paytabs/callback",
    response={200: dict, **ERRORS},
    operation_id="billing_paytabs_callback",
    summary="PayTabs' server-to-server callback and IPN (header Signature: HMAC-SHA256 of the body with the "
    "server key); answered 200 once applied, so that PayTabs stops retrying",
    **operation(public=True, auth=None),
)
def paytabs_callback(request: HttpRequest):
    try:
        actions.paytabs_callback(raw=request.body, signature=request.headers.get("Signature"))
    except paytabs.BadSignature as exc:
        logger.warning("PayTabs callback refused: %s", exc)
        raise NotAuthenticated(code="bad_signature") from None
    return {"received": True}


class RefundIn(Schema):
    amount: str | None = Field(None, description="JOD, up to three decimals; all that is left when omitted")
    reason: str = Field("", max_length=200)


@router.get(
    "/clinics/{clinic_id}/online-payments",
    response=OK,
    operation_id="billing_clinic_online_payments",
    summary="The clinic's online payments and refunds, newest first (optionally of one invoice)",
    **REFUND,
)
def clinic_online_payments(request: HttpRequest, clinic_id: uuid.UUID, invoice_id: uuid.UUID | None = None):
    rows = queries.clinic_online_payments(actor=request.actor, invoice_id=invoice_id)
    return {"items": [payment_out(p) for p in rows]}


@router.post(
    "/clinics/{clinic_id}/online-payments/{payment_id}/refunds",
    response={**CREATED},
    operation_id="billing_refund_online",
    summary="Give back (part of) an online payment to the card; PayTabs may answer pending, and the refund is "
    "posted when it goes through",
    **REFUND,
)
def refund_online(request: HttpRequest, clinic_id: uuid.UUID, payment_id: uuid.UUID, payload: RefundIn):
    refund = actions.payment_refund(
        actor=request.actor, payment_id=payment_id, amount=payload.amount, reason=payload.reason
    )
    return Status(201, payment_out(refund))
