"""Reads of billing: an invoice with what its ledger adds up to."""

from __future__ import annotations

from decimal import Decimal

from shifa.core.errors import NotFound

from . import ledger
from .models import Invoice, LedgerEntry


def invoice_totals(invoice: Invoice) -> ledger.Totals:
    return ledger.totals(LedgerEntry.unscoped.filter(invoice=invoice).values_list("kind", "amount"))


def clinic_invoice(*, actor, invoice_id) -> tuple[Invoice, list[LedgerEntry], ledger.Totals]:
    invoice = Invoice.objects.for_clinic(actor.require_clinic()).filter(external_id=invoice_id).first()
    if invoice is None:
        raise NotFound()
    entries = list(LedgerEntry.unscoped.filter(invoice=invoice).order_by("id"))
    return invoice, entries, ledger.totals((e.kind, e.amount) for e in entries)


def my_online_payment(*, actor, payment_id):
    """One of the acting patient's (or their dependants') online payments; anyone else's is not found."""
    from shifa.records.policies import patients_of_user

    from .models import OnlinePayment

    payment = (
        OnlinePayment.unscoped.select_related("invoice")
        .filter(external_id=payment_id, invoice__patient__in=patients_of_user(actor.user))
        .first()
    )
    if payment is None:
        raise NotFound()
    return payment


def clinic_online_payments(*, actor, invoice_id=None, limit: int = 200):
    from .models import OnlinePayment

    rows = OnlinePayment.objects.for_clinic(actor.require_clinic()).select_related("invoice")
    if invoice_id is not None:
        rows = rows.filter(invoice__external_id=invoice_id)
    return list(rows.order_by("-pk")[:limit])


def appointment_invoice(appointment) -> Invoice | None:
    """The invoice of an appointment, or of the one it was moved from (a moved visit keeps its invoice and what
    was paid on it)."""
    current, hops = appointment, 0
    while current is not None and hops < 50:
        invoice = Invoice.unscoped.filter(clinic_id=current.clinic_id, appointment_id=current.pk).first()
        if invoice is not None:
            return invoice
        current, hops = current.rescheduled_from, hops + 1
    return None


def invoice_appointment(invoice: Invoice):
    """The appointment an invoice pays for now: its own, or where that visit was moved to."""
    from shifa.scheduling.models import Appointment

    current = invoice.appointment
    for _hop in range(50):
        if current is None:
            return None
        moved = Appointment.unscoped.filter(rescheduled_from=current).first()
        if moved is None:
            return current
        current = moved
    return current


def appointment_due(appointment) -> Decimal | None:
    """What the patient still owes for an appointment: its invoice's due amount, or before there is one the
    estimate of their share (``None``: the visit has no price)."""
    invoice = appointment_invoice(appointment)
    if invoice is not None:
        return invoice_totals(invoice).due
    if appointment.price is None:
        return None
    from shifa.directory.queries import estimate

    quote = estimate(
        clinic=appointment.clinic,
        doctor=appointment.doctor,
        visit_type=appointment.visit_type,
        service=appointment.service,
        insurer_code=appointment.insurer.code if appointment.insurer_id else None,
    )
    return quote["patient_pays"] if quote["amount"] is not None else appointment.price


# --- The desk, the patient's invoices, the platform's revenue (PAY-1) -------------------------------------------

#: Entries that are money changing hands, each with its receipt.
RECEIPT_KINDS = ("payment", "refund")
#: The invoice lists' filters: what is still due, settled, or owed back to the patient.
INVOICE_STATUSES = ("all", "open", "paid", "refund_due")


def with_totals(invoices):
    """Invoices with their ledger's sums (``sum_charged`` … ``sum_refunded``) and ``sum_due``, in the same query."""
    from django.db.models import DecimalField, F, Q, Sum, Value
    from django.db.models.functions import Coalesce

    money = DecimalField(max_digits=14, decimal_places=3)

    def total(kind: str):
        return Coalesce(
            Sum("entries__amount", filter=Q(entries__kind=kind)), Value(Decimal("0.000")), output_field=money
        )

    return invoices.annotate(
        sum_charged=total("charge"),
        sum_discounted=total("discount"),
        sum_insurer=total("insurer_share"),
        sum_paid=total("payment"),
        sum_refunded=total("refund"),
    ).annotate(
        sum_due=F("sum_charged") - F("sum_discounted") - F("sum_insurer") - F("sum_paid") + F("sum_refunded")
    )


def row_totals(invoice) -> ledger.Totals:
    """The totals of an invoice read through ``with_totals``."""
    return ledger.Totals(
        charged=invoice.sum_charged,
        discounted=invoice.sum_discounted,
        insurer=invoice.sum_insurer,
        paid=invoice.sum_paid,
        refunded=invoice.sum_refunded,
    )


def invoice_status(totals: ledger.Totals) -> str:
    if totals.due > 0:
        return "open"
    return "refund_due" if totals.due < 0 else "paid"


def _by_status(invoices, status: str):
    from django.utils.translation import gettext as _

    from shifa.core.errors import FieldError, ValidationFailed

    if status not in INVOICE_STATUSES:
        raise ValidationFailed(
            errors=[FieldError("status", "invalid_choice", _("Choose one of: all, open, paid, refund_due."))]
        )
    if status == "open":
        return invoices.filter(sum_due__gt=0)
    if status == "paid":
        return invoices.filter(sum_due=0)
    if status == "refund_due":
        return invoices.filter(sum_due__lt=0)
    return invoices


def _detail(invoice: Invoice) -> tuple[Invoice, list[LedgerEntry], ledger.Totals]:
    entries = list(LedgerEntry.unscoped.filter(invoice=invoice).select_related("recorded_by").order_by("id"))
    return invoice, entries, ledger.totals((e.kind, e.amount) for e in entries)


def desk_invoice_list(
    *,
    actor,
    status: str = "all",
    patient_id=None,
    since=None,
    until=None,
    cursor: str | None = None,
    limit: int = 50,
):
    """The acting clinic's invoices with their totals, newest first: by status, for one patient, issued between
    two local days of the clinic (both included)."""
    import datetime as dt

    from shifa.core import timezones
    from shifa.core.pagination import paginate

    from .policies import clinic_invoices

    clinic = actor.require_clinic()
    invoices = with_totals(clinic_invoices(actor).select_related("clinic", "patient", "appointment"))
    if patient_id is not None:
        invoices = invoices.filter(patient__external_id=patient_id)
    if since is not None:
        invoices = invoices.filter(
            created_at__gte=timezones.local_datetime(since, dt.time(), clinic.time_zone)
        )
    if until is not None:
        end = timezones.local_datetime(until + dt.timedelta(days=1), dt.time(), clinic.time_zone)
        invoices = invoices.filter(created_at__lt=end)
    return paginate(_by_status(invoices, status), cursor=cursor, limit=limit, newest_first=True)


def desk_invoice(*, actor, invoice_id) -> tuple[Invoice, list[LedgerEntry], ledger.Totals]:
    """One invoice of the acting clinic with its entries (who recorded each) and totals; 404 for any other."""
    from .policies import clinic_invoices

    invoice = (
        clinic_invoices(actor)
        .select_related("clinic", "clinic__institution", "patient", "appointment", "issued_by")
        .filter(external_id=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound()
    return _detail(invoice)


def my_invoice_list(*, actor, status: str = "all", cursor: str | None = None, limit: int = 50):
    """The signed-in patient's and their dependants' invoices at every clinic, with totals, newest first."""
    from shifa.core.pagination import paginate

    from .policies import own_invoices

    invoices = with_totals(own_invoices(actor).select_related("clinic", "patient", "appointment"))
    return paginate(_by_status(invoices, status), cursor=cursor, limit=limit, newest_first=True)


def my_invoice(*, actor, invoice_id) -> tuple[Invoice, list[LedgerEntry], ledger.Totals]:
    """One of the signed-in patient's (or their dependants') invoices; anyone else's is not found."""
    from .policies import own_invoices

    invoice = (
        own_invoices(actor)
        .select_related("clinic", "clinic__institution", "patient", "appointment", "issued_by")
        .filter(external_id=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound()
    return _detail(invoice)


def receipt_entry(entries: list[LedgerEntry], receipt_id) -> LedgerEntry:
    """The payment or refund among an invoice's entries that a receipt is for (404 for anything else)."""
    found = next((e for e in entries if str(e.external_id) == str(receipt_id)), None)
    if found is None or found.kind not in RECEIPT_KINDS:
        raise NotFound()
    return found


def receipt_number(invoice: Invoice, entries: list[LedgerEntry], entry: LedgerEntry) -> str:
    """``<invoice number>-<n>``: the n-th payment or refund on the invoice (stable: entries are never removed)."""
    position = [e.pk for e in entries if e.kind in RECEIPT_KINDS].index(entry.pk) + 1
    return f"{invoice.number}-{position:02d}"


def revenue_by_clinic_month(*, since=None, until=None) -> list[dict]:
    """Every clinic's money by month of its own calendar (its time zone): charged, discounts, insurers' shares,
    paid, refunded, and what patients still owed at the month's end. Two grouped queries (the months asked for,
    and what was owed before them), whatever the number of clinics. ``since``/``until``: first days of months."""
    from django.conf import settings
    from django.db.models import DateField, DecimalField, F, Func, Q, Sum, Value
    from django.db.models.functions import Coalesce, NullIf

    from shifa.tenancy.models import Clinic

    money = DecimalField(max_digits=16, decimal_places=3)
    zone = Coalesce(NullIf(F("clinic__time_zone"), Value("")), Value(settings.SHIFA_DEFAULT_CLINIC_ZONE))
    month = Func(
        F("created_at"),
        zone,
        template="(date_trunc('month', %(expressions)s))::date",
        arg_joiner=" AT TIME ZONE ",
        output_field=DateField(),
    )
    sums = {
        name: Coalesce(Sum("amount", filter=Q(kind=kind)), Value(Decimal("0.000")), output_field=money)
        for kind, name in ledger.FIELDS.items()
    }
    entries = LedgerEntry.unscoped.annotate(month=month)
    shown = entries
    if since is not None:
        shown = shown.filter(month__gte=since)
    if until is not None:
        shown = shown.filter(month__lte=until)
    rows = list(shown.values("clinic_id", "month").annotate(**sums).order_by("clinic_id", "month"))
    opening: dict[int, Decimal] = {}
    if since is not None:
        for row in entries.filter(month__lt=since).values("clinic_id").annotate(**sums).order_by("clinic_id"):
            opening[row["clinic_id"]] = _owed(row)
    clinics = Clinic.objects.in_bulk({row["clinic_id"] for row in rows})
    owed = dict(opening)
    for row in rows:
        owed[row["clinic_id"]] = owed.get(row["clinic_id"], Decimal("0.000")) + _owed(row)
        row["clinic"] = clinics[row["clinic_id"]]
        row["net_paid"] = row["paid"] - row["refunded"]
        row["outstanding"] = owed[row["clinic_id"]]
    return rows


def _owed(sums: dict) -> Decimal:
    return sums["charged"] - sums["discounted"] - sums["insurer"] - sums["paid"] + sums["refunded"]
