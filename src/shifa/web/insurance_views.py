"""The clinic console's insurance pages (PAY-2): insurer's shares of invoices, the pre-approval queue, and claims
to insurers with their batch files. Thin: the same queries and actions as ``shifa.insurance.api``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.core.errors import FieldError, NotFound, Problem, ValidationFailed
from shifa.core.money import Money
from shifa.insurance import actions, queries
from shifa.insurance.api import export_response
from shifa.insurance.models import ClaimStatus, CoverageStatus, PreApprovalStatus

from .account_views import problem_text
from .clinic_views import _render

CLAIMS = "billing.claims"


def _insurer_choices(request, blank: str) -> list[tuple[str, str]]:
    language = get_language()
    return [("", blank)] + [
        (i.code, i.display_name(language)) for i in queries.clinic_insurers(actor=request.actor)
    ]


def _invoice_id(request, number: str, field: str = "invoice_number"):
    invoice = queries.invoice_by_number(actor=request.actor, number=number)
    if invoice is None:
        raise ValidationFailed(
            errors=[FieldError(field, "unknown", _("No invoice of this clinic has this number."))]
        )
    return invoice.external_id


def _put_errors(form: forms.Form, exc: Problem, fields: dict[str, str] | None = None) -> None:
    """Show a problem on the form: field errors beside their fields (renamed by ``fields``), the rest on top."""
    placed = False
    for error in exc.errors:
        name = (fields or {}).get(error.field, error.field)
        if name in form.fields:
            form.add_error(name, str(error.message))
            placed = True
    if not placed:
        form.add_error(None, problem_text(exc))


# --- insurer's shares -------------------------------------------------------------------------------------------


class ApplyForm(forms.Form):
    invoice_number = forms.CharField(label=gettext_lazy("Invoice number"), max_length=20)
    insurer = forms.ChoiceField(label=gettext_lazy("Insurer"), required=False)
    member_number = forms.CharField(
        label=gettext_lazy("Member number"),
        max_length=40,
        required=False,
        help_text=gettext_lazy("As on the patient's insurance card"),
    )

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["insurer"].choices = _insurer_choices(request, _("The insurer named at booking"))


def _coverages_page(request: HttpRequest, *, form=None, status: int = 200) -> HttpResponse:
    state = request.GET.get("status") or None
    if state not in CoverageStatus.values:
        state = None
    found = queries.coverage_list(actor=request.actor, status=state, cursor=request.GET.get("cursor") or None)
    return _render(
        request,
        "web/clinic/insurance_coverages.html",
        "claims",
        form=form or ApplyForm(request=request),
        coverages=found.items,
        next_cursor=found.next_cursor,
        state=state,
        states=CoverageStatus.choices,
        status=status,
    )


@page(CLAIMS, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_insurance(request: HttpRequest, clinic_id) -> HttpResponse:
    """Insurer's shares of the clinic's invoices, newest first; and the desk applies a patient's insurer to an
    invoice (by its number)."""
    if request.method == "GET":
        return _coverages_page(request)
    form = ApplyForm(request.POST, request=request)
    if not form.is_valid():
        return _coverages_page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        coverage, created = actions.coverage_apply(
            actor=request.actor,
            invoice_id=_invoice_id(request, data["invoice_number"]),
            insurer=data["insurer"] or None,
            member_number=data["member_number"],
        )
    except Problem as exc:
        _put_errors(form, exc)
        return _coverages_page(request, form=form, status=409 if exc.status == 409 else 400)
    if coverage.status == CoverageStatus.AWAITING_APPROVAL:
        messages.info(
            request, _("The insurer must approve this first: the request is in the pre-approval queue.")
        )
    elif created:
        messages.success(
            request,
            _("The insurer's share of %(amount)s is posted on the invoice.")
            % {"amount": Money(coverage.insurer_amount, coverage.invoice.currency).format(get_language())},
        )
    else:
        messages.info(request, _("This invoice's insurance was already applied."))
    return redirect(reverse("web:clinic_insurance", kwargs={"clinic_id": clinic_id}))


# --- pre-approvals ------------------------------------------------------------------------------------------------


class ApproveForm(forms.Form):
    pre_approval_id = forms.UUIDField(widget=forms.HiddenInput)
    approval_number = forms.CharField(label=gettext_lazy("Approval number"), max_length=60)
    approved_amount = forms.DecimalField(
        label=gettext_lazy("Amount approved (JOD)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=3,
        help_text=gettext_lazy("Only when the insurer approved less than its share"),
    )


class DenyForm(forms.Form):
    pre_approval_id = forms.UUIDField(widget=forms.HiddenInput)
    reason = forms.CharField(label=gettext_lazy("Insurer's reason"), max_length=300, required=False)


@page(CLAIMS, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_pre_approvals(request: HttpRequest, clinic_id) -> HttpResponse:
    """Requests waiting for the insurer's answer, oldest first: record the approval (its number) or the denial."""
    problem, status = "", 200
    if request.method == "POST":
        step = request.POST.get("step")
        form = (ApproveForm if step == "approve" else DenyForm)(request.POST)
        if step not in {"approve", "deny"} or not form.is_valid():
            problem, status = _("Enter the insurer's approval number."), 400
        else:
            data = form.cleaned_data
            try:
                if step == "approve":
                    actions.pre_approval_approve(
                        actor=request.actor,
                        pre_approval_id=data["pre_approval_id"],
                        approval_number=data["approval_number"],
                        approved_amount=data["approved_amount"],
                    )
                    messages.success(
                        request, _("Approval recorded: the insurer's share is posted on the invoice.")
                    )
                else:
                    actions.pre_approval_deny(
                        actor=request.actor, pre_approval_id=data["pre_approval_id"], reason=data["reason"]
                    )
                    messages.success(request, _("Denial recorded: the patient pays the whole invoice."))
            except NotFound:
                raise
            except Problem as exc:
                problem, status = problem_text(exc), 409 if exc.status == 409 else 400
            else:
                return redirect(reverse("web:clinic_pre_approvals", kwargs={"clinic_id": clinic_id}))
    waiting = queries.pre_approvals(actor=request.actor, status=PreApprovalStatus.REQUESTED, limit=200).items
    answered = queries.pre_approvals(actor=request.actor, status=PreApprovalStatus.APPROVED, limit=20).items
    denied = queries.pre_approvals(actor=request.actor, status=PreApprovalStatus.DENIED, limit=20).items
    return _render(
        request,
        "web/clinic/insurance_pre_approvals.html",
        "claims",
        waiting=waiting,
        answered=sorted([*answered, *denied], key=lambda p: p.decided_at, reverse=True)[:20],
        problem=problem,
        status=status,
    )


# --- claims -------------------------------------------------------------------------------------------------------


class ClaimForm(forms.Form):
    insurer = forms.ChoiceField(label=gettext_lazy("Insurer"))
    period_start = forms.DateField(
        label=gettext_lazy("Services from"), widget=forms.DateInput({"type": "date"})
    )
    period_end = forms.DateField(
        label=gettext_lazy("Services until"), widget=forms.DateInput({"type": "date"})
    )

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["insurer"].choices = _insurer_choices(request, _("Choose an insurer"))


def _claims_page(request: HttpRequest, *, form=None, status: int = 200) -> HttpResponse:
    state = request.GET.get("status") or None
    if state not in ClaimStatus.values:
        state = None
    found = queries.claim_list(actor=request.actor, status=state, cursor=request.GET.get("cursor") or None)
    counts = queries.claim_counts(actor=request.actor)
    return _render(
        request,
        "web/clinic/insurance_claims.html",
        "claims",
        form=form or ClaimForm(request=request),
        claims=found.items,
        next_cursor=found.next_cursor,
        state=state,
        tabs=[(value, label, counts[value]) for value, label in ClaimStatus.choices],
        waiting=queries.pre_approvals(actor=request.actor, limit=200).items,
        status=status,
    )


@page(CLAIMS, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_claims(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's claims to insurers by status; and a new draft claim for an insurer and period."""
    if request.method == "GET":
        return _claims_page(request)
    form = ClaimForm(request.POST, request=request)
    if not form.is_valid():
        return _claims_page(request, form=form, status=400)
    try:
        claim = actions.claim_open(actor=request.actor, **form.cleaned_data)
    except Problem as exc:
        _put_errors(form, exc)
        return _claims_page(request, form=form, status=400)
    return redirect(_claim_url(clinic_id, claim.external_id))


def _claim_url(clinic_id, claim_id) -> str:
    return reverse("web:clinic_claim", kwargs={"clinic_id": clinic_id, "claim_id": claim_id})


class AddLineForm(forms.Form):
    invoice_number = forms.CharField(label=gettext_lazy("Invoice number"), max_length=20)


class ApproveClaimForm(forms.Form):
    approved_amount = forms.DecimalField(
        label=gettext_lazy("Amount approved (JOD)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=3,
        help_text=gettext_lazy("Leave empty when the insurer approved the whole claim"),
    )


class RejectClaimForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Insurer's reason"), max_length=500)


class PayClaimForm(forms.Form):
    payment_reference = forms.CharField(label=gettext_lazy("Payment reference"), max_length=100)
    paid_on = forms.DateField(label=gettext_lazy("Paid on"), widget=forms.DateInput({"type": "date"}))


STEP_FORMS = {
    "add": AddLineForm,
    "approve": ApproveClaimForm,
    "reject": RejectClaimForm,
    "pay": PayClaimForm,
}


def _claim_page(request: HttpRequest, claim_id, *, forms_: dict | None = None, problem: str = "", status=200):
    claim = queries.claim_get(actor=request.actor, claim_id=claim_id)
    lines = queries.claim_lines(claim)
    forms_ = forms_ or {}
    return _render(
        request,
        "web/clinic/insurance_claim.html",
        "claims",
        claim=claim,
        lines=lines,
        total=queries.claim_total(lines),
        claimable=queries.claimable(actor=request.actor, claim=claim)
        if claim.status == ClaimStatus.DRAFT
        else [],
        exportable=claim.status in queries.EXPORTABLE,
        step_forms={step: forms_.get(step) or form() for step, form in STEP_FORMS.items()},
        problem=problem,
        status=status,
    )


def _claim_step(request: HttpRequest, claim_id, step: str, form) -> str:
    """Run one step; the message to show after it."""
    actor = request.actor
    data = form.cleaned_data if form is not None else {}
    if step == "add":
        actions.claim_line_add(
            actor=actor, claim_id=claim_id, invoice_id=_invoice_id(request, data["invoice_number"])
        )
        return _("The invoice's insurer's share is in the claim.")
    if step == "fill":
        added = actions.claim_lines_fill(actor=actor, claim_id=claim_id)
        return _("Shares added to the claim: %(count)d.") % {"count": added}
    if step == "remove":
        actions.claim_line_remove(actor=actor, claim_id=claim_id, line_id=request.POST.get("line_id", ""))
        return _("The share is out of the claim.")
    if step == "submit":
        actions.claim_submit(actor=actor, claim_id=claim_id)
        return _("The claim is submitted. Download its file for the insurer.")
    if step == "approve":
        actions.claim_approve(actor=actor, claim_id=claim_id, approved_amount=data["approved_amount"])
        return _("The insurer's approval is recorded.")
    if step == "reject":
        actions.claim_reject(actor=actor, claim_id=claim_id, reason=data["reason"])
        return _("The rejection is recorded; its shares can be claimed again.")
    actions.claim_pay(
        actor=actor, claim_id=claim_id, payment_reference=data["payment_reference"], paid_on=data["paid_on"]
    )
    return _("The insurer's payment is recorded.")


@page(CLAIMS, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_claim(request: HttpRequest, clinic_id, claim_id) -> HttpResponse:
    """A claim with its lines and what can be done with it now: add shares (draft), submit, record the insurer's
    approval, rejection or payment; download its batch file once submitted."""
    if request.method == "GET":
        return _claim_page(request, claim_id)
    step = request.POST.get("step", "")
    if step not in {*STEP_FORMS, "fill", "remove", "submit"}:
        return _claim_page(request, claim_id, problem=_("Choose what to do."), status=400)
    form = STEP_FORMS[step](request.POST) if step in STEP_FORMS else None
    if form is not None and not form.is_valid():
        return _claim_page(request, claim_id, forms_={step: form}, status=400)
    try:
        done = _claim_step(request, claim_id, step, form)
    except NotFound:
        raise
    except Problem as exc:
        if form is not None and exc.errors:
            _put_errors(form, exc, {"invoice_id": "invoice_number"})
            return _claim_page(request, claim_id, forms_={step: form}, status=400)
        return _claim_page(
            request, claim_id, problem=problem_text(exc), status=409 if exc.status == 409 else 400
        )
    messages.success(request, done)
    return redirect(_claim_url(clinic_id, claim_id))


@page(CLAIMS)
def clinic_claim_export(request: HttpRequest, clinic_id, claim_id) -> HttpResponse:
    """The submitted claim's batch file for the insurer (``?format=csv`` or ``json``)."""
    fmt = request.GET.get("format", "csv")
    if fmt not in {"csv", "json"}:
        fmt = "csv"
    try:
        claim, rows = queries.export_claim(actor=request.actor, claim_id=claim_id)
    except NotFound:
        raise
    except Problem as exc:
        return _claim_page(request, claim_id, problem=problem_text(exc), status=409)
    return export_response(claim, rows, fmt)


urlpatterns = [
    path("clinic/<uuid:clinic_id>/insurance", clinic_insurance, name="clinic_insurance"),
    path(
        "clinic/<uuid:clinic_id>/insurance/pre-approvals", clinic_pre_approvals, name="clinic_pre_approvals"
    ),
    path("clinic/<uuid:clinic_id>/insurance/claims", clinic_claims, name="clinic_claims"),
    path("clinic/<uuid:clinic_id>/insurance/claims/<uuid:claim_id>", clinic_claim, name="clinic_claim"),
    path(
        "clinic/<uuid:clinic_id>/insurance/claims/<uuid:claim_id>/export",
        clinic_claim_export,
        name="clinic_claim_export",
    ),
]
