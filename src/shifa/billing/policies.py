"""Who sees which invoices (PAY-1): a clinic its own; a patient theirs and their dependants', at every clinic.
The platform sees only sums (``queries.revenue_by_clinic_month``), never a patient's invoice."""

from __future__ import annotations

from django.db.models import QuerySet

from shifa.access.policies import Actor, has_permission

from . import ledger
from .models import Invoice


def clinic_invoices(actor: Actor) -> QuerySet[Invoice]:
    """The acting clinic's invoices."""
    return Invoice.objects.for_clinic(actor.require_clinic())


def own_invoices(actor: Actor) -> QuerySet[Invoice]:
    """The signed-in patient's invoices and their dependants', at any clinic."""
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        return Invoice.unscoped.none()
    return Invoice.unscoped.filter(patient__in=patients_of_user(actor.user))


def may(actor: Actor, permission: str) -> bool:
    """Whether the actor holds ``permission`` in the acting clinic (to show only the buttons that will work)."""
    return has_permission(actor.roles, permission, actor.clinic)


def can_pay_online(actor: Actor, invoice: Invoice, totals: ledger.Totals) -> bool:
    """Something is due and the invoice is the signed-in patient's own or a dependant's."""
    from shifa.records.policies import patients_of_user

    if actor.user is None or totals.due <= 0:
        return False
    return patients_of_user(actor.user).filter(pk=invoice.patient_id).exists()
