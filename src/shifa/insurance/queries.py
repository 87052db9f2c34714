"""Reads of insurance: coverages, the pre-approval queue, claims with their lines, and a claim's batch file for
the insurer (CSV or JSON, one stable set of columns)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from shifa.core.errors import FieldError, NotFound, ValidationFailed
from shifa.core.pagination import Page, paginate

from .models import Claim, ClaimLine, ClaimStatus, Coverage, CoverageStatus, PreApproval, PreApprovalStatus


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def _choice(field: str, value: str | None, choices) -> str | None:
    if value in (None, ""):
        return None
    if value not in choices.values:
        from django.utils.translation import gettext as _

        raise ValidationFailed(
            errors=[FieldError(field, "invalid_choice", _("Choose one of the values offered."))]
        )
    return value


# --- coverages and pre-approvals ----------------------------------------------------------------------------------


def _coverages(clinic) -> QuerySet[Coverage]:
    return Coverage.objects.for_clinic(clinic).select_related(
        "invoice", "invoice__patient", "insurer", "service", "entry", "pre_approval"
    )


def coverage_list(*, actor, status: str | None = None, cursor: str | None = None, limit: int = 50) -> Page:
    """The clinic's coverages, newest first."""
    qs = _coverages(actor.require_clinic())
    status = _choice("status", status, CoverageStatus)
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def coverage_get(*, actor, coverage_id) -> Coverage:
    coverage = _coverages(actor.require_clinic()).filter(external_id=_uuid(coverage_id)).first()
    if coverage is None:
        raise NotFound()
    return coverage


def coverage_of_invoice(*, actor, invoice_id) -> Coverage | None:
    try:
        return (
            _coverages(actor.require_clinic()).filter(invoice__external_id=uuid.UUID(str(invoice_id))).first()
        )
    except ValueError:
        return None


def pre_approvals(
    *, actor, status: str | None = PreApprovalStatus.REQUESTED, cursor: str | None = None, limit: int = 50
) -> Page:
    """The pre-approval queue: requests waiting for the insurer's answer, oldest first (or answered ones, newest
    first)."""
    qs = PreApproval.objects.for_clinic(actor.require_clinic()).select_related(
        "coverage",
        "coverage__invoice",
        "coverage__invoice__patient",
        "coverage__insurer",
        "coverage__service",
    )
    status = _choice("status", status, PreApprovalStatus)
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=status != PreApprovalStatus.REQUESTED)


def pre_approval_get(*, actor, pre_approval_id) -> PreApproval:
    found = (
        PreApproval.objects.for_clinic(actor.require_clinic())
        .select_related("coverage", "coverage__invoice", "coverage__invoice__patient", "coverage__insurer")
        .filter(external_id=_uuid(pre_approval_id))
        .first()
    )
    if found is None:
        raise NotFound()
    return found


# --- claims -------------------------------------------------------------------------------------------------------


def claim_list(
    *,
    actor,
    status: str | None = None,
    insurer: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The clinic's claims, newest first, with how many shares each holds."""
    qs = (
        Claim.objects.for_clinic(actor.require_clinic())
        .select_related("insurer")
        .annotate(line_count=Count("lines"), line_total=Sum("lines__amount"))
    )
    status = _choice("status", status, ClaimStatus)
    if status:
        qs = qs.filter(status=status)
    if insurer:
        qs = qs.filter(insurer__code=insurer)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def claim_counts(*, actor) -> dict[str, int]:
    """How many claims the clinic has in each status."""
    rows = Claim.objects.for_clinic(actor.require_clinic()).values_list("status").annotate(n=Count("pk"))
    counts = dict.fromkeys(ClaimStatus.values, 0)
    for status, n in rows:
        counts[status] = n
    return counts


def claim_get(*, actor, claim_id) -> Claim:
    claim = (
        Claim.objects.for_clinic(actor.require_clinic())
        .select_related("insurer", "created_by")
        .filter(external_id=_uuid(claim_id))
        .first()
    )
    if claim is None:
        raise NotFound()
    return claim


def claim_lines(claim: Claim) -> list[ClaimLine]:
    return list(
        ClaimLine.objects.for_clinic(claim.clinic_id)
        .filter(claim=claim)
        .select_related(
            "coverage",
            "coverage__invoice",
            "coverage__invoice__patient",
            "coverage__service",
            "coverage__pre_approval",
        )
        .order_by("coverage__service_date", "pk")
    )


def claim_total(lines: list[ClaimLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0.000"))


def claimable(*, actor, claim: Claim, limit: int = 200) -> list[Coverage]:
    """Posted shares of the claim's insurer for services in its period that no claim holds (what a draft can
    take)."""
    held = (
        ClaimLine.objects.for_clinic(claim.clinic_id).filter(released_at__isnull=True).values("coverage_id")
    )
    return list(
        _coverages(actor.require_clinic())
        .filter(
            insurer_id=claim.insurer_id,
            status=CoverageStatus.POSTED,
            service_date__gte=claim.period_start,
            service_date__lte=claim.period_end,
        )
        .exclude(pk__in=held)
        .order_by("service_date", "pk")[:limit]
    )


# --- the batch file for the insurer ---------------------------------------------------------------------------

#: The columns of a claim's batch file, in this order, always (insurers map them once).
COLUMNS = (
    "claim_number",
    "insurer_code",
    "period_start",
    "period_end",
    "line",
    "invoice_number",
    "service_date",
    "patient_name",
    "patient_name_ar",
    "date_of_birth",
    "sex",
    "national_id_last4",
    "member_number",
    "diagnosis_codes",
    "service",
    "service_ar",
    "visit_type",
    "doctor",
    "pre_approval_number",
    "billed_amount",
    "copay_percent",
    "patient_share",
    "claimed_amount",
    "currency",
)
EXPORTABLE = (ClaimStatus.SUBMITTED, ClaimStatus.APPROVED, ClaimStatus.REJECTED, ClaimStatus.PAID)
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"


def _diagnoses(appointment_ids: list[int]) -> dict[int, list[str]]:
    """ICD-9-CM codes of each appointment's committed visit (its latest committed version), primary first."""
    from shifa.records.models import Visit, VisitDiagnosis

    latest: dict[int, int] = {}
    for appointment_id, visit_id in (
        Visit.unscoped.filter(appointment_id__in=appointment_ids, is_committed=True)
        .order_by("appointment_id", "committed_at", "pk")
        .values_list("appointment_id", "pk")
    ):
        latest[appointment_id] = visit_id  # the last one wins: the newest committed amendment
    codes: dict[int, list[str]] = {}
    by_visit = {v: a for a, v in latest.items()}
    rows = (
        VisitDiagnosis.unscoped.filter(visit_id__in=list(by_visit))
        .select_related("diagnosis")
        .order_by("visit_id", "rank", "position", "pk")  # "primary" sorts before "secondary"
    )
    for row in rows:
        codes.setdefault(by_visit[row.visit_id], []).append(row.diagnosis.display_code)
    return codes


def _masked_national_id(patient) -> str:
    digits = (patient.national_id or "").strip()
    return digits[-4:] if len(digits) >= 4 else ""


def export_rows(claim: Claim) -> list[dict]:
    """The claim's lines as the insurer reads them: who (name, birth date, sex, member number and the last four
    digits of the national ID: enough to match their member, not the whole number), when, what was diagnosed and
    done, and the amounts."""
    from shifa.scheduling.models import Appointment

    lines = claim_lines(claim)
    appointment_ids = [
        line.coverage.invoice.appointment_id for line in lines if line.coverage.invoice.appointment_id
    ]
    appointments = Appointment.unscoped.select_related("doctor").in_bulk(appointment_ids)
    diagnoses = _diagnoses(appointment_ids)
    rows = []
    for index, line in enumerate(lines, start=1):
        coverage = line.coverage
        invoice = coverage.invoice
        patient = invoice.patient
        appointment = appointments.get(invoice.appointment_id)
        pre_approval = getattr(coverage, "pre_approval", None)
        rows.append(
            {
                "claim_number": claim.number,
                "insurer_code": claim.insurer.code,
                "period_start": claim.period_start.isoformat(),
                "period_end": claim.period_end.isoformat(),
                "line": index,
                "invoice_number": invoice.number,
                "service_date": coverage.service_date.isoformat(),
                "patient_name": patient.full_name,
                "patient_name_ar": patient.full_name_ar,
                "date_of_birth": patient.date_of_birth.isoformat() if patient.date_of_birth else "",
                "sex": patient.sex if patient.sex != "unknown" else "",
                "national_id_last4": _masked_national_id(patient),
                "member_number": coverage.member_number,
                "diagnosis_codes": diagnoses.get(invoice.appointment_id, []),
                "service": coverage.service.name_en if coverage.service_id else "",
                "service_ar": coverage.service.name_ar if coverage.service_id else "",
                "visit_type": appointment.visit_type if appointment else "",
                "doctor": appointment.doctor.full_name if appointment else "",
                "pre_approval_number": pre_approval.approval_number if pre_approval else "",
                "billed_amount": f"{coverage.base_amount:.3f}",
                "copay_percent": f"{coverage.copay_percent:.2f}",
                "patient_share": f"{coverage.base_amount - line.amount:.3f}",
                "claimed_amount": f"{line.amount:.3f}",
                "currency": "JOD",
            }
        )
    return rows


def export_claim(*, actor, claim_id) -> tuple[Claim, list[dict]]:
    """A claim sent to the insurer and its rows for the batch file (a draft is not a batch yet: 409)."""
    from django.utils.translation import gettext as _

    from shifa.core.errors import Conflict

    claim = claim_get(actor=actor, claim_id=claim_id)
    if claim.status not in EXPORTABLE:
        raise Conflict(_("Submit the claim before exporting it for the insurer."), code="claim_not_submitted")
    return claim, export_rows(claim)


def export_filename(claim: Claim, extension: str) -> str:
    return f"claim-{claim.insurer.code}-{claim.number}-{claim.period_start:%Y%m%d}-{claim.period_end:%Y%m%d}.{extension}"


#: Text that a spreadsheet would run as a formula: such a cell is written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if isinstance(value, list):
        value = " ".join(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def as_csv(rows: list[dict]) -> bytes:
    """The batch file as CSV: UTF-8 with a byte-order mark (so that Excel shows Arabic names), a header row of
    ``COLUMNS``, CRLF line ends; diagnosis codes separated by spaces; text that could run as a formula quoted
    off with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_json(claim: Claim, rows: list[dict]) -> bytes:
    """The batch file as JSON: the claim's header and its lines (the same fields as the CSV)."""
    body = {
        "claim": {
            "number": claim.number,
            "insurer": {
                "code": claim.insurer.code,
                "name": {"ar": claim.insurer.name_ar, "en": claim.insurer.name_en},
            },
            "period": {"start": claim.period_start.isoformat(), "end": claim.period_end.isoformat()},
            "status": claim.status,
            "submitted_at": _iso(claim.submitted_at),
            "claimed_amount": {"amount": f"{claim.claimed_amount:.3f}", "currency": "JOD"},
            "lines": len(rows),
        },
        "columns": list(COLUMNS),
        "lines": [
            {**row, "diagnosis_codes": [{"system": ICD9CM, "code": code} for code in row["diagnosis_codes"]]}
            for row in rows
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")


def _iso(value: dt.datetime | None) -> str | None:
    from shifa.core import timezones

    return timezones.isoformat_z(value) if value else None


def clinic_insurers(*, actor) -> list:
    """The insurers the clinic has (or had) terms with, by name: those it can claim from."""
    from shifa.catalog.models import InsuranceCompany
    from shifa.directory.models import InsurancePartner

    partnered = InsurancePartner.objects.for_clinic(actor.require_clinic()).values("insurer_id")
    return list(InsuranceCompany.objects.filter(pk__in=partnered).order_by("name_en"))


def invoice_by_number(*, actor, number: str):
    """One of the clinic's invoices by its number (``2026-000123``), or None."""
    from shifa.billing.models import Invoice

    number = (number or "").strip()
    if not number:
        return None
    return Invoice.objects.for_clinic(actor.require_clinic()).filter(number=number).first()
