"""Writes of billing: opening an invoice with its charges, and posting an entry to its ledger (PAY-1, PAY-4).

Every write takes the invoice's row lock, so that two payments at the same moment cannot both pass the check
against what is due."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, NotFound, ValidationFailed

from . import ledger
from .models import EntryKind, Invoice, InvoiceCounter, LedgerEntry, Method

#: The largest single amount (JOD) an entry may carry.
MAX_AMOUNT = Decimal("100000.000")
MAX_LINES = 50

REFUSALS = {
    "exceeds_patient_share": lambda: _("This is more than the patient's share of the invoice."),
    "exceeds_due": lambda: _("This is more than what is due on the invoice."),
    "exceeds_paid": lambda: _("This is more than what was paid on the invoice."),
}


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, code, message)])


def _amount(field: str, value) -> Decimal:
    """A positive JOD amount with at most three decimals (a string or a Decimal; never a float)."""
    if isinstance(value, float | bool) or value is None:
        raise _invalid(field, "invalid", _("Enter an amount such as 12.500."))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _invalid(field, "invalid", _("Enter an amount such as 12.500.")) from None
    if not amount.is_finite() or amount <= 0:
        raise _invalid(field, "not_positive", _("Enter an amount above zero."))
    if amount != amount.quantize(Decimal("0.001")):
        raise _invalid(field, "too_precise", _("Use at most three decimals (fils)."))
    if amount > MAX_AMOUNT:
        raise _invalid(field, "too_large", _("Enter an amount of at most 100,000 JOD."))
    return amount.quantize(Decimal("0.001"))


def _text(field: str, value, limit: int) -> str:
    if value is not None and not isinstance(value, str):
        raise _invalid(field, "invalid", _("Enter text."))
    value = (value or "").strip()
    if len(value) > limit or "\x00" in value:
        raise _invalid(field, "too_long", _("Write at most %(limit)d characters.") % {"limit": limit})
    return value


def _next_number(clinic) -> str:
    year = timezones.to_local(timezones.now(), clinic.time_zone).year
    counter = InvoiceCounter.objects.for_clinic(clinic).select_for_update().filter(year=year).first()
    if counter is None:
        try:
            with transaction.atomic():
                counter = InvoiceCounter.unscoped.create(clinic=clinic, year=year)
        except IntegrityError:
            counter = InvoiceCounter.objects.for_clinic(clinic).select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last", "updated_at"])
    return f"{year}-{counter.last:06d}"


def invoice_open(*, actor, patient_id, lines: list[dict], appointment_id=None) -> Invoice:
    """An invoice of the acting clinic for one of its patients, with its charges ({description, amount})."""
    from shifa.records.policies import clinic_patients
    from shifa.scheduling.models import Appointment

    clinic = actor.require_clinic()
    if not isinstance(lines, list) or not lines:
        raise _invalid("lines", "required", _("Add at least one charge."))
    if len(lines) > MAX_LINES:
        raise _invalid("lines", "too_many", _("Add at most 50 charges."))
    errors: list[FieldError] = []
    clean: list[tuple[str, Decimal]] = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            errors.append(FieldError(f"lines.{index}", "invalid", _("Describe each charge and its amount.")))
            continue
        try:
            description = _text(f"lines.{index}.description", line.get("description"), 200)
            if not description:
                raise _invalid(f"lines.{index}.description", "required", _("Describe the charge."))
            clean.append((description, _amount(f"lines.{index}.amount", line.get("amount"))))
        except ValidationFailed as failed:
            errors.extend(failed.errors)
    try:
        patient = clinic_patients(clinic.pk).filter(external_id=uuid.UUID(str(patient_id))).first()
    except ValueError:
        patient = None
    if patient is None:
        errors.append(FieldError("patient_id", "unknown", _("Choose a patient of this clinic.")))
    appointment = None
    if appointment_id is not None and patient is not None:
        try:
            appointment = (
                Appointment.objects.for_clinic(clinic)
                .filter(external_id=uuid.UUID(str(appointment_id)), patient=patient)
                .first()
            )
        except ValueError:
            appointment = None
        if appointment is None:
            errors.append(
                FieldError("appointment_id", "unknown", _("Choose an appointment of this patient."))
            )
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        invoice = Invoice.unscoped.create(
            clinic=clinic,
            patient=patient,
            appointment=appointment,
            number=_next_number(clinic),
            issued_by=actor.user,
        )
        LedgerEntry.unscoped.bulk_create(
            [
                LedgerEntry(
                    clinic=clinic,
                    invoice=invoice,
                    kind=EntryKind.CHARGE,
                    amount=amount,
                    description=description,
                    recorded_by=actor.user,
                )
                for description, amount in clean
            ]
        )
        return invoice


def entry_post(
    *, actor, invoice_id, kind: str, amount, method: str = "", reference: str = "", description: str = ""
) -> tuple[LedgerEntry, bool]:
    """Post one entry to an invoice of the acting clinic. Returns the entry and whether it is new: the same
    ``reference`` again (a gateway's retried callback, a double click) gives the first entry back."""
    clinic = actor.require_clinic()
    if kind not in EntryKind.values:
        raise _invalid("kind", "invalid_choice", _("Choose one of the values offered."))
    amount = _amount("amount", amount)
    reference = _text("reference", reference, 100)
    description = _text("description", description, 200)
    method = method or ""
    payment = kind in (EntryKind.PAYMENT, EntryKind.REFUND)
    if payment and method not in (Method.CASH, Method.CARD, Method.ONLINE):
        raise _invalid("method", "required", _("Say how the money was paid: cash, card or online."))
    if not payment and method:
        raise _invalid("method", "not_a_payment", _("Only payments and refunds have a method."))
    try:
        external_id = uuid.UUID(str(invoice_id))
    except ValueError:
        raise NotFound() from None
    with transaction.atomic():
        invoice = (
            Invoice.objects.for_clinic(clinic).select_for_update().filter(external_id=external_id).first()
        )
        if invoice is None:
            raise NotFound()
        if reference:
            existing = LedgerEntry.objects.for_clinic(clinic).filter(reference=reference).first()
            if existing is not None:
                if (existing.invoice_id, existing.kind, existing.amount) != (invoice.pk, kind, amount):
                    raise Conflict(
                        _("This reference was already used for another entry."), code="reference_used"
                    )
                return existing, False
        current = ledger.totals(
            LedgerEntry.objects.for_clinic(clinic).filter(invoice=invoice).values_list("kind", "amount")
        )
        refused = ledger.refusal(current, kind, amount)
        if refused is not None:
            raise Conflict(REFUSALS[refused](), code=refused)
        entry = LedgerEntry.unscoped.create(
            clinic=clinic,
            invoice=invoice,
            kind=kind,
            amount=amount,
            method=method,
            reference=reference,
            description=description,
            recorded_by=actor.user,
        )
        return entry, True
