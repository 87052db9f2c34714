"""Path parameters and bodies of the insurance routes (PAY-2: insurer's shares, pre-approvals, claims and their
batch files; the API and the clinic console's pages) for the generated route tests (tests/routes.py).

Claims are made in the state the route acts on: a draft with a share to submit, submitted to approve, reject or
export, approved to pay."""

from __future__ import annotations

import datetime as dt


def _desk(clinic):
    from tests.insurance.support import actor_of, staff

    return actor_of(staff(clinic, "secretary"), clinic)


def _period(clinic) -> tuple[dt.date, dt.date]:
    from tests.insurance.support import today

    day = today(clinic)
    return day - dt.timedelta(days=30), day


def _covered(clinic):
    from tests.insurance.support import covered_invoice

    return covered_invoice(clinic)


def _coverage(t) -> str:
    return str(_covered(t.clinic)[1].external_id)


def _pre_approval_in(clinic) -> str:
    """A request for the insurer's approval waiting at ``clinic`` (its terms with MEICO need one)."""
    from shifa.insurance.actions import apply_coverage
    from tests.insurance.support import insured_invoice, terms

    terms(clinic, code="meico", pre_approval=True)
    coverage = apply_coverage(actor=_desk(clinic), invoice=insured_invoice(clinic, code="meico"))
    return str(coverage.pre_approval.external_id)


def _claim(t, spec) -> str:
    from shifa.insurance import actions

    desk = _desk(t.clinic)
    _covered(t.clinic)
    start, end = _period(t.clinic)
    claim = actions.claim_open(actor=desk, insurer="jic", period_start=start, period_end=end)
    actions.claim_lines_fill(actor=desk, claim_id=claim.external_id)
    path = spec.path
    if path.endswith(("/approve", "/reject", "/export", "/pay")):
        actions.claim_submit(actor=desk, claim_id=claim.external_id)
    if path.endswith("/pay"):
        actions.claim_approve(actor=desk, claim_id=claim.external_id)
    t.insurance_claim = claim
    return str(claim.external_id)


def _line(t) -> str:
    import uuid

    from shifa.insurance.models import ClaimLine

    claim = getattr(t, "insurance_claim", None)
    line = ClaimLine.unscoped.filter(claim=claim).first() if claim is not None else None
    return str(line.external_id) if line is not None else str(uuid.uuid4())


def _clinic_of(user):
    from tests.routes import _clinic_of as clinic_of

    return clinic_of(user)


def _coverage_body(user) -> dict:
    from tests.insurance.support import insured_invoice, terms

    clinic = _clinic_of(user)
    terms(clinic)
    return {"invoice_id": str(insured_invoice(clinic).external_id)}


def _claim_body(user) -> dict:
    from tests.insurance.support import terms

    clinic = _clinic_of(user)
    terms(clinic)
    start, end = _period(clinic)
    return {"insurer": "jic", "period_start": start.isoformat(), "period_end": end.isoformat()}


def _line_body(user) -> dict:
    return {"invoice_id": str(_covered(_clinic_of(user))[0].external_id)}


def _pay_body(user) -> dict:
    from tests.insurance.support import today

    return {"payment_reference": "BANK-1", "paid_on": today(_clinic_of(user)).isoformat()}


def _apply_form(user) -> dict:
    from tests.insurance.support import insured_invoice, terms

    clinic = _clinic_of(user)
    terms(clinic)
    return {"invoice_number": insured_invoice(clinic).number, "member_number": "M-1"}


def _approve_form(user) -> dict:
    return {
        "step": "approve",
        "pre_approval_id": _pre_approval_in(_clinic_of(user)),
        "approval_number": "PA-1",
    }


PROVIDERS = {
    "coverage_id": _coverage,
    "pre_approval_id": lambda t: _pre_approval_in(t.clinic),
    "claim_id": _claim,
    "line_id": _line,
}
NEEDS_ROUTE = {"claim_id"}

_API = "/api/v1/clinics/{clinic_id}/insurance"
_PAGE = "/clinic/{clinic_id}/insurance"
BODIES: dict = {
    ("POST", f"{_API}/coverages"): _coverage_body,
    ("PATCH", f"{_API}/coverages/{{coverage_id}}"): {"member_number": "M-2"},
    ("POST", f"{_API}/pre-approvals/{{pre_approval_id}}/approve"): {"approval_number": "PA-1"},
    ("POST", f"{_API}/pre-approvals/{{pre_approval_id}}/deny"): {"reason": "Not a benefit"},
    ("POST", f"{_API}/claims"): _claim_body,
    ("POST", f"{_API}/claims/{{claim_id}}/lines"): _line_body,
    ("POST", f"{_API}/claims/{{claim_id}}/approve"): {"approved_amount": "10.000"},
    ("POST", f"{_API}/claims/{{claim_id}}/reject"): {"reason": "Member number missing"},
    ("POST", f"{_API}/claims/{{claim_id}}/pay"): _pay_body,
    ("POST", _PAGE): _apply_form,
    ("POST", f"{_PAGE}/pre-approvals"): _approve_form,
    ("POST", f"{_PAGE}/claims"): _claim_body,
    ("POST", f"{_PAGE}/claims/{{claim_id}}"): {"step": "fill"},
}
QUERIES: dict = {
    ("GET", f"{_API}/claims/{{claim_id}}/export"): "?format=csv",
    ("GET", f"{_PAGE}/claims/{{claim_id}}/export"): "?format=json",
}
