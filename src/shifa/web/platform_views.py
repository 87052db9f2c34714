"""Platform console: reference data, clinics with their licences, subscription plans."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.catalog import actions as catalog_actions
from shifa.catalog import queries as catalog_queries
from shifa.core.errors import Problem

from .account_views import problem_text, show_problem


def _context(nav: str, **extra) -> dict:
    return {"nav": nav, "shell_title": _("Platform console"), **extra}


def _cell(entry, field: str, language: str):
    value = getattr(entry, field)
    if hasattr(value, "display_name"):
        return value.display_name(language)
    if isinstance(value, list):
        return ", ".join(value)
    display = getattr(entry, f"get_{field}_display", None)
    return display() if display else value


@page("platform.manage_reference")
def reference_home(request: HttpRequest) -> HttpResponse:
    rows = [
        {"spec": spec, "total": total, "in_use": in_use}
        for spec, total, in_use in catalog_queries.reference_counts()
    ]
    return render(request, "web/platform/reference_home.html", _context("reference", lists=rows))


@page("platform.manage_reference")
def reference_list(request: HttpRequest, kind: str) -> HttpResponse:
    spec = catalog_queries.reference_list(kind)
    query = request.GET.get("q", "")[:100]
    paginator = Paginator(catalog_queries.reference_entries(spec, query=query), 50)
    page_ = paginator.get_page(request.GET.get("page"))
    language = get_language()
    rows = [
        {"entry": entry, "cells": [_cell(entry, field, language) for field in spec.columns]}
        for entry in page_.object_list
    ]
    context = _context(
        "reference",
        spec=spec,
        headings=[spec.label(field) for field in spec.columns],
        rows=rows,
        page=page_,
        q=query,
    )
    return render(request, "web/platform/reference_list.html", context)


@page("platform.manage_reference", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def reference_entry(request: HttpRequest, kind: str, entry_id=None) -> HttpResponse:
    """Add an entry (no ``entry_id``) or change one; every change lands in the audit log."""
    from .forms import reference_form_class

    spec = catalog_queries.reference_list(kind)
    entry = catalog_queries.reference_entry(spec, entry_id) if entry_id else None
    form_class = reference_form_class(spec, get_language())
    form = form_class(request.POST or None, instance=entry)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = catalog_actions.reference_entry_save(
                    spec=spec, entry_id=entry_id, values=form.cleaned_data
                )
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("web:platform_reference_entry", kind=kind, entry_id=saved.external_id)
    context = _context(
        "reference",
        spec=spec,
        entry=entry,
        form=form,
        submit=_("Save") if entry else _("Add"),
    )
    return render(request, "web/platform/reference_entry.html", context, status=status)


@page("platform.use_console")
def platform_home(request: HttpRequest) -> HttpResponse:
    """Every clinic with its licence and how much of it is used."""
    from shifa.tenancy import queries as tenancy_queries

    query = request.GET.get("q", "")[:100]
    result = tenancy_queries.clinic_overview_for_platform(
        actor=request.actor, query=query, cursor=request.GET.get("cursor"), limit=50
    )
    language = get_language()
    clinics = [{"clinic": c, "name": c.display_name(language)} for c in result.items]
    context = _context("clinics", clinics=clinics, next_cursor=result.next_cursor, q=query)
    return render(request, "web/platform/home.html", context)


@page("platform.manage_clinics", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def platform_clinic(request: HttpRequest, managed_clinic_id) -> HttpResponse:
    """A clinic's licence and usage; suspend it (with a reason) or renew it."""
    from shifa.tenancy import actions as tenancy_actions
    from shifa.tenancy import queries as tenancy_queries

    from .forms import RenewForm, SuspendForm

    clinic = tenancy_queries.clinic_for_platform(actor=request.actor, clinic_id=managed_clinic_id)
    step = request.POST.get("step")
    suspend = SuspendForm(request.POST if step == "suspend" else None, prefix="suspend")
    renew = RenewForm(request.POST if step == "renew" else None, prefix="renew")
    status = 200
    if request.method == "POST":
        status = 400
        form = suspend if step == "suspend" else renew
        if clinic.licence is None:
            form.add_error(None, _("This clinic has no licence."))
        elif form.is_valid():
            try:
                if step == "suspend":
                    tenancy_actions.licence_suspend(
                        actor=request.actor,
                        licence_id=clinic.licence.external_id,
                        reason=form.cleaned_data["reason"],
                    )
                    messages.success(request, _("Suspended. The clinic takes no new bookings."))
                else:
                    tenancy_actions.licence_renew(
                        actor=request.actor,
                        licence_id=clinic.licence.external_id,
                        months=form.cleaned_data["months"],
                    )
                    messages.success(request, _("Renewed."))
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                return redirect("web:platform_clinic", managed_clinic_id=clinic.external_id)
    context = _context(
        "clinics",
        clinic=clinic,
        name=clinic.display_name(get_language()),
        suspend=suspend,
        renew=renew,
    )
    return render(request, "web/platform/clinic.html", context, status=status)


@page("platform.manage_clinics")
def platform_plans(request: HttpRequest) -> HttpResponse:
    from shifa.tenancy import queries as tenancy_queries
    from shifa.tenancy.models import Entitlement

    labels = dict(Entitlement.choices)
    plans = [
        {"plan": p, "includes": [labels[k] for k, on in p.entitlements.items() if on and k in labels]}
        for p in tenancy_queries.plan_list(include_retired=True)
    ]
    return render(request, "web/platform/plans.html", _context("plans", plans=plans))


@page("platform.manage_clinics", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def platform_plan(request: HttpRequest, code: str | None = None) -> HttpResponse:
    """Define a subscription plan or change one (clinics already licensed keep their licence's terms)."""
    from shifa.tenancy import actions as tenancy_actions
    from shifa.tenancy import queries as tenancy_queries

    from .forms import PlanForm

    plan = tenancy_queries.plan_get(code=code) if code else None
    initial = (
        {
            "code": plan.code,
            "name_en": plan.name_en,
            "name_ar": plan.name_ar,
            "price": plan.price,
            "period": plan.period,
            "seats": plan.seats,
            "entitlements": [k for k, on in plan.entitlements.items() if on],
            "is_active": plan.is_active,
        }
        if plan
        else None
    )
    form = PlanForm(request.POST or None, initial=initial)
    if plan:
        form.fields["code"].disabled = True
    status = 200
    if request.method == "POST":
        status = 400
        if (
            form.is_valid()
            and plan is None
            and tenancy_queries.plan_list(include_retired=True, code=form.cleaned_data["code"])
        ):
            form.add_error("code", _("A plan with this code exists already."))
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = tenancy_actions.plan_save(
                    code=data["code"],
                    name_en=data["name_en"],
                    name_ar=data["name_ar"],
                    price=data["price"],
                    period=data["period"],
                    seats=data["seats"],
                    entitlements=dict.fromkeys(data["entitlements"], True),
                    is_active=data["is_active"],
                )
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("web:platform_plan", code=saved.code)
    context = _context("plans", plan=plan, form=form, submit=_("Save") if plan else _("Add the plan"))
    return render(request, "web/platform/plan.html", context, status=status)


@page("platform.moderate_ratings", methods=("GET",))
def platform_ratings(request: HttpRequest) -> HttpResponse:
    """Patients' ratings waiting for review: publish them, or reject them with a reason."""
    from shifa.directory import queries as directory_queries

    status = request.GET.get("status", "pending")
    if status not in {"pending", "published", "rejected"}:
        status = "pending"
    found = directory_queries.rating_queue(status=status, cursor=request.GET.get("cursor"), limit=50)
    language = get_language()
    rows = [{"rating": r, "clinic_name": r.clinic.display_name(language)} for r in found.items]
    return render(
        request,
        "web/platform/ratings.html",
        _context("ratings", rows=rows, status=status, next_cursor=found.next_cursor),
    )


@page("platform.moderate_ratings", methods=("POST",))
@require_http_methods(["POST"])
def platform_rating(request: HttpRequest, rating_id) -> HttpResponse:
    from shifa.directory import actions as directory_actions

    decision = request.POST.get("decision")
    if decision not in {"publish", "reject"}:
        messages.error(request, _("Choose to publish or to reject the rating."))
        return redirect("web:platform_ratings")
    try:
        directory_actions.rating_review(
            actor=request.actor,
            rating_id=rating_id,
            publish=decision == "publish",
            note=request.POST.get("note", ""),
        )
    except Problem as exc:
        if exc.status == 404:
            raise
        messages.error(request, problem_text(exc))
        return redirect("web:platform_ratings")
    messages.success(request, _("Rating published.") if decision == "publish" else _("Rating rejected."))
    return redirect("web:platform_ratings")
