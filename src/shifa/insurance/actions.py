"""Writes of insurance (PAY-2): applying a patient's insurer to an invoice, the insurer's answer to a
pre-approval, and claims to insurers from draft to paid.

The insurer's share is money on the invoice, so it is posted through billing's one posting path
(``shifa.billing.actions.post``: the invoice's row lock, the ledger's refusals, an idempotent reference
``cover-<invoice id>``). Every claim move locks the claim row and goes only forward (``models.CLAIM_MOVES``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from shifa.billing import actions as billing_actions
from shifa.billing import ledger
from shifa.billing.models import EntryKind, Invoice, LedgerEntry
from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, NotFound, ValidationFailed

from .models import (
    CLAIM_MOVES,
    Claim,
    ClaimCounter,
    ClaimLine,
    ClaimStatus,
    Coverage,
    CoverageStatus,
    PreApproval,
    PreApprovalStatus,
)

#: Why an invoice gets no insurer's share (the code of the 409 the desk sees).
NO_COVER = {
    "not_insured": lambda: _("Say which insurer covers the patient: the invoice's visit names none."),
    "insurer_not_accepted": lambda: _("The clinic does not accept this insurer."),
    "service_not_covered": lambda: _("The clinic's terms with this insurer do not cover this service."),
    "nothing_to_cover": lambda: _("By the clinic's terms the patient pays all of this invoice."),
    "exceeds_patient_share": lambda: _("The insurer's share would be more than what the patient still owes."),
}
#: The longest claim period (days): insurers take monthly or quarterly batches.
CLAIM_PERIOD_DAYS = 366


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def _text(field: str, value, limit: int, *, required: bool = False, message: str = "") -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(field, "invalid", _("Enter text."))
    value = " ".join((value or "").split())
    if "\x00" in value or len(value) > limit:
        raise ValidationFailed.on(
            field, "too_long", _("Write at most %(limit)d characters.") % {"limit": limit}
        )
    if required and not value:
        raise ValidationFailed.on(field, "required", message or _("This field is required."))
    return value


def _local_day(moment: dt.datetime, clinic) -> dt.date:
    return timezones.to_local(moment, clinic.time_zone).date()


def _today(clinic) -> dt.date:
    return _local_day(timezones.now(), clinic)


# --- the insurer's share of an invoice -------------------------------------------------------------------------


class NoCover(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _post_share(coverage: Coverage, amount: Decimal, user, note: str):
    invoice = coverage.invoice
    entry, _new = billing_actions.post(
        clinic=coverage.clinic,
        invoice_id=invoice.external_id,
        kind=EntryKind.INSURER_SHARE,
        amount=amount,
        method="",
        reference=f"cover-{invoice.external_id}",
        description=note[:200],
        user=user,
    )
    return entry


def _share_note(coverage: Coverage, approval_number: str = "") -> str:
    name = coverage.insurer.name_en
    if approval_number:
        return f"{name} — approval {approval_number}"
    return f"{name} — {coverage.copay_percent.normalize():f}% patient co-pay"


def _apply(actor, invoice: Invoice, *, insurer=None, service=None, member_number: str = "") -> Coverage:
    """Apply the insurer to the invoice (under its row lock); NoCover when there is nothing to apply."""
    from shifa.directory import coverage as terms_of

    with transaction.atomic():
        invoice = Invoice.unscoped.select_for_update(of=("self",)).select_related("clinic").get(pk=invoice.pk)
        existing = Coverage.unscoped.filter(invoice=invoice).first()
        if existing is not None:
            return existing
        appointment = None
        if invoice.appointment_id:
            from shifa.scheduling.models import Appointment

            appointment = (
                Appointment.unscoped.select_related("insurer", "service")
                .filter(pk=invoice.appointment_id)
                .first()
            )
        insurer = insurer or (appointment.insurer if appointment is not None else None)
        if insurer is None:
            raise NoCover("not_insured")
        if service is None and appointment is not None:
            service = appointment.service
        clinic = invoice.clinic
        terms = terms_of.terms_for(clinic=clinic, service=service, insurer=insurer)
        if terms is None:
            raise NoCover("insurer_not_accepted")
        if not terms.covered:
            raise NoCover("service_not_covered")
        totals = ledger.totals(LedgerEntry.unscoped.filter(invoice=invoice).values_list("kind", "amount"))
        base = totals.charged - totals.discounted
        if base <= 0:
            raise NoCover("nothing_to_cover")
        _patient, share = terms_of.split(base, terms.copay_percent)
        if share <= 0:
            raise NoCover("nothing_to_cover")
        if ledger.refusal(totals, EntryKind.INSURER_SHARE, share) is not None:
            raise NoCover("exceeds_patient_share")
        when = appointment.starts_at if appointment is not None else invoice.created_at
        needs_approval = terms.pre_approval_required
        coverage = Coverage(
            clinic=clinic,
            invoice=invoice,
            insurer=insurer,
            service=service,
            member_number=member_number,
            service_date=_local_day(when, clinic),
            base_amount=base,
            copay_percent=terms.copay_percent,
            insurer_amount=share,
            status=CoverageStatus.AWAITING_APPROVAL if needs_approval else CoverageStatus.POSTED,
            applied_by=actor.user,
        )
        if needs_approval:
            coverage.save()
            PreApproval.unscoped.create(clinic=clinic, coverage=coverage)
        else:
            coverage.entry = _post_share(coverage, share, actor.user, _share_note(coverage))
            coverage.save()
        return coverage


def apply_coverage(*, actor, invoice: Invoice, member_number: str = "") -> Coverage | None:
    """Split an invoice between the patient and the insurer named on its appointment, by the clinic's terms
    (``shifa.directory.coverage``): post the insurer's share, or, where the insurer must approve first, ask for
    that approval and post nothing yet. None when there is nothing to split (no insurer, not accepted, not
    covered, co-pay of 100%). Idempotent: an invoice is covered once, and asking again gives that coverage.

    For callers that open invoices (booking, the desk): ``actor`` may be the patient booking online, so nothing
    here depends on the actor's clinic."""
    try:
        return _apply(actor, invoice, member_number=_text("member_number", member_number, 40))
    except NoCover:
        return None


def coverage_apply(
    *, actor, invoice_id, insurer: str | None = None, service_id=None, member_number: str = ""
):
    """The desk applies a patient's insurer to one of the clinic's invoices (the insurer of its appointment unless
    ``insurer`` names another). Returns (coverage, created); 409 with the reason when nothing applies."""
    from shifa.catalog.models import InsuranceCompany
    from shifa.directory.models import Service

    clinic = actor.require_clinic()
    invoice = Invoice.objects.for_clinic(clinic).filter(external_id=_uuid(invoice_id)).first()
    if invoice is None:
        raise NotFound()
    errors: list[FieldError] = []
    company = None
    if insurer:
        company = InsuranceCompany.objects.filter(code=str(insurer)[:40], is_active=True).first()
        if company is None:
            errors.append(FieldError("insurer", "invalid_choice", _("Choose an insurer from the list.")))
    service = None
    if service_id:
        try:
            service = (
                Service.objects.for_clinic(clinic).filter(external_id=uuid.UUID(str(service_id))).first()
            )
        except ValueError:
            service = None
        if service is None:
            errors.append(FieldError("service_id", "invalid_choice", _("Choose a service of this clinic.")))
    try:
        member_number = _text("member_number", member_number, 40)
    except ValidationFailed as failed:
        errors.extend(failed.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    existed = Coverage.unscoped.filter(invoice=invoice).exists()
    try:
        coverage = _apply(actor, invoice, insurer=company, service=service, member_number=member_number)
    except NoCover as no:
        raise Conflict(NO_COVER[no.code](), code=no.code) from None
    return coverage, not existed


def coverage_member_number_set(*, actor, coverage_id, member_number: str) -> Coverage:
    """Correct the patient's member number on a coverage, until its share is in a submitted claim."""
    clinic = actor.require_clinic()
    member_number = _text("member_number", member_number, 40)
    with transaction.atomic():
        coverage = (
            Coverage.objects.for_clinic(clinic)
            .select_for_update()
            .filter(external_id=_uuid(coverage_id))
            .first()
        )
        if coverage is None:
            raise NotFound()
        sent = (
            ClaimLine.objects.for_clinic(clinic)
            .filter(coverage=coverage, released_at__isnull=True)
            .exclude(claim__status=ClaimStatus.DRAFT)
            .exists()
        )
        if sent:
            raise Conflict(_("This share is in a claim already sent to the insurer."), code="claim_submitted")
        if coverage.member_number != member_number:
            coverage.member_number = member_number
            coverage.save(update_fields=["member_number", "updated_at"])
        return coverage


# --- pre-approvals ----------------------------------------------------------------------------------------------


def _locked_pre_approval(actor, pre_approval_id) -> PreApproval:
    found = (
        PreApproval.objects.for_clinic(actor.require_clinic())
        .select_for_update()
        .filter(external_id=_uuid(pre_approval_id))
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def pre_approval_approve(
    *, actor, pre_approval_id, approval_number: str, approved_amount=None
) -> PreApproval:
    """The insurer approved: record its approval number (and the amount, when it approved less than the share by
    the clinic's terms) and post the insurer's share. Recording the same approval again changes nothing."""
    approval_number = _text(
        "approval_number",
        approval_number,
        60,
        required=True,
        message=_("Enter the insurer's approval number."),
    )
    amount = None
    if approved_amount not in (None, ""):
        amount = billing_actions._amount("approved_amount", approved_amount)
    with transaction.atomic():
        pre_approval = _locked_pre_approval(actor, pre_approval_id)
        coverage = (
            Coverage.unscoped.select_for_update(of=("self",))
            .select_related("invoice", "insurer", "clinic")
            .get(pk=pre_approval.coverage_id)
        )
        if (
            pre_approval.status == PreApprovalStatus.APPROVED
            and pre_approval.approval_number == approval_number
        ):
            return pre_approval
        if pre_approval.status != PreApprovalStatus.REQUESTED:
            raise Conflict(
                _("The insurer's answer to this request is already recorded."), code="already_decided"
            )
        if amount is not None and amount > coverage.insurer_amount:
            raise ValidationFailed.on(
                "approved_amount",
                "exceeds_share",
                _("The insurer can approve at most its share by the clinic's terms (%(amount)s JOD).")
                % {"amount": coverage.insurer_amount},
            )
        entry = _post_share(
            coverage, amount or coverage.insurer_amount, actor.user, _share_note(coverage, approval_number)
        )
        pre_approval.status = PreApprovalStatus.APPROVED
        pre_approval.approval_number = approval_number
        pre_approval.approved_amount = amount
        pre_approval.decided_by = actor.user
        pre_approval.decided_at = timezones.now()
        pre_approval.save(
            update_fields=[
                "status",
                "approval_number",
                "approved_amount",
                "decided_by",
                "decided_at",
                "updated_at",
            ]
        )
        coverage.status = CoverageStatus.POSTED
        coverage.entry = entry
        coverage.save(update_fields=["status", "entry", "updated_at"])
        return pre_approval


def pre_approval_deny(*, actor, pre_approval_id, reason: str = "") -> PreApproval:
    """The insurer refused: nothing is posted and the patient's share stays the whole bill."""
    reason = _text("reason", reason, 300)
    with transaction.atomic():
        pre_approval = _locked_pre_approval(actor, pre_approval_id)
        if pre_approval.status == PreApprovalStatus.DENIED:
            return pre_approval
        if pre_approval.status != PreApprovalStatus.REQUESTED:
            raise Conflict(
                _("The insurer's answer to this request is already recorded."), code="already_decided"
            )
        pre_approval.status = PreApprovalStatus.DENIED
        pre_approval.reason = reason
        pre_approval.decided_by = actor.user
        pre_approval.decided_at = timezones.now()
        pre_approval.save(update_fields=["status", "reason", "decided_by", "decided_at", "updated_at"])
        Coverage.unscoped.filter(pk=pre_approval.coverage_id).update(
            status=CoverageStatus.DENIED, updated_at=timezones.now()
        )
        return pre_approval


# --- claims -------------------------------------------------------------------------------------------------------


def _next_claim_number(clinic) -> str:
    year = _today(clinic).year
    counter = ClaimCounter.objects.for_clinic(clinic).select_for_update().filter(year=year).first()
    if counter is None:
        try:
            with transaction.atomic():
                counter = ClaimCounter.unscoped.create(clinic=clinic, year=year)
        except IntegrityError:
            counter = ClaimCounter.objects.for_clinic(clinic).select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last", "updated_at"])
    return f"{year}-{counter.last:04d}"


def claim_open(*, actor, insurer: str, period_start: dt.date, period_end: dt.date) -> Claim:
    """A draft claim to one of the clinic's insurers for the shares of services in a period."""
    from shifa.catalog.models import InsuranceCompany
    from shifa.directory.models import InsurancePartner

    clinic = actor.require_clinic()
    errors: list[FieldError] = []
    company = InsuranceCompany.objects.filter(code=str(insurer or "")[:40]).first()
    if company is None or not InsurancePartner.objects.for_clinic(clinic).filter(insurer=company).exists():
        errors.append(FieldError("insurer", "invalid_choice", _("Choose one of the clinic's insurers.")))
    if not isinstance(period_start, dt.date) or not isinstance(period_end, dt.date):
        errors.append(FieldError("period_start", "invalid", _("Enter the first and last day of the period.")))
    elif period_end < period_start:
        errors.append(FieldError("period_end", "before_start", _("The period ends before it starts.")))
    elif (period_end - period_start).days >= CLAIM_PERIOD_DAYS:
        errors.append(FieldError("period_end", "too_long", _("A claim covers at most a year of services.")))
    elif period_start > _today(clinic):
        errors.append(FieldError("period_start", "in_future", _("The period cannot start in the future.")))
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        return Claim.unscoped.create(
            clinic=clinic,
            insurer=company,
            number=_next_claim_number(clinic),
            period_start=period_start,
            period_end=period_end,
            created_by=actor.user,
        )


def _locked_claim(actor, claim_id) -> Claim:
    claim = (
        Claim.objects.for_clinic(actor.require_clinic())
        .select_for_update()
        .filter(external_id=_uuid(claim_id))
        .first()
    )
    if claim is None:
        raise NotFound()
    return claim


def _refuse_move(claim: Claim, to: str) -> None:
    if to not in CLAIM_MOVES[ClaimStatus(claim.status)]:
        raise Conflict(
            _("A claim that is %(status)s cannot be %(move)s.")
            % {"status": claim.get_status_display().lower(), "move": ClaimStatus(to).label.lower()},
            code="invalid_transition",
        )


#: A visit that did not happen (cancelled without being moved, a hold that lapsed, a patient who did not come) is
#: not the insurer's to pay.
NOT_HELD = Q(invoice__appointment__status__in=["cancelled", "expired", "no_show"]) & Q(
    invoice__appointment__rescheduled_to__isnull=True
)


def _claimable(claim: Claim):
    """Posted shares of the claim's insurer for services in its period that no claim holds, of visits that took
    place."""
    held = (
        ClaimLine.objects.for_clinic(claim.clinic_id).filter(released_at__isnull=True).values("coverage_id")
    )
    return (
        Coverage.objects.for_clinic(claim.clinic_id)
        .filter(
            insurer_id=claim.insurer_id,
            status=CoverageStatus.POSTED,
            service_date__gte=claim.period_start,
            service_date__lte=claim.period_end,
        )
        .exclude(NOT_HELD)
        .exclude(pk__in=held)
    )


def _line(claim: Claim, coverage: Coverage) -> ClaimLine:
    return ClaimLine(clinic_id=claim.clinic_id, claim=claim, coverage=coverage, amount=coverage.entry.amount)


def claim_line_add(*, actor, claim_id, invoice_id) -> ClaimLine:
    """Put one invoice's insurer's share into a draft claim. A share is claimed once: the same share in another
    claim (or added twice at the same moment) is 409 ``already_claimed``."""
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        if claim.status != ClaimStatus.DRAFT:
            raise Conflict(_("Only a draft claim can be changed."), code="claim_not_draft")
        try:
            invoice_uuid = uuid.UUID(str(invoice_id))
        except ValueError:
            invoice_uuid = None
        coverage = (
            Coverage.objects.for_clinic(claim.clinic_id)
            .select_related("entry")
            .filter(invoice__external_id=invoice_uuid)
            .first()
            if invoice_uuid
            else None
        )
        if coverage is None:
            raise ValidationFailed.on(
                "invoice_id", "not_covered", _("Choose an invoice of this clinic with an insurer's share.")
            )
        if coverage.insurer_id != claim.insurer_id:
            raise ValidationFailed.on(
                "invoice_id", "other_insurer", _("This invoice's share is owed by another insurer.")
            )
        if coverage.status != CoverageStatus.POSTED:
            raise ValidationFailed.on(
                "invoice_id", "not_posted", _("This insurer's share is not posted (no approval yet).")
            )
        if Coverage.objects.for_clinic(claim.clinic_id).filter(pk=coverage.pk).filter(NOT_HELD).exists():
            raise ValidationFailed.on(
                "invoice_id", "visit_not_held", _("This visit did not take place: it cannot be claimed.")
            )
        if not claim.period_start <= coverage.service_date <= claim.period_end:
            raise ValidationFailed.on(
                "invoice_id", "outside_period", _("This service was not given in the claim's period.")
            )
        if (
            ClaimLine.objects.for_clinic(claim.clinic_id)
            .filter(coverage=coverage, released_at__isnull=True)
            .exists()
        ):
            raise Conflict(_("This insurer's share is already in a claim."), code="already_claimed")
        try:
            with transaction.atomic():
                line = _line(claim, coverage)
                line.save()
        except IntegrityError:  # the same share added to another claim at the same moment
            raise Conflict(_("This insurer's share is already in a claim."), code="already_claimed") from None
        return line


def claim_lines_fill(*, actor, claim_id) -> int:
    """Put every unclaimed share of the claim's insurer and period into a draft claim; how many were added.
    Shares another claim takes at the same moment are skipped, not doubled (the database constraint)."""
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        if claim.status != ClaimStatus.DRAFT:
            raise Conflict(_("Only a draft claim can be changed."), code="claim_not_draft")
        before = ClaimLine.objects.for_clinic(claim.clinic_id).filter(claim=claim).count()
        lines = [
            _line(claim, c) for c in _claimable(claim).select_related("entry").order_by("service_date", "pk")
        ]
        ClaimLine.unscoped.bulk_create(lines, ignore_conflicts=True)
        return ClaimLine.objects.for_clinic(claim.clinic_id).filter(claim=claim).count() - before


def claim_line_remove(*, actor, claim_id, line_id) -> None:
    """Take a share out of a draft claim (it can be claimed again)."""
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        line = (
            ClaimLine.objects.for_clinic(claim.clinic_id)
            .filter(claim=claim, external_id=_uuid(line_id))
            .first()
        )
        if line is None:
            raise NotFound()
        if claim.status != ClaimStatus.DRAFT:
            raise Conflict(_("Only a draft claim can be changed."), code="claim_not_draft")
        line.delete()


def claim_submit(*, actor, claim_id) -> Claim:
    """The claim is sent to the insurer: its lines and total are fixed from now on."""
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        _refuse_move(claim, ClaimStatus.SUBMITTED)
        total = (
            ClaimLine.objects.for_clinic(claim.clinic_id)
            .filter(claim=claim)
            .aggregate(total=Sum("amount"))["total"]
        )
        if not total:
            raise Conflict(_("Add at least one insurer's share before submitting."), code="claim_empty")
        claim.status = ClaimStatus.SUBMITTED
        claim.claimed_amount = total
        claim.submitted_at = timezones.now()
        claim.save(update_fields=["status", "claimed_amount", "submitted_at", "updated_at"])
        return claim


def claim_approve(*, actor, claim_id, approved_amount=None) -> Claim:
    """The insurer approved the claim, in full (no amount) or in part (at most the amount claimed)."""
    amount = None
    if approved_amount not in (None, ""):
        amount = billing_actions._amount("approved_amount", approved_amount)
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        _refuse_move(claim, ClaimStatus.APPROVED)
        if amount is not None and amount > claim.claimed_amount:
            raise ValidationFailed.on(
                "approved_amount",
                "exceeds_claimed",
                _("The approved amount cannot be more than the amount claimed (%(amount)s JOD).")
                % {"amount": claim.claimed_amount},
            )
        claim.status = ClaimStatus.APPROVED
        claim.approved_amount = amount if amount is not None else claim.claimed_amount
        claim.decided_at = timezones.now()
        claim.save(update_fields=["status", "approved_amount", "decided_at", "updated_at"])
        return claim


def claim_reject(*, actor, claim_id, reason: str) -> Claim:
    """The insurer rejected the claim: its shares are released and may be claimed again (corrected)."""
    reason = _text("reason", reason, 500, required=True, message=_("Give the insurer's reason."))
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        _refuse_move(claim, ClaimStatus.REJECTED)
        now = timezones.now()
        claim.status = ClaimStatus.REJECTED
        claim.rejection_reason = reason
        claim.decided_at = now
        claim.save(update_fields=["status", "rejection_reason", "decided_at", "updated_at"])
        ClaimLine.objects.for_clinic(claim.clinic_id).filter(claim=claim, released_at__isnull=True).update(
            released_at=now, updated_at=now
        )
        return claim


def claim_pay(*, actor, claim_id, payment_reference: str, paid_on: dt.date) -> Claim:
    """The insurer paid the approved amount: the payment's reference and the day it arrived."""
    payment_reference = _text(
        "payment_reference",
        payment_reference,
        100,
        required=True,
        message=_("Enter the payment's reference."),
    )
    if not isinstance(paid_on, dt.date):
        raise ValidationFailed.on("paid_on", "required", _("Enter the day the payment arrived."))
    with transaction.atomic():
        claim = _locked_claim(actor, claim_id)
        _refuse_move(claim, ClaimStatus.PAID)
        if paid_on > _today(claim.clinic):
            raise ValidationFailed.on("paid_on", "in_future", _("The payment cannot arrive in the future."))
        if paid_on < _local_day(claim.submitted_at, claim.clinic):
            raise ValidationFailed.on(
                "paid_on", "before_submitted", _("The payment cannot arrive before the claim was sent.")
            )
        claim.status = ClaimStatus.PAID
        claim.payment_reference = payment_reference
        claim.paid_on = paid_on
        claim.paid_at = timezones.now()
        claim.save(update_fields=["status", "payment_reference", "paid_on", "paid_at", "updated_at"])
        return claim
