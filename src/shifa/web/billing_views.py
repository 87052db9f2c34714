"""Billing pages (PAY-1): the clinic's desk (open invoices, an invoice with its ledger, cash and card payments,
discounts, refunds, receipts, the invoice of an appointment), the patient's invoices, and the platform's revenue.
Thin: the same queries and actions as the API (``shifa.billing``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.billing import actions as billing_actions
from shifa.billing import policies as billing_policies
from shifa.billing import queries as billing_queries
from shifa.billing.api import month_range
from shifa.billing.models import EntryKind, Method
from shifa.core import timezones
from shifa.core.errors import FieldError, NotFound, Problem, ValidationFailed

from .account_views import problem_text, show_problem
from .clinic_views import _render

#: Arabic-Indic and Persian digits and the Arabic decimal separator, as a desk in Jordan may type them.
_DIGITS = str.maketrans(
    "".join(chr(c) for c in (*range(0x660, 0x66A), *range(0x6F0, 0x6FA), 0x66B)), "01234567890123456789."
)
STATUS_LABELS = {
    "open": gettext_lazy("Due"),
    "paid": gettext_lazy("Paid"),
    "refund_due": gettext_lazy("Refund due"),
    "all": gettext_lazy("All"),
}


class AmountField(forms.CharField):
    """An amount as typed (checked by the action, which says what is wrong with it); Arabic-Indic digits are
    read as the same number."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", gettext_lazy("Amount (JOD)"))
        kwargs.setdefault("max_length", 24)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "decimal", "dir": "ltr", "autocomplete": "off"}),
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        return super().to_python(value).translate(_DIGITS).replace(",", "").replace(" ", "")


class _DeskForm(forms.Form):
    #: A fresh value each time the form is shown: the same form sent twice (a double click) records once.
    token = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("token", uuid.uuid4().hex)


class PaymentForm(_DeskForm):
    amount = AmountField()
    method = forms.ChoiceField(
        label=gettext_lazy("Paid by"),
        choices=[(Method.CASH, Method.CASH.label), (Method.CARD, Method.CARD.label)],
        initial=Method.CASH,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("For a card: the terminal slip's number"),
    )


class DiscountForm(_DeskForm):
    amount = AmountField()
    note = forms.CharField(label=gettext_lazy("Why"), max_length=200)


class RefundForm(_DeskForm):
    amount = AmountField()
    method = forms.ChoiceField(
        label=gettext_lazy("Given back as"),
        choices=[(Method.CASH, Method.CASH.label), (Method.CARD, Method.CARD.label)],
        initial=Method.CASH,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=gettext_lazy("Why"), max_length=200)


ADJUSTMENTS = {"discount": (DiscountForm, EntryKind.DISCOUNT), "refund": (RefundForm, EntryKind.REFUND)}


def _entry_rows(invoice, entries, receipts_at: str, zone: str) -> list[dict]:
    return [
        {
            "entry": e,
            "at": timezones.wall_clock(e.created_at, zone),
            "receipt": f"{receipts_at}/{e.external_id}.pdf"
            if e.kind in billing_queries.RECEIPT_KINDS
            else None,
            "number": billing_queries.receipt_number(invoice, entries, e)
            if e.kind in billing_queries.RECEIPT_KINDS
            else "",
        }
        for e in entries
    ]


# --- the clinic's desk ------------------------------------------------------------------------------------------


@page("billing.view")
def clinic_billing(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's invoices, those with something due first shown."""
    actor = request.actor
    status = request.GET.get("status") or "open"
    if status not in billing_queries.INVOICE_STATUSES:
        status = "open"
    try:
        found = billing_queries.desk_invoice_list(
            actor=actor, status=status, cursor=request.GET.get("cursor") or None, limit=50
        )
    except ValidationFailed:
        found = billing_queries.desk_invoice_list(actor=actor, status=status, limit=50)
    zone = actor.clinic.time_zone
    rows = [
        {
            "invoice": i,
            "totals": billing_queries.row_totals(i),
            "status": billing_queries.invoice_status(billing_queries.row_totals(i)),
            "issued": timezones.wall_clock(i.created_at, zone),
        }
        for i in found.items
    ]
    return _render(
        request,
        "web/clinic/billing/invoices.html",
        "billing",
        rows=rows,
        shown=status,
        statuses=[(code, STATUS_LABELS[code]) for code in ("open", "refund_due", "paid", "all")],
        next_cursor=found.next_cursor,
        zone=zone,
    )


def _invoice_page(
    request: HttpRequest, invoice_id, *, forms_: dict | None = None, problem: str = "", status=200
):
    actor = request.actor
    invoice, entries, totals = billing_queries.desk_invoice(actor=actor, invoice_id=invoice_id)
    zone = invoice.clinic.time_zone
    can_take = billing_policies.may(actor, "billing.desk")
    can_adjust = billing_policies.may(actor, "billing.adjust")
    forms_ = forms_ or {}
    receipts_at = f"/api/v1/clinics/{invoice.clinic.external_id}/invoices/{invoice.external_id}/receipts"
    return _render(
        request,
        "web/clinic/billing/invoice.html",
        "billing",
        invoice=invoice,
        totals=totals,
        invoice_status=billing_queries.invoice_status(totals),
        owed_back=-totals.due if totals.due < 0 else None,
        lines=[e for e in entries if e.kind == EntryKind.CHARGE],
        rows=_entry_rows(invoice, entries, receipts_at, zone),
        issued=timezones.wall_clock(invoice.created_at, zone),
        appointment_at=timezones.wall_clock(invoice.appointment.starts_at, zone)
        if invoice.appointment_id
        else None,
        can_take=can_take,
        can_adjust=can_adjust,
        payment_form=forms_.get("payment")
        or PaymentForm(prefix="pay", initial={"amount": f"{totals.due:.3f}"} if totals.due > 0 else None),
        discount_form=forms_.get("discount") or DiscountForm(prefix="discount"),
        refund_form=forms_.get("refund")
        or RefundForm(prefix="refund", initial={"amount": f"{-totals.due:.3f}"} if totals.due < 0 else None),
        problem=problem,
        zone=zone,
        status=status,
    )


@page("billing.view")
def clinic_billing_invoice(request: HttpRequest, clinic_id, invoice_id) -> HttpResponse:
    return _invoice_page(request, invoice_id)


def _post_entry(request: HttpRequest, clinic_id, invoice_id, form, key: str, kind: str) -> HttpResponse:
    """Post what ``form`` says; back to the invoice, or the invoice page again with the form's errors."""
    answer = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            entry, _new = billing_actions.desk_entry_post(
                actor=request.actor,
                invoice_id=invoice_id,
                kind=kind,
                amount=data["amount"],
                method=data.get("method", ""),
                note=data["note"],
                reference=f"desk-{data['token']}",
            )
        except NotFound:
            raise
        except Problem as exc:
            if exc.code == "reference_used":  # the token was tampered with: show a fresh form
                return _invoice_page(request, invoice_id, problem=problem_text(exc), status=409)
            answer = show_problem(form, exc)
        else:
            done = {
                EntryKind.PAYMENT: _("Payment of %(amount)s recorded."),
                EntryKind.REFUND: _("Refund of %(amount)s recorded."),
                EntryKind.DISCOUNT: _("Discount of %(amount)s recorded."),
            }[kind]
            messages.success(request, done % {"amount": f"{entry.amount:.3f}"})
            return redirect("web:clinic_billing_invoice", clinic_id=clinic_id, invoice_id=invoice_id)
    return _invoice_page(request, invoice_id, forms_={key: form}, status=answer)


@page("billing.desk", methods=("POST",))
@require_http_methods(["POST"])
def clinic_billing_payment(request: HttpRequest, clinic_id, invoice_id) -> HttpResponse:
    """A cash or card payment taken at the desk."""
    form = PaymentForm(request.POST, prefix="pay")
    return _post_entry(request, clinic_id, invoice_id, form, "payment", EntryKind.PAYMENT)


@page("billing.adjust", methods=("POST",))
@require_http_methods(["POST"])
def clinic_billing_adjust(request: HttpRequest, clinic_id, invoice_id) -> HttpResponse:
    """A discount, or a refund given at the desk."""
    step = request.POST.get("step", "")
    if step not in ADJUSTMENTS:
        return _invoice_page(request, invoice_id, problem=_("Choose a discount or a refund."), status=400)
    form_class, kind = ADJUSTMENTS[step]
    form = form_class(request.POST, prefix=step)
    return _post_entry(request, clinic_id, invoice_id, form, step, kind)


@page("billing.desk", methods=("POST",))
@require_http_methods(["POST"])
def clinic_billing_for_appointment(request: HttpRequest, clinic_id) -> HttpResponse:
    """From the appointments desk: the appointment's invoice (opened now from its price if it has none)."""
    try:
        appointment_id = uuid.UUID(request.POST.get("appointment_id", ""))
    except ValueError:
        raise NotFound() from None
    try:
        invoice, created = billing_actions.desk_invoice_for_appointment(
            actor=request.actor, appointment_id=appointment_id
        )
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
        back = reverse("web:clinic_desk", kwargs={"clinic_id": clinic_id})
        day = request.POST.get("day", "")
        with contextlib.suppress(ValueError):
            back += f"?day={dt.date.fromisoformat(day).isoformat()}" if day else ""
        return redirect(back)
    if created:
        messages.success(request, _("Invoice %(number)s opened.") % {"number": invoice.number})
    return redirect("web:clinic_billing_invoice", clinic_id=clinic_id, invoice_id=invoice.external_id)


# --- the patient's invoices -------------------------------------------------------------------------------------


def _pay_url(invoice) -> str:
    try:
        return reverse("web:patient_pay_invoice", kwargs={"invoice_id": invoice.external_id})
    except NoReverseMatch:
        return f"/app/invoices/{invoice.external_id}/pay"


@page("billing.view_own")
def patient_invoices(request: HttpRequest) -> HttpResponse:
    actor = request.actor
    try:
        found = billing_queries.my_invoice_list(
            actor=actor, cursor=request.GET.get("cursor") or None, limit=50
        )
    except ValidationFailed:
        found = billing_queries.my_invoice_list(actor=actor, limit=50)
    language = get_language()
    rows = []
    for invoice in found.items:
        totals = billing_queries.row_totals(invoice)
        rows.append(
            {
                "invoice": invoice,
                "totals": totals,
                "status": billing_queries.invoice_status(totals),
                "clinic_name": invoice.clinic.display_name(language),
                "issued": timezones.wall_clock(invoice.created_at, invoice.clinic.time_zone),
            }
        )
    return render(
        request,
        "web/patient/invoices.html",
        {"rows": rows, "next_cursor": found.next_cursor, "nav": "invoices"},
    )


@page("billing.view_own")
def patient_invoice(request: HttpRequest, invoice_id) -> HttpResponse:
    actor = request.actor
    invoice, entries, totals = billing_queries.my_invoice(actor=actor, invoice_id=invoice_id)
    zone = invoice.clinic.time_zone
    receipts_at = f"/api/v1/me/invoices/{invoice.external_id}/receipts"
    can_pay_online = billing_policies.can_pay_online(actor, invoice, totals)
    return render(
        request,
        "web/patient/invoice.html",
        {
            "invoice": invoice,
            "totals": totals,
            "invoice_status": billing_queries.invoice_status(totals),
            "owed_back": -totals.due if totals.due < 0 else None,
            "clinic_name": invoice.clinic.display_name(get_language()),
            "lines": [e for e in entries if e.kind == EntryKind.CHARGE],
            "rows": [
                r for r in _entry_rows(invoice, entries, receipts_at, zone) if r["entry"].kind != "charge"
            ],
            "issued": timezones.wall_clock(invoice.created_at, zone),
            "can_pay_online": can_pay_online,
            "pay_url": _pay_url(invoice) if can_pay_online else "",
            "nav": "invoices",
        },
    )


# --- the platform -----------------------------------------------------------------------------------------------


class RevenueForm(forms.Form):
    since = forms.CharField(
        label=gettext_lazy("From month"), required=False, widget=forms.TextInput(attrs={"type": "month"})
    )
    until = forms.CharField(
        label=gettext_lazy("To month"), required=False, widget=forms.TextInput(attrs={"type": "month"})
    )

    def clean(self):
        data = super().clean()
        for name in ("since", "until"):
            value = data.get(name) or None
            if value is not None:
                try:
                    dt.date.fromisoformat(f"{value}-01")
                except ValueError:
                    self.add_error(name, _("Choose a month."))
                    continue
            data[name] = value
        return data


@page("billing.revenue")
def platform_revenue(request: HttpRequest) -> HttpResponse:
    """Every clinic's money by month of its own calendar, from the ledger (one grouped query)."""
    form = RevenueForm(request.GET or None)
    rows, clinics, first, last, status = [], [], None, None, 200
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        try:
            first, last = month_range(data.get("since"), data.get("until"), timezones.now().date())
        except ValidationFailed as exc:
            show_problem(
                form, ValidationFailed(errors=[FieldError("since", e.code, e.message) for e in exc.errors])
            )
            status = 400
        else:
            rows = billing_queries.revenue_by_clinic_month(since=first, until=last)
    else:
        status = 400
    language = get_language()
    by_clinic: dict[int, dict] = {}
    for row in rows:
        group = by_clinic.setdefault(
            row["clinic_id"],
            {"name": row["clinic"].display_name(language), "months": [], "sums": dict.fromkeys(SUMMED, 0)},
        )
        group["months"].append(row)
        for key in SUMMED:
            group["sums"][key] += row[key]
        group["outstanding"] = row["outstanding"]
    clinics = sorted(by_clinic.values(), key=lambda g: g["name"])
    grand = {key: sum((g["sums"][key] for g in clinics), 0) for key in SUMMED}
    grand["outstanding"] = sum((g["outstanding"] for g in clinics), 0)
    return render(
        request,
        "web/platform/revenue.html",
        {
            "nav": "revenue",
            "shell_title": _("Platform console"),
            "form": form,
            "clinics": clinics,
            "grand": grand,
            "first": first,
            "last": last,
        },
        status=status,
    )


SUMMED = ("charged", "discounted", "insurer", "paid", "refunded", "net_paid")

urlpatterns = [
    path("clinic/<uuid:clinic_id>/billing", clinic_billing, name="clinic_billing"),
    path(
        "clinic/<uuid:clinic_id>/billing/for-appointment",
        clinic_billing_for_appointment,
        name="clinic_billing_for_appointment",
    ),
    path(
        "clinic/<uuid:clinic_id>/billing/<uuid:invoice_id>",
        clinic_billing_invoice,
        name="clinic_billing_invoice",
    ),
    path(
        "clinic/<uuid:clinic_id>/billing/<uuid:invoice_id>/payment",
        clinic_billing_payment,
        name="clinic_billing_payment",
    ),
    path(
        "clinic/<uuid:clinic_id>/billing/<uuid:invoice_id>/adjust",
        clinic_billing_adjust,
        name="clinic_billing_adjust",
    ),
    path("app/invoices", patient_invoices, name="patient_invoices"),
    path("app/invoices/<uuid:invoice_id>", patient_invoice, name="patient_invoice"),
    path("platform/revenue", platform_revenue, name="platform_revenue"),
]
