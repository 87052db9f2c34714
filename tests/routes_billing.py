"""Path parameters, bodies and query strings of the billing routes for the generated route tests (tests/routes.py):
the desk's invoices, payments, refunds, discounts and receipts, the patient's invoices, the platform's revenue."""

from __future__ import annotations

import uuid
from decimal import Decimal

from shifa.access.registry import RouteSpec


def make_invoice(clinic, patient, *, charge: str = "50.000", paid: str | None = "10.000", issued_by=None):
    """An invoice of ``clinic`` for ``patient`` charging ``charge``, with a cash payment of ``paid``: something
    left to pay, to discount and to refund, and a receipt to print."""
    from shifa.billing.models import Invoice, LedgerEntry
    from tests.routes import _bookable

    issuer = issued_by or _bookable(clinic)
    invoice = Invoice.unscoped.create(
        clinic=clinic, patient=patient, number=f"T-{uuid.uuid4().hex[:12]}", issued_by=issuer
    )
    LedgerEntry.unscoped.create(
        clinic=clinic, invoice=invoice, kind="charge", amount=Decimal(charge), description="Consultation"
    )
    if paid:
        LedgerEntry.unscoped.create(
            clinic=clinic,
            invoice=invoice,
            kind="payment",
            method="cash",
            amount=Decimal(paid),
            recorded_by=issuer,
        )
    return invoice


def _invoice(t, spec: RouteSpec) -> str:
    """An invoice of the target clinic with something due: the caller's own (as a patient) on /me and /app routes,
    else one of a patient in the clinic's care."""
    from shifa.records.models import Patient
    from tests.routes import _for_patient, _patient_in_care

    patient = None
    if _for_patient(spec):
        patient = Patient.objects.filter(user=t.user).first() if t.user is not None else None
        patient = patient or Patient.objects.create(full_name="Billed patient")
    invoice = make_invoice(t.clinic, patient or _patient_in_care(t))
    t.billing_invoice = invoice
    return str(invoice.external_id)


def _receipt(t) -> str:
    """The payment on the invoice filled in the path just before."""
    from shifa.billing.models import LedgerEntry

    invoice = getattr(t, "billing_invoice", None)
    entry = LedgerEntry.unscoped.filter(invoice=invoice, kind="payment").first() if invoice else None
    return str(entry.external_id) if entry else str(uuid.uuid4())


def _open_body(user) -> dict:
    from tests.routes import Target, _clinic_of, _patient_in_care

    patient = _patient_in_care(Target(_clinic_of(user), None))
    return {"patient_id": str(patient.external_id), "lines": [{"description": "Dressing", "amount": "7.500"}]}


def priced_appointment(clinic) -> str:
    """A booked appointment of ``clinic`` (a new one each time) at 20 JOD."""
    from shifa.scheduling.models import Appointment
    from tests.routes import Target, _appointment

    spec = RouteSpec("POST", "/api/v1/clinics/{clinic_id}/invoices/for-appointment", "", "api", None, False)
    appointment_id = _appointment(Target(clinic, None), spec)
    Appointment.unscoped.filter(external_id=appointment_id).update(price=Decimal("20.000"))
    return appointment_id


def _for_appointment_body(user) -> dict:
    from tests.routes import _clinic_of

    return {"appointment_id": priced_appointment(_clinic_of(user))}


def _token() -> str:
    return uuid.uuid4().hex


PROVIDERS = {"invoice_id": _invoice, "receipt_id": lambda t: _receipt(t)}
NEEDS_ROUTE = {"invoice_id"}

_CLINIC = "/api/v1/clinics/{clinic_id}/invoices"
_DESK = "/clinic/{clinic_id}/billing"
BODIES: dict = {
    ("POST", _CLINIC): _open_body,
    ("POST", f"{_CLINIC}/for-appointment"): _for_appointment_body,
    ("POST", f"{_CLINIC}/{{invoice_id}}/payments"): {"amount": "1.000", "method": "cash"},
    ("POST", f"{_CLINIC}/{{invoice_id}}/refunds"): {
        "amount": "1.000",
        "method": "cash",
        "note": "Overcharged",
    },
    ("POST", f"{_CLINIC}/{{invoice_id}}/discounts"): {"amount": "1.000", "note": "Long-standing patient"},
    ("POST", f"{_DESK}/for-appointment"): _for_appointment_body,
    ("POST", f"{_DESK}/{{invoice_id}}/payment"): lambda user: {
        "pay-amount": "1.000",
        "pay-method": "cash",
        "pay-note": "",
        "pay-token": _token(),
    },
    ("POST", f"{_DESK}/{{invoice_id}}/adjust"): lambda user: {
        "step": "discount",
        "discount-amount": "1.000",
        "discount-note": "Long-standing patient",
        "discount-token": _token(),
    },
}
QUERIES: dict = {}
