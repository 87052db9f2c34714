"""The clinic console's "Hakeem history" of a patient (HK-3): import their history from Hakeem, with the consent
they gave in person, and see how the latest imports went. The chart shows the section (``web/hakeem/_history.html``)
and loads the list of imports from here; this page is also the section on its own. A running import follows itself
(its step, then a count while filing) through its own fragment; a failed one can be started again. Thin: the same queries and
actions as ``shifa.integrations.hakeem.history.api``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.core import timezones
from shifa.core.errors import NotFound, Problem
from shifa.integrations.hakeem.history import actions, queries, summary

from .account_views import problem_text, show_problem
from .clinic_views import _render
from .progress import unchanged

IMPORT = "hakeem.import_history"


class ImportForm(forms.Form):
    consent = forms.BooleanField(
        label=gettext_lazy("The patient agreed to import their history from Hakeem"),
        error_messages={
            "required": gettext_lazy("Confirm that the patient agreed to import their history from Hakeem.")
        },
    )
    back = forms.ChoiceField(choices=[("chart", "chart"), ("page", "page")], required=False)


def _seen(row) -> str:
    """What the import's fragment shows, in short: its poll answers 204 until this changes."""
    return f"{row.state}-{row.step or 'waiting'}-{row.done}-{row.total}"


def _item(request: HttpRequest, row, names: bool) -> dict:
    """One import as the list shows it: when, its outcome in words, or how far it is while it runs."""
    return {
        "row": row,
        "when": timezones.wall_clock(row.created_at, request.actor.clinic.time_zone),
        "lines": summary.lines(row, names=names),
        "progress": summary.progress(row),
        "retryable": queries.may_retry(row),
        "seen": _seen(row),
    }


def _context(request: HttpRequest, patient_id, form: ImportForm | None = None) -> dict:
    patient, rows = queries.history_imports(actor=request.actor, patient_id=patient_id, limit=5)
    names = queries.reads_clinical_content(request.actor)
    return {
        "patient": patient,
        "hakeem_loaded": True,
        "hakeem_imports": [_item(request, r, names) for r in rows],
        "hakeem_form": form or ImportForm(),
        "hakeem_back": "page",
        "can_view_chart": names,
    }


def _page(
    request: HttpRequest, patient_id, form: ImportForm | None = None, status: int = 200
) -> HttpResponse:
    context = _context(request, patient_id, form)
    if request.method == "GET" and request.headers.get("HX-Request") and request.GET.get("part") == "imports":
        return render(request, "web/hakeem/_imports.html", {**context, "clinic": request.actor.clinic})
    return _render(request, "web/hakeem/history.html", "visits", status=status, **context)


@page(IMPORT, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_hakeem_history(request: HttpRequest, clinic_id, patient_id) -> HttpResponse:
    """GET: the patient's Hakeem history section (``?part=imports`` from htmx: only the list of imports).
    POST: start an import, the staff member confirming the patient's consent."""
    if request.method == "GET":
        return _page(request, patient_id)
    form = ImportForm(request.POST)
    if not form.is_valid():
        return _page(request, patient_id, form, status=400)
    try:
        actions.history_import_start(actor=request.actor, patient_id=patient_id, consent=True)
    except NotFound:
        raise
    except Problem as exc:
        return _page(request, patient_id, form, status=show_problem(form, exc))
    messages.success(request, _("The import from Hakeem has started. Its outcome shows here in a moment."))
    kwargs = {"clinic_id": clinic_id, "patient_id": patient_id}
    if form.cleaned_data.get("back") == "chart" and queries.reads_clinical_content(request.actor):
        return redirect(reverse("web:clinic_patient", kwargs=kwargs) + "#hakeem-heading")
    return redirect(reverse("web:clinic_hakeem_history", kwargs=kwargs))


def _import_status(request: HttpRequest, patient, row) -> HttpResponse:
    item = _item(request, row, queries.reads_clinical_content(request.actor))
    return render(
        request,
        "web/hakeem/_import_status.html",
        {"item": item, "patient": patient, "clinic": request.actor.clinic},
    )


@page(IMPORT)
def clinic_hakeem_import(request: HttpRequest, clinic_id, patient_id, import_id) -> HttpResponse:
    """How one import is getting on, as a fragment the list polls while it runs (its step, a count while filing);
    then its outcome."""
    patient, row = queries.history_import_get(actor=request.actor, patient_id=patient_id, import_id=import_id)
    return unchanged(request, _seen(row)) or _import_status(request, patient, row)


@page(IMPORT, methods=("POST",))
@require_http_methods(["POST"])
def clinic_hakeem_import_retry(request: HttpRequest, clinic_id, patient_id, import_id) -> HttpResponse:
    """Start a failed import again, on the consent the patient gave for it. From htmx: the list of imports, the new
    one polling; otherwise back to the patient's Hakeem history."""
    try:
        actions.history_import_retry(actor=request.actor, patient_id=patient_id, import_id=import_id)
    except NotFound:
        raise
    except Problem as exc:
        if request.htmx:
            raise
        messages.error(request, problem_text(exc))
    else:
        if request.htmx:  # the list again, the new import first (polling)
            context = {**_context(request, patient_id), "clinic": request.actor.clinic}
            return render(request, "web/hakeem/_imports.html", context)
        messages.success(
            request, _("The import from Hakeem has started again. Its outcome shows here in a moment.")
        )
    return redirect(
        reverse("web:clinic_hakeem_history", kwargs={"clinic_id": clinic_id, "patient_id": patient_id})
    )


urlpatterns = [
    path(
        "clinic/<uuid:clinic_id>/patients/<uuid:patient_id>/hakeem",
        clinic_hakeem_history,
        name="clinic_hakeem_history",
    ),
    path(
        "clinic/<uuid:clinic_id>/patients/<uuid:patient_id>/hakeem/imports/<uuid:import_id>",
        clinic_hakeem_import,
        name="clinic_hakeem_import",
    ),
    path(
        "clinic/<uuid:clinic_id>/patients/<uuid:patient_id>/hakeem/imports/<uuid:import_id>/retry",
        clinic_hakeem_import_retry,
        name="clinic_hakeem_import_retry",
    ),
]
