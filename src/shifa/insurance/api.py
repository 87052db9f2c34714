"""Insurance API (PAY-2) for the clinic's desk: applying a patient's insurer to an invoice, the pre-approval
queue, and claims to insurers from draft to paid with their batch file."""

from __future__ import annotations

import datetime as dt
import uuid

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, queries
from .models import Claim, ClaimLine, Coverage, PreApproval

router = Router(tags=["insurance"])
CLAIMS = operation("billing.claims")
PROBLEMS = {**ERRORS, 409: ProblemOut}
OK = {200: dict, **PROBLEMS}
CREATED = {201: dict, **PROBLEMS}
BASE = "/clinics/{clinic_id}/insurance"


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def _iso(value):
    return timezones.isoformat_z(value) if value else None


def _money(amount):
    return {"amount": f"{amount:.3f}", "currency": "JOD"} if amount is not None else None


def _insurer(company, language: str) -> dict:
    return {"code": company.code, "name": company.display_name(language)}


def pre_approval_out(pre_approval: PreApproval | None) -> dict | None:
    if pre_approval is None:
        return None
    return {
        "id": str(pre_approval.external_id),
        "status": pre_approval.status,
        "approval_number": pre_approval.approval_number,
        "approved_amount": _money(pre_approval.approved_amount),
        "reason": pre_approval.reason,
        "requested_at": _iso(pre_approval.created_at),
        "decided_at": _iso(pre_approval.decided_at),
    }


def coverage_out(coverage: Coverage, language: str) -> dict:
    invoice = coverage.invoice
    return {
        "id": str(coverage.external_id),
        "invoice": {"id": str(invoice.external_id), "number": invoice.number},
        "patient": {"id": str(invoice.patient.external_id), "name": invoice.patient.display_name(language)},
        "insurer": _insurer(coverage.insurer, language),
        "service": {"id": str(coverage.service.external_id), "name": coverage.service.display_name(language)}
        if coverage.service_id
        else None,
        "member_number": coverage.member_number,
        "service_date": coverage.service_date.isoformat(),
        "billed": _money(coverage.base_amount),
        "copay_percent": f"{coverage.copay_percent:.2f}",
        "insurer_share": _money(coverage.insurer_amount),
        "posted": _money(coverage.entry.amount) if coverage.entry_id else None,
        "status": coverage.status,
        "pre_approval": pre_approval_out(getattr(coverage, "pre_approval", None)),
        "created_at": _iso(coverage.created_at),
    }


def line_out(line: ClaimLine, language: str) -> dict:
    coverage = line.coverage
    invoice = coverage.invoice
    return {
        "id": str(line.external_id),
        "invoice": {"id": str(invoice.external_id), "number": invoice.number},
        "patient": {"id": str(invoice.patient.external_id), "name": invoice.patient.display_name(language)},
        "service_date": coverage.service_date.isoformat(),
        "member_number": coverage.member_number,
        "amount": _money(line.amount),
        "released_at": _iso(line.released_at),
    }


def claim_out(claim: Claim, language: str, lines: list[ClaimLine] | None = None) -> dict:
    body = {
        "id": str(claim.external_id),
        "number": claim.number,
        "insurer": _insurer(claim.insurer, language),
        "period": {"start": claim.period_start.isoformat(), "end": claim.period_end.isoformat()},
        "status": claim.status,
        "claimed": _money(claim.claimed_amount),
        "approved": _money(claim.approved_amount),
        "rejection_reason": claim.rejection_reason,
        "payment_reference": claim.payment_reference,
        "paid_on": claim.paid_on.isoformat() if claim.paid_on else None,
        "created_at": _iso(claim.created_at),
        "submitted_at": _iso(claim.submitted_at),
        "decided_at": _iso(claim.decided_at),
        "paid_at": _iso(claim.paid_at),
    }
    if lines is not None:
        body["lines"] = [line_out(line, language) for line in lines]
        body["lines_total"] = _money(queries.claim_total(lines))
    elif hasattr(claim, "line_count"):
        body["line_count"] = claim.line_count
        body["lines_total"] = _money(claim.line_total)
    return body


class PageParams(Schema):
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


# --- coverages ----------------------------------------------------------------------------------------------------


class CoverageIn(Schema):
    invoice_id: uuid.UUID
    insurer: str | None = Field(
        None,
        max_length=40,
        description="The insurer's code; left out: the insurer named on the invoice's visit",
    )
    service_id: uuid.UUID | None = Field(
        None, description="The clinic's service billed; left out: the visit's"
    )
    member_number: str = Field("", max_length=40, description="The patient's number on the insurer's card")


class CoverageQuery(PageParams):
    status: str | None = Field(None, pattern="^(posted|awaiting_approval|denied)$")


class MemberNumberIn(Schema):
    member_number: str = Field(..., max_length=40)


@router.post(
    f"{BASE}/coverages",
    response={200: dict, 201: dict, **PROBLEMS},
    operation_id="insurance_apply_coverage",
    summary="Split an invoice by the clinic's terms with the patient's insurer: post the insurer's share, or ask "
    "for the insurer's pre-approval first where the terms need it (409 with the reason when nothing applies)",
    **CLAIMS,
)
def apply_coverage(request: HttpRequest, clinic_id: uuid.UUID, payload: CoverageIn):
    def run():
        coverage, created = actions.coverage_apply(
            actor=request.actor,
            invoice_id=payload.invoice_id,
            insurer=payload.insurer,
            service_id=payload.service_id,
            member_number=payload.member_number,
        )
        found = queries.coverage_get(actor=request.actor, coverage_id=coverage.external_id)
        return (201 if created else 200), coverage_out(found, _language(request))

    return Status(*once(request, run))


@router.get(
    f"{BASE}/coverages",
    response=OK,
    operation_id="insurance_list_coverages",
    summary="The clinic's insurer's shares, newest first",
    **CLAIMS,
)
def list_coverages(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[CoverageQuery]):
    page = queries.coverage_list(
        actor=request.actor, status=filters.status, cursor=filters.cursor, limit=filters.limit
    )
    language = _language(request)
    return {"items": [coverage_out(c, language) for c in page.items], "next_cursor": page.next_cursor}


@router.get(
    f"{BASE}/coverages/{{coverage_id}}",
    response=OK,
    operation_id="insurance_get_coverage",
    summary="One invoice's split between patient and insurer",
    **CLAIMS,
)
def get_coverage(request: HttpRequest, clinic_id: uuid.UUID, coverage_id: uuid.UUID):
    return coverage_out(
        queries.coverage_get(actor=request.actor, coverage_id=coverage_id), _language(request)
    )


@router.patch(
    f"{BASE}/coverages/{{coverage_id}}",
    response=OK,
    operation_id="insurance_update_coverage",
    summary="Correct the patient's member number (until the share is in a submitted claim)",
    **CLAIMS,
)
def update_coverage(
    request: HttpRequest, clinic_id: uuid.UUID, coverage_id: uuid.UUID, payload: MemberNumberIn
):
    actions.coverage_member_number_set(
        actor=request.actor, coverage_id=coverage_id, member_number=payload.member_number
    )
    return coverage_out(
        queries.coverage_get(actor=request.actor, coverage_id=coverage_id), _language(request)
    )


# --- pre-approvals ------------------------------------------------------------------------------------------------


class PreApprovalQuery(PageParams):
    status: str = Field("requested", pattern="^(requested|approved|denied)$")


class ApproveIn(Schema):
    approval_number: str = Field(..., max_length=60)
    approved_amount: str | None = Field(
        None,
        description="When the insurer approved less than its share by the clinic's terms",
        examples=["12.500"],
    )


class DenyIn(Schema):
    reason: str = Field("", max_length=300)


def _pre_approval_answer(request, pre_approval: PreApproval) -> dict:
    found = queries.pre_approval_get(actor=request.actor, pre_approval_id=pre_approval.external_id)
    return {**pre_approval_out(found), "coverage": coverage_out(found.coverage, _language(request))}


@router.get(
    f"{BASE}/pre-approvals",
    response=OK,
    operation_id="insurance_list_pre_approvals",
    summary="The pre-approval queue: requests waiting for the insurer's answer, oldest first",
    **CLAIMS,
)
def list_pre_approvals(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[PreApprovalQuery]):
    page = queries.pre_approvals(
        actor=request.actor, status=filters.status, cursor=filters.cursor, limit=filters.limit
    )
    language = _language(request)
    return {
        "items": [
            {**pre_approval_out(p), "coverage": coverage_out(p.coverage, language)} for p in page.items
        ],
        "next_cursor": page.next_cursor,
    }


@router.post(
    f"{BASE}/pre-approvals/{{pre_approval_id}}/approve",
    response=OK,
    operation_id="insurance_approve_pre_approval",
    summary="The insurer approved: record its approval number and post its share",
    **CLAIMS,
)
def approve_pre_approval(
    request: HttpRequest, clinic_id: uuid.UUID, pre_approval_id: uuid.UUID, payload: ApproveIn
):
    found = actions.pre_approval_approve(
        actor=request.actor,
        pre_approval_id=pre_approval_id,
        approval_number=payload.approval_number,
        approved_amount=payload.approved_amount,
    )
    return _pre_approval_answer(request, found)


@router.post(
    f"{BASE}/pre-approvals/{{pre_approval_id}}/deny",
    response=OK,
    operation_id="insurance_deny_pre_approval",
    summary="The insurer refused: nothing is posted, the patient's share stays the whole bill",
    **CLAIMS,
)
def deny_pre_approval(
    request: HttpRequest, clinic_id: uuid.UUID, pre_approval_id: uuid.UUID, payload: DenyIn
):
    found = actions.pre_approval_deny(
        actor=request.actor, pre_approval_id=pre_approval_id, reason=payload.reason
    )
    return _pre_approval_answer(request, found)


# --- claims -------------------------------------------------------------------------------------------------------


class ClaimQuery(PageParams):
    status: str | None = Field(None, pattern="^(draft|submitted|approved|rejected|paid)$")
    insurer: str | None = Field(None, max_length=40)


class ClaimIn(Schema):
    insurer: str = Field(..., max_length=40)
    period_start: dt.date
    period_end: dt.date


class LineIn(Schema):
    invoice_id: uuid.UUID


class ClaimApproveIn(Schema):
    approved_amount: str | None = Field(
        None, description="Less than claimed: a partial approval", examples=["80.000"]
    )


class ClaimRejectIn(Schema):
    reason: str = Field(..., max_length=500)


class ClaimPayIn(Schema):
    payment_reference: str = Field(..., max_length=100)
    paid_on: dt.date


class ExportQuery(Schema):
    format: str = Field("csv", pattern="^(csv|json)$")


def _claim_answer(request, claim: Claim, status: int = 200) -> tuple[int, dict]:
    found = queries.claim_get(actor=request.actor, claim_id=claim.external_id)
    return status, claim_out(found, _language(request), queries.claim_lines(found))


@router.get(
    f"{BASE}/claims",
    response=OK,
    operation_id="insurance_list_claims",
    summary="The clinic's claims to insurers, newest first; by status or insurer",
    **CLAIMS,
)
def list_claims(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[ClaimQuery]):
    page = queries.claim_list(
        actor=request.actor,
        status=filters.status,
        insurer=filters.insurer,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    language = _language(request)
    return {"items": [claim_out(c, language) for c in page.items], "next_cursor": page.next_cursor}


@router.post(
    f"{BASE}/claims",
    response=CREATED,
    operation_id="insurance_create_claim",
    summary="A draft claim to one of the clinic's insurers for services in a period; send an Idempotency-Key",
    **CLAIMS,
)
def create_claim(request: HttpRequest, clinic_id: uuid.UUID, payload: ClaimIn):
    def run():
        claim = actions.claim_open(
            actor=request.actor,
            insurer=payload.insurer,
            period_start=payload.period_start,
            period_end=payload.period_end,
        )
        return _claim_answer(request, claim, 201)

    return Status(*once(request, run))


@router.get(
    f"{BASE}/claims/{{claim_id}}",
    response=OK,
    operation_id="insurance_get_claim",
    summary="A claim with its lines",
    **CLAIMS,
)
def get_claim(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID):
    return Status(*_claim_answer(request, queries.claim_get(actor=request.actor, claim_id=claim_id)))


@router.post(
    f"{BASE}/claims/{{claim_id}}/lines",
    response=CREATED,
    operation_id="insurance_add_claim_line",
    summary="Put one invoice's insurer's share into a draft claim (a share is claimed once: 409)",
    **CLAIMS,
)
def add_claim_line(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID, payload: LineIn):
    actions.claim_line_add(actor=request.actor, claim_id=claim_id, invoice_id=payload.invoice_id)
    return Status(*_claim_answer(request, queries.claim_get(actor=request.actor, claim_id=claim_id), 201))


@router.post(
    f"{BASE}/claims/{{claim_id}}/lines/fill",
    response=OK,
    operation_id="insurance_fill_claim",
    summary="Put every unclaimed share of the claim's insurer and period into a draft claim",
    **CLAIMS,
)
def fill_claim(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID):
    added = actions.claim_lines_fill(actor=request.actor, claim_id=claim_id)
    status, body = _claim_answer(request, queries.claim_get(actor=request.actor, claim_id=claim_id))
    return Status(status, {**body, "added": added})


@router.delete(
    f"{BASE}/claims/{{claim_id}}/lines/{{line_id}}",
    response={204: None, **PROBLEMS},
    operation_id="insurance_remove_claim_line",
    summary="Take a share out of a draft claim",
    **CLAIMS,
)
def remove_claim_line(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID, line_id: uuid.UUID):
    actions.claim_line_remove(actor=request.actor, claim_id=claim_id, line_id=line_id)
    return Status(204, None)


@router.post(
    f"{BASE}/claims/{{claim_id}}/submit",
    response=OK,
    operation_id="insurance_submit_claim",
    summary="Send the claim to the insurer: its lines and total are fixed from now on",
    **CLAIMS,
)
def submit_claim(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID):
    return Status(*_claim_answer(request, actions.claim_submit(actor=request.actor, claim_id=claim_id)))


@router.post(
    f"{BASE}/claims/{{claim_id}}/approve",
    response=OK,
    operation_id="insurance_approve_claim",
    summary="The insurer approved the claim, in full or in part",
    **CLAIMS,
)
def approve_claim(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID, payload: ClaimApproveIn):
    claim = actions.claim_approve(
        actor=request.actor, claim_id=claim_id, approved_amount=payload.approved_amount
    )
    return Status(*_claim_answer(request, claim))


@router.post(
    f"{BASE}/claims/{{claim_id}}/reject",
    response=OK,
    operation_id="insurance_reject_claim",
    summary="The insurer rejected the claim (with its reason); its shares may be claimed again",
    **CLAIMS,
)
def reject_claim(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID, payload: ClaimRejectIn):
    claim = actions.claim_reject(actor=request.actor, claim_id=claim_id, reason=payload.reason)
    return Status(*_claim_answer(request, claim))


@router.post(
    f"{BASE}/claims/{{claim_id}}/pay",
    response=OK,
    operation_id="insurance_pay_claim",
    summary="The insurer paid the approved amount: the payment's reference and day",
    **CLAIMS,
)
def pay_claim(request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID, payload: ClaimPayIn):
    claim = actions.claim_pay(
        actor=request.actor,
        claim_id=claim_id,
        payment_reference=payload.payment_reference,
        paid_on=payload.paid_on,
    )
    return Status(*_claim_answer(request, claim))


def export_response(claim: Claim, rows: list[dict], fmt: str) -> HttpResponse:
    if fmt == "json":
        response = HttpResponse(queries.as_json(claim, rows), content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(queries.as_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{queries.export_filename(claim, fmt)}"'
    response["Cache-Control"] = "no-store"
    return response


@router.get(
    f"{BASE}/claims/{{claim_id}}/export",
    response={200: None, **PROBLEMS},
    operation_id="insurance_export_claim",
    summary="The claim's batch file for the insurer: CSV (UTF-8 with BOM, stable columns) or JSON",
    **CLAIMS,
)
def export_claim(
    request: HttpRequest, clinic_id: uuid.UUID, claim_id: uuid.UUID, filters: Query[ExportQuery]
):
    claim, rows = queries.export_claim(actor=request.actor, claim_id=claim_id)
    return export_response(claim, rows, filters.format)
