"""Writes of billing: opening an invoice with its charges, and posting an entry to its ledger (PAY-1, PAY-4).

Every write takes the invoice's row lock, so that two payments at the same moment cannot both pass the check
against what is due."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, NotFound, ServiceUnavailable, ValidationFailed

from . import ledger
from .models import (
    PAYMENT_FINAL,
    EntryKind,
    Invoice,
    InvoiceCounter,
    LedgerEntry,
    Method,
    OnlinePayment,
    PaymentKind,
    PaymentStatus,
)

logger = logging.getLogger(__name__)

#: The largest single amount (JOD) an entry may carry.
MAX_AMOUNT = Decimal("100000.000")
MAX_LINES = 50

REFUSALS = {
    "exceeds_patient_share": lambda: _("This is more than the patient's share of the invoice."),
    "exceeds_due": lambda: _("This is more than what is due on the invoice."),
    "exceeds_paid": lambda: _("This is more than what was paid on the invoice."),
}


def _amount(field: str, value) -> Decimal:
    """A positive JOD amount with at most three decimals (a string or a Decimal; never a float)."""
    if isinstance(value, float | bool) or value is None:
        raise ValidationFailed.on(field, "invalid", _("Enter an amount such as 12.500."))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on(field, "invalid", _("Enter an amount such as 12.500.")) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed.on(field, "not_positive", _("Enter an amount above zero."))
    if amount != amount.quantize(Decimal("0.001")):
        raise ValidationFailed.on(field, "too_precise", _("Use at most three decimals (fils)."))
    if amount > MAX_AMOUNT:
        raise ValidationFailed.on(field, "too_large", _("Enter an amount of at most 100,000 JOD."))
    return amount.quantize(Decimal("0.001"))


def _text(field: str, value, limit: int) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(field, "invalid", _("Enter text."))
    value = (value or "").strip()
    if len(value) > limit or "\x00" in value:
        raise ValidationFailed.on(
            field, "too_long", _("Write at most %(limit)d characters.") % {"limit": limit}
        )
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
        raise ValidationFailed.on("lines", "required", _("Add at least one charge."))
    if len(lines) > MAX_LINES:
        raise ValidationFailed.on("lines", "too_many", _("Add at most 50 charges."))
    errors: list[FieldError] = []
    clean: list[tuple[str, Decimal]] = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            errors.append(FieldError(f"lines.{index}", "invalid", _("Describe each charge and its amount.")))
            continue
        try:
            description = _text(f"lines.{index}.description", line.get("description"), 200)
            if not description:
                raise ValidationFailed.on(f"lines.{index}.description", "required", _("Describe the charge."))
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
    return _create_invoice(clinic, patient, appointment, clean, actor.user)


def _create_invoice(clinic, patient, appointment, lines: list[tuple[str, Decimal]], user) -> Invoice:
    with transaction.atomic():
        invoice = Invoice.unscoped.create(
            clinic=clinic,
            patient=patient,
            appointment=appointment,
            number=_next_number(clinic),
            issued_by=user,
        )
        LedgerEntry.unscoped.bulk_create(
            [
                LedgerEntry(
                    clinic=clinic,
                    invoice=invoice,
                    kind=EntryKind.CHARGE,
                    amount=amount,
                    description=description,
                    recorded_by=user,
                )
                for description, amount in lines
            ]
        )
        return invoice


def invoice_for_appointment(*, appointment, user, price: Decimal | None = None) -> Invoice | None:
    """The appointment's invoice: the one it has (or the one of the visit it was moved from), or a new one
    charging its price, split with the patient's insurer by the clinic's terms and, for a video visit the
    patient's plan includes, paid by the plan (``None`` when it has no price). One per appointment, however
    many ask at once (the appointment's row lock serializes them). ``price`` charges a visit booked without one.
    """
    from shifa.access.policies import Actor
    from shifa.insurance.actions import apply_coverage
    from shifa.scheduling.models import Appointment
    from shifa.subscriptions.actions import use_included_video_visit

    from .queries import appointment_invoice

    with transaction.atomic():
        appointment = (
            Appointment.unscoped.select_for_update(of=("self",))
            .select_related("clinic", "service", "patient")
            .get(pk=appointment.pk)
        )
        existing = appointment_invoice(appointment)
        amount = appointment.price if appointment.price is not None else price
        if existing is not None or amount is None:
            return existing
        clinic = appointment.clinic
        description = _charge_description(appointment)
        invoice = _create_invoice(clinic, appointment.patient, appointment, [(description, amount)], user)
        apply_coverage(actor=Actor(user=user), invoice=invoice)
        due = _totals(invoice).due
        if (
            appointment.visit_type == "video"
            and due > 0
            and use_included_video_visit(patient=appointment.patient, appointment=appointment)
        ):
            post(
                clinic=clinic,
                invoice_id=invoice.external_id,
                kind=EntryKind.PAYMENT,
                amount=due,
                method=Method.PLAN,
                reference=f"plan-{appointment.external_id.hex}",
                description="Included in the patient's Shifa plan",
                user=user,
            )
        return invoice


def appointment_cancelled(*, appointment, user) -> None:
    """A cancelled visit costs the patient nothing: what they still owed is waived, a video visit their plan
    included goes back to the plan, and what they paid by card goes back to the card (cash paid at the desk
    shows as owed to them, for the desk to give back)."""
    from shifa.subscriptions.actions import return_included_video_visit

    from .queries import appointment_invoice

    invoice = appointment_invoice(appointment)
    if invoice is None:
        return
    with transaction.atomic():
        invoice = Invoice.unscoped.select_for_update(of=("self",)).select_related("clinic").get(pk=invoice.pk)
        entries = list(LedgerEntry.unscoped.filter(invoice=invoice).values_list("kind", "amount", "method"))
        plan = sum(
            (a for k, a, m in entries if m == Method.PLAN and k == EntryKind.PAYMENT), Decimal(0)
        ) - sum((a for k, a, m in entries if m == Method.PLAN and k == EntryKind.REFUND), Decimal(0))
        key = invoice.external_id.hex
        if plan > 0:
            post(
                clinic=invoice.clinic,
                invoice_id=invoice.external_id,
                kind=EntryKind.REFUND,
                amount=plan,
                method=Method.PLAN,
                reference=f"plan-back-{key}",
                description="Given back to the patient's Shifa plan",
                user=user,
            )
            return_included_video_visit(invoice.appointment)
        share = _totals(invoice).patient_share
        if share > 0:
            post(
                clinic=invoice.clinic,
                invoice_id=invoice.external_id,
                kind=EntryKind.DISCOUNT,
                amount=share,
                method="",
                reference=f"cancelled-{key}",
                description="Visit cancelled",
                user=user,
            )
        for payment in OnlinePayment.unscoped.filter(
            invoice=invoice,
            kind=PaymentKind.PAYMENT,
            status=PaymentStatus.AUTHORISED,
            entry__isnull=False,
            refund_due=False,
        ):
            _refund_later(payment)


def _charge_description(appointment) -> str:
    from django.utils import translation

    with translation.override("en"):  # the books keep one language
        kind = appointment.get_visit_type_display()
    service = appointment.service.name_en if appointment.service_id else ""
    when = timezones.to_local(appointment.starts_at, appointment.clinic.time_zone)
    return f"{kind}{' — ' + service if service else ''} ({when:%Y-%m-%d %H:%M})"[:200]


def entry_post(
    *, actor, invoice_id, kind: str, amount, method: str = "", reference: str = "", description: str = ""
) -> tuple[LedgerEntry, bool]:
    """Post one entry to an invoice of the acting clinic. Returns the entry and whether it is new: the same
    ``reference`` again (a gateway's retried callback, a double click) gives the first entry back."""
    clinic = actor.require_clinic()
    if kind not in EntryKind.values:
        raise ValidationFailed.on("kind", "invalid_choice", _("Choose one of the values offered."))
    amount = _amount("amount", amount)
    reference = _text("reference", reference, 100)
    description = _text("description", description, 200)
    method = method or ""
    payment = kind in (EntryKind.PAYMENT, EntryKind.REFUND)
    if payment and method not in (Method.CASH, Method.CARD, Method.ONLINE):
        raise ValidationFailed.on(
            "method", "required", _("Say how the money was paid: cash, card or online.")
        )
    if not payment and method:
        raise ValidationFailed.on("method", "not_a_payment", _("Only payments and refunds have a method."))
    try:
        external_id = uuid.UUID(str(invoice_id))
    except ValueError:
        raise NotFound() from None
    return post(
        clinic=clinic,
        invoice_id=external_id,
        kind=kind,
        amount=amount,
        method=method,
        reference=reference,
        description=description,
        user=actor.user,
    )


def post(
    *, clinic, invoice_id, kind: str, amount: Decimal, method: str, reference: str, description: str, user
) -> tuple[LedgerEntry, bool]:
    """Post a checked entry to a clinic's invoice (by its external id) under the invoice's row lock: the one
    path every payment, refund, discount and insurer's share takes, from the desk or from a gateway."""
    with transaction.atomic():
        invoice = (
            Invoice.objects.for_clinic(clinic).select_for_update().filter(external_id=invoice_id).first()
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
            recorded_by=user,
        )
        return entry, True


# --- Online payments (PayTabs) -------------------------------------------------------------------------------


def _payable_invoice(actor, *, invoice_id=None, appointment_id=None) -> Invoice:
    """The acting patient's invoice to pay: one of theirs (or a dependant's) by id, or their appointment's
    (made now from its price if it has none yet)."""
    from shifa.records.policies import patients_of_user
    from shifa.scheduling.models import Appointment, AppointmentStatus

    patients = patients_of_user(actor.user)
    try:
        if appointment_id is not None:
            appointment = (
                Appointment.unscoped.select_related("clinic", "service", "patient")
                .filter(external_id=uuid.UUID(str(appointment_id)), patient__in=patients)
                .first()
            )
            if appointment is None:
                raise NotFound()
            lapsed = (
                appointment.status == AppointmentStatus.HELD
                and appointment.hold_expires_at <= timezones.now()
            )
            if lapsed or appointment.status in (AppointmentStatus.EXPIRED, AppointmentStatus.CANCELLED):
                raise Conflict(
                    _("The hold on this time has expired. Choose a time again."), code="hold_expired"
                )
            invoice = invoice_for_appointment(appointment=appointment, user=actor.user)
            if invoice is None:
                raise Conflict(_("This visit has no price to pay online."), code="nothing_to_pay")
            return invoice
        invoice = (
            Invoice.unscoped.select_related("clinic", "patient")
            .filter(external_id=uuid.UUID(str(invoice_id)), patient__in=patients)
            .first()
        )
    except ValueError:
        raise NotFound() from None
    if invoice is None:
        raise NotFound()
    return invoice


def _totals(invoice: Invoice) -> ledger.Totals:
    return ledger.totals(LedgerEntry.unscoped.filter(invoice=invoice).values_list("kind", "amount"))


def checkout_start(
    *, actor, invoice_id=None, appointment_id=None, language: str = "en"
) -> OnlinePayment | None:
    """Open PayTabs' payment page for what the patient owes on an invoice (or on their appointment's invoice).

    A double click gives the page already open. Nothing due: a held appointment is booked at once and there is no
    page (``None``). While the page is open the appointment's hold is kept (up to a limit). PayTabs out of reach:
    503, the hold and the invoice as they were.
    """
    from shifa.scheduling import actions as scheduling_actions
    from shifa.scheduling.models import AppointmentStatus

    from . import paytabs
    from .queries import invoice_appointment

    invoice = _payable_invoice(actor, invoice_id=invoice_id, appointment_id=appointment_id)
    appointment = invoice_appointment(invoice)
    now = timezones.now()
    if appointment is not None and appointment.status in (
        AppointmentStatus.EXPIRED,
        AppointmentStatus.CANCELLED,
    ):
        raise Conflict(_("The hold on this time has expired. Choose a time again."), code="hold_expired")
    with transaction.atomic():
        invoice = (
            Invoice.unscoped.select_for_update(of=("self",))
            .select_related("clinic", "patient")
            .get(pk=invoice.pk)
        )
        due = _totals(invoice).due
        live = OnlinePayment.unscoped.filter(invoice=invoice, kind=PaymentKind.PAYMENT)
        if live.filter(status=PaymentStatus.PENDING).exists():
            raise Conflict(
                _("A payment of this invoice is still being processed. Try again in a few minutes."),
                code="payment_in_progress",
            )
        if due <= 0:
            if appointment is not None and appointment.status == AppointmentStatus.HELD:
                scheduling_actions.hold_paid(appointment_pk=appointment.pk)
            return None
        page = (
            live.filter(
                status=PaymentStatus.PAGE, amount=due, page_expires_at__gt=now + dt.timedelta(minutes=1)
            )
            .order_by("-pk")
            .first()
        )
        if page is not None:
            return page
        number = live.count() + 1
        payment = OnlinePayment.unscoped.create(
            clinic=invoice.clinic,
            invoice=invoice,
            cart_id=f"inv-{invoice.external_id.hex}-{number}",
            amount=due,
            started_by=actor.user,
        )
    page_minutes = dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES)
    if appointment is not None and appointment.status == AppointmentStatus.HELD:
        kept = scheduling_actions.hold_keep(
            appointment_pk=appointment.pk, until=now + page_minutes, at_most=2 * page_minutes
        )
        if kept is None:
            _payment_closed(payment, PaymentStatus.EXPIRED, "", "hold expired")
            raise Conflict(_("The hold on this time has expired. Choose a time again."), code="hold_expired")
    base = settings.SHIFA_PUBLIC_URL
    try:
        opened = paytabs.client().create_page(
            cart_id=payment.cart_id,
            description=_("Invoice %(number)s — %(clinic)s")
            % {"number": invoice.number, "clinic": invoice.clinic.display_name(language)},
            amount=due,
            callback_url=base + "/api/v1/payments/paytabs/callback",
            return_url=base + "/app/payments/return",
            customer=paytabs.customer_details(
                invoice.patient, actor.user, street=invoice.clinic.display_name("en")
            ),
            language=language,
        )
    except paytabs.PayTabsError as exc:
        _payment_closed(payment, PaymentStatus.FAILED, "", str(exc)[:200])
        raise ServiceUnavailable(
            _("Online payment is not available right now. Try again shortly or pay at the clinic.")
        ) from None
    OnlinePayment.unscoped.filter(pk=payment.pk, status=PaymentStatus.STARTED).update(
        tran_ref=opened.tran_ref,
        redirect_url=opened.redirect_url,
        status=PaymentStatus.PAGE,
        page_expires_at=now + page_minutes,
        updated_at=timezones.now(),
    )
    payment.refresh_from_db()
    return payment


def _payment_closed(payment: OnlinePayment, status: str, code: str, message: str) -> None:
    OnlinePayment.unscoped.filter(
        pk=payment.pk, status__in=[PaymentStatus.STARTED, PaymentStatus.PAGE]
    ).update(
        status=status, response_code=code[:16], response_message=message[:200], updated_at=timezones.now()
    )


#: PayTabs' ``response_status`` → our status (``A`` is handled on its own).
_GATEWAY_STATUS = {
    "H": PaymentStatus.PENDING,
    "P": PaymentStatus.PENDING,
    "D": PaymentStatus.DECLINED,
    "C": PaymentStatus.CANCELLED,
    "X": PaymentStatus.EXPIRED,
    "E": PaymentStatus.FAILED,
    "V": PaymentStatus.CANCELLED,
}


def paytabs_callback(*, raw: bytes, signature: str | None) -> None:
    """A callback or IPN from PayTabs: verified (signature in constant time, our profile), then handed to the
    owner of its cart. ``BadSignature`` (nothing changes) or ``NotFound`` (not one of our carts)."""
    from . import carts, paytabs

    result = paytabs.verify_callback(raw, signature)
    handler = carts.handler_for(result.cart_id)
    if handler is None:
        raise NotFound()
    with transaction.atomic():
        handler(result)


def invoice_payment_result(result) -> None:
    """What PayTabs reports about a payment or refund of an invoice, applied once whatever the order: an
    authorised transaction is credited to the ledger under its reference (a repeat changes nothing); a failure
    never undoes an authorisation; pending waits for the next report."""
    from . import paytabs

    with transaction.atomic():
        found = OnlinePayment.unscoped.select_for_update(of=("self",)).select_related(
            "invoice", "invoice__clinic", "refund_of"
        )
        payment = found.filter(cart_id=result.cart_id).first()
        if payment is None and result.tran_ref:
            payment = found.filter(tran_ref=result.tran_ref).first()
        if payment is None:
            logger.warning("PayTabs reported cart %s, which we do not know", result.cart_id)
            return
        if result.amount != payment.amount or result.currency.upper() != payment.invoice.currency:
            logger.error(
                "PayTabs reported %s %s for cart %s of %s",
                result.amount,
                result.currency,
                payment.cart_id,
                payment.amount,
            )
            return
        if payment.tran_ref and payment.tran_ref != result.tran_ref:
            logger.error(
                "PayTabs reported transaction %s for cart %s of %s",
                result.tran_ref,
                payment.cart_id,
                payment.tran_ref,
            )
            return
        if payment.status == PaymentStatus.AUTHORISED:
            return  # already credited: a repeat, or a late report of something older
        fields = {
            "tran_ref": result.tran_ref,
            "response_code": result.code[:16],
            "response_message": result.message[:200],
        }
        if result.status != paytabs.AUTHORISED:
            status = _GATEWAY_STATUS[result.status]
            page_open = payment.kind == PaymentKind.PAYMENT and payment.status in (
                PaymentStatus.STARTED,
                PaymentStatus.PAGE,
            )
            if status == PaymentStatus.PENDING and page_open:
                status = payment.status  # the page is still open: nobody has paid yet
            if payment.status in PAYMENT_FINAL:
                return  # a late or repeated report: only an authorisation outranks an outcome
            OnlinePayment.unscoped.filter(pk=payment.pk).update(
                status=status, updated_at=timezones.now(), **fields
            )
            if status == PaymentStatus.EXPIRED and payment.kind == PaymentKind.PAYMENT:
                _release_unpaid_hold(payment)
            return
        OnlinePayment.unscoped.filter(pk=payment.pk).update(
            status=PaymentStatus.AUTHORISED, updated_at=timezones.now(), **fields
        )
        payment.refresh_from_db()
        _credit(payment)


def _credit(payment: OnlinePayment) -> None:
    """Post an authorised payment (or refund) to its invoice's ledger; a sale whose appointment can no longer be
    booked, or that the invoice no longer needs, is given back."""
    from shifa.scheduling import actions as scheduling_actions
    from shifa.scheduling.models import AppointmentStatus

    from .queries import invoice_appointment

    invoice = payment.invoice
    refund = payment.kind == PaymentKind.REFUND
    if refund and payment.refund_of.entry_id is None:
        return  # giving back a payment that never counted: nothing moves on the invoice
    appointment = None if refund else invoice_appointment(invoice)
    if appointment is not None:  # the appointment before the invoice, as a cancellation takes them
        from shifa.scheduling.models import Appointment

        appointment = Appointment.unscoped.select_for_update(of=("self",)).get(pk=appointment.pk)
    try:
        with transaction.atomic():
            entry, _new = post(
                clinic=invoice.clinic,
                invoice_id=invoice.external_id,
                kind=EntryKind.REFUND if refund else EntryKind.PAYMENT,
                amount=payment.amount,
                method=Method.ONLINE,
                reference=payment.tran_ref,
                description="Refund by card online" if refund else "Paid by card online",
                user=None,
            )
    except Conflict as refused:
        logger.warning("online %s %s not posted: %s", payment.kind, payment.cart_id, refused.code)
        if not refund:
            _refund_later(payment)
        return
    OnlinePayment.unscoped.filter(pk=payment.pk).update(entry=entry, updated_at=timezones.now())
    if appointment is None:
        return
    lapsed = appointment.status in (AppointmentStatus.HELD, AppointmentStatus.EXPIRED)
    if lapsed and not scheduling_actions.hold_paid(appointment_pk=appointment.pk):
        _refund_later(payment)  # the time went to someone else meanwhile


def _refund_later(payment: OnlinePayment) -> None:
    from .tasks import refund_lost_payment

    OnlinePayment.unscoped.filter(pk=payment.pk).update(refund_due=True, updated_at=timezones.now())
    transaction.on_commit(lambda: refund_lost_payment.defer(payment_id=payment.pk))


def _release_unpaid_hold(payment: OnlinePayment) -> None:
    """The payment page expired: the held time is given back, unless another payment of it is under way."""
    from shifa.scheduling import actions as scheduling_actions

    from .queries import invoice_appointment

    invoice = payment.invoice
    appointment = invoice_appointment(invoice)
    if appointment is None:
        return
    others = OnlinePayment.unscoped.filter(invoice=invoice, kind=PaymentKind.PAYMENT).exclude(pk=payment.pk)
    if others.filter(
        Q(status__in=[PaymentStatus.PENDING, PaymentStatus.AUTHORISED])
        | Q(status__in=[PaymentStatus.STARTED, PaymentStatus.PAGE], page_expires_at__gt=timezones.now())
        | Q(status=PaymentStatus.STARTED, page_expires_at__isnull=True)
    ).exists():
        return
    scheduling_actions.hold_release(appointment_pk=appointment.pk)


def payment_refund(*, actor, payment_id, amount=None, reason: str = "") -> OnlinePayment:
    """The clinic gives back (part of) an online payment through PayTabs. PayTabs may answer ``pending``: the
    refund is then posted when its callback says it went through."""
    clinic = actor.require_clinic()
    try:
        external_id = uuid.UUID(str(payment_id))
    except ValueError:
        raise NotFound() from None
    original = (
        OnlinePayment.objects.for_clinic(clinic)
        .select_related("invoice")
        .filter(external_id=external_id, kind=PaymentKind.PAYMENT)
        .first()
    )
    if original is None:
        raise NotFound()
    reason = _text("reason", reason, 200)
    return _refund(original, None if amount is None else _amount("amount", amount), reason, actor.user)


def refund_lost_payment(*, payment_pk: int) -> OnlinePayment | None:
    """Give back what is left of a payment that came after its appointment's time was lost, that the invoice no
    longer needed, or whose visit was cancelled. Safe to run again: what was given back is not given twice."""
    original = OnlinePayment.unscoped.select_related("invoice").get(pk=payment_pk)
    if not original.refund_due:
        return None
    try:
        return _refund(original, None, "The appointment could not be kept", None)
    except Conflict:
        return None  # nothing left to give back (or PayTabs refused it: the desk sees the payment to refund)


def _refund(original: OnlinePayment, amount: Decimal | None, reason: str, user) -> OnlinePayment:
    from . import paytabs

    with transaction.atomic():
        original = (
            OnlinePayment.unscoped.select_for_update(of=("self",))
            .select_related("invoice")
            .get(pk=original.pk)
        )
        if original.status != PaymentStatus.AUTHORISED:
            raise Conflict(_("Only a completed online payment can be refunded."), code="not_paid")
        given = sum(
            (
                r.amount
                for r in original.refunds.exclude(status__in=[PaymentStatus.FAILED, PaymentStatus.DECLINED])
            ),
            Decimal("0.000"),
        )
        amount = original.amount - given if amount is None else amount
        held = _totals(original.invoice).net_paid if original.entry_id else original.amount
        if amount <= 0 or given + amount > original.amount or amount > held:
            raise Conflict(_("This is more than what was paid on the invoice."), code="exceeds_paid")
        refund = OnlinePayment.unscoped.create(
            clinic=original.clinic,
            invoice=original.invoice,
            kind=PaymentKind.REFUND,
            refund_of=original,
            cart_id=f"{original.cart_id}-r{original.refunds.count() + 1}",
            amount=amount,
            started_by=user,
        )
    try:
        result = paytabs.client().refund(
            tran_ref=original.tran_ref,
            cart_id=refund.cart_id,
            amount=amount,
            description=reason or _("Refund of invoice %(number)s") % {"number": original.invoice.number},
        )
    except paytabs.PayTabsRefused as exc:
        _payment_closed(refund, PaymentStatus.FAILED, str(exc.code), exc.message)
        raise Conflict(
            _("PayTabs refused this refund: %(reason)s") % {"reason": exc.message}, code="refund_refused"
        ) from None
    except paytabs.PayTabsError:
        # Unknown whether it went through: the reconciliation asks PayTabs later by cart id.
        OnlinePayment.unscoped.filter(pk=refund.pk).update(
            status=PaymentStatus.PENDING, updated_at=timezones.now()
        )
        raise ServiceUnavailable(
            _("PayTabs did not answer. The refund will be checked again shortly.")
        ) from None
    invoice_payment_result(result)
    refund.refresh_from_db()
    return refund


def payments_reconcile(*, now: dt.datetime | None = None) -> int:
    """Ask PayTabs about payments whose outcome we have not heard (a lost callback): open pages past their time
    and pending transactions. A cart PayTabs does not know never reached it: a page is expired (its hold freed)
    and a refund failed (and is tried again). PayTabs out of reach changes nothing. How many were looked at."""
    from . import paytabs

    now = now or timezones.now()
    quiet = now - dt.timedelta(minutes=2)
    stale = list(
        OnlinePayment.unscoped.filter(
            Q(status__in=[PaymentStatus.STARTED, PaymentStatus.PAGE], page_expires_at__lt=quiet)
            | Q(
                status=PaymentStatus.STARTED,
                created_at__lt=quiet - dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES),
            )
            | Q(status=PaymentStatus.PENDING, updated_at__lt=quiet)
        ).order_by("updated_at")[:200]
    )
    client = paytabs.client()
    for payment in stale:
        unknown = False
        try:
            result = (
                client.query(tran_ref=payment.tran_ref)
                if payment.tran_ref
                else client.query(cart_id=payment.cart_id)
            )
        except paytabs.PayTabsRefused:
            result, unknown = None, True
        except paytabs.PayTabsError:
            result = None
        if result is not None and result.cart_id == payment.cart_id:
            invoice_payment_result(result)
        payment.refresh_from_db()
        open_page = payment.status in (PaymentStatus.STARTED, PaymentStatus.PAGE)
        long_gone = payment.page_expires_at is None or payment.page_expires_at < now - dt.timedelta(
            minutes=30
        )
        if open_page and (unknown or (result is not None and long_gone)):
            with transaction.atomic():
                _payment_closed(payment, PaymentStatus.EXPIRED, "", "payment page expired")
                payment.refresh_from_db()
                if payment.status == PaymentStatus.EXPIRED and payment.kind == PaymentKind.PAYMENT:
                    _release_unpaid_hold(payment)
        elif unknown and payment.status == PaymentStatus.PENDING and payment.kind == PaymentKind.REFUND:
            with transaction.atomic():
                OnlinePayment.unscoped.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
                    status=PaymentStatus.FAILED, response_message="PayTabs never received it", updated_at=now
                )
                if payment.refund_of.refund_due:
                    _refund_later(payment.refund_of)
        else:  # nothing learnt: look at the others first next time
            OnlinePayment.unscoped.filter(pk=payment.pk).update(updated_at=timezones.now())
    return len(stale)


def payment_returned(*, cart_id: str) -> OnlinePayment | None:
    """The patient's browser came back from the payment page: ask PayTabs (server to server) how it went, so
    the page shows the outcome at once. The return itself never marks anything paid."""
    from . import paytabs

    payment = (
        OnlinePayment.unscoped.select_related("invoice")
        .filter(cart_id=cart_id, kind=PaymentKind.PAYMENT)
        .first()
    )
    if payment is None:
        return None
    if payment.status not in PAYMENT_FINAL:
        try:
            result = (
                paytabs.client().query(cart_id=cart_id)
                if not payment.tran_ref
                else paytabs.client().query(tran_ref=payment.tran_ref)
            )
        except paytabs.PayTabsError:
            return payment
        if result.cart_id == cart_id:
            invoice_payment_result(result)
        payment.refresh_from_db()
    return payment


# --- The desk (cash and card, discounts, refunds) -----------------------------------------------------------------

#: What the desk posts, and how money changes hands there (online payments and their refunds go through PayTabs).
DESK_KINDS = (EntryKind.PAYMENT, EntryKind.REFUND, EntryKind.DISCOUNT)
DESK_METHODS = (Method.CASH, Method.CARD)


def desk_invoice_for_appointment(*, actor, appointment_id) -> tuple[Invoice, bool]:
    """The invoice of one of the acting clinic's appointments, and whether it is new: the one it already has, or a
    new one charging its price (the price it was booked at, else what the clinic's price list says for its
    service and visit type). One per appointment, however many ask at once (the appointment's row lock)."""
    from shifa.directory.queries import estimate
    from shifa.scheduling.models import Appointment, AppointmentStatus

    from .queries import appointment_invoice

    clinic = actor.require_clinic()
    try:
        external_id = uuid.UUID(str(appointment_id))
    except ValueError:
        raise NotFound() from None
    with transaction.atomic():
        appointment = (
            Appointment.objects.for_clinic(clinic).select_for_update().filter(external_id=external_id).first()
        )
        if appointment is None:
            raise NotFound()
        existing = appointment_invoice(appointment)
        if existing is not None:
            return existing, False
        if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.EXPIRED):
            raise Conflict(
                _("This appointment was cancelled; it has nothing to charge."), code="not_chargeable"
            )
        amount = appointment.price
        if amount is None:
            amount = estimate(
                clinic=clinic,
                doctor=appointment.doctor,
                visit_type=appointment.visit_type,
                service=appointment.service,
            )["amount"]
        if amount is None or amount <= 0:
            raise Conflict(
                _("The clinic has no price for this visit. Open an invoice with the charges instead."),
                code="no_price",
            )
        invoice = invoice_for_appointment(
            appointment=appointment, user=actor.user, price=Decimal(amount).quantize(Decimal("0.001"))
        )
        return invoice, True


def desk_entry_post(
    *, actor, invoice_id, kind: str, amount, method: str = "", note: str = "", reference: str = ""
) -> tuple[LedgerEntry, bool]:
    """A payment taken at the desk (cash or card), a refund given there, or a discount, on an invoice of the
    acting clinic, with a note (refunds and discounts must say why). The same ``reference`` again (the same form
    sent twice) gives the first entry back (see ``entry_post``)."""
    errors: list[FieldError] = []
    if kind not in DESK_KINDS:
        errors.append(FieldError("kind", "invalid_choice", _("Choose a payment, a refund or a discount.")))
    if kind in (EntryKind.PAYMENT, EntryKind.REFUND) and method not in DESK_METHODS:
        errors.append(FieldError("method", "invalid_choice", _("Choose cash or card.")))
    if kind == EntryKind.DISCOUNT and method:
        errors.append(FieldError("method", "not_a_payment", _("Only payments and refunds have a method.")))
    if kind in (EntryKind.REFUND, EntryKind.DISCOUNT) and (not isinstance(note, str) or not note.strip()):
        errors.append(FieldError("note", "required", _("Say why.")))
    try:
        _amount("amount", amount)
    except ValidationFailed as failed:
        errors.extend(failed.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    try:
        return entry_post(
            actor=actor,
            invoice_id=invoice_id,
            kind=kind,
            amount=amount,
            method=method if kind != EntryKind.DISCOUNT else "",
            reference=reference,
            description=note,
        )
    except ValidationFailed as failed:
        raise ValidationFailed(
            errors=[
                FieldError("note" if e.field == "description" else e.field, e.code, e.message)
                for e in failed.errors
            ]
        ) from None
