"""Path parameters and bodies of the online payment routes for the generated route tests (tests/routes.py):
the patient's checkout, their payment's status, the clinic's online payments and refunds to the card."""

from __future__ import annotations

from shifa.access.registry import RouteSpec


def _online_payment(t, spec: RouteSpec) -> str:
    """An online payment of the target clinic that PayTabs (the simulator, in-process) authorised: the caller's
    own on /me routes, else one of a patient in the clinic's care."""
    from shifa.billing import actions, paytabs
    from shifa.billing.models import OnlinePayment
    from shifa.records.models import Patient
    from shifa.simulators.paytabs import actions as simulator
    from tests.routes import _for_patient, _patient_in_care
    from tests.routes_billing import make_invoice

    patient = None
    if _for_patient(spec):
        patient = Patient.objects.filter(user=t.user).first() if t.user is not None else None
        patient = patient or Patient.objects.create(full_name="Paying patient")
    invoice = make_invoice(t.clinic, patient or _patient_in_care(t), charge="30.000", paid=None)
    payment = OnlinePayment.unscoped.create(
        clinic=t.clinic,
        invoice=invoice,
        cart_id=f"inv-{invoice.external_id.hex}-1",
        amount=invoice_due(invoice),
    )
    page = paytabs.client().create_page(
        cart_id=payment.cart_id,
        description="Consultation",
        amount=payment.amount,
        callback_url="https://example.invalid/callback",
        return_url="https://example.invalid/return",
        customer={"name": "Patient", "email": "patient@example.jo", "country": "JO"},
    )
    simulator.page_choose(tran_ref=page.tran_ref, choice="pay")
    actions.invoice_payment_result(paytabs.client().query(tran_ref=page.tran_ref))
    return str(payment.external_id)


def invoice_due(invoice):
    from shifa.billing.queries import invoice_totals

    return invoice_totals(invoice).due


PROVIDERS = {"payment_id": _online_payment}
NEEDS_ROUTE = {"payment_id"}
BODIES: dict = {
    ("POST", "/api/v1/clinics/{clinic_id}/online-payments/{payment_id}/refunds"): {"amount": "1.000"},
}
QUERIES: dict = {}
