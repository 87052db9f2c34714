"""The clinic console's "Hakeem history" of a patient (HK-3): import their history from Hakeem, with the consent
they gave in person, and see how the latest imports went. The chart shows the section (``web/hakeem/_history.html``)
and loads the list of imports from here; this page is also the section on its own. Thin: the same queries and
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
from shifa.integrations.hakeem.models import ImportState

from .account_views import show_problem
from .clinic_views import _render

IMPORT = "hakeem.import_history"


class ImportForm(forms.Form):
    consent = forms.BooleanField(
        label=gettext_lazy("The patient agreed to import their history from Hakeem"),
        error_messages={
            "required": gettext_lazy("Confirm that the patient agreed to import their history from Hakeem.")
        },
    )
    back = forms.ChoiceField(choices=[("chart", "chart"), ("page", "page")], required=False)


def _context(request: HttpRequest, patient_id, form: ImportForm | None = None) -> dict:
    patient, rows = queries.history_imports(actor=request.actor, patient_id=patient_id, limit=5)
    names = queries.reads_clinical_content(request.actor)
    zone = request.actor.clinic.time_zone
    return {
        "patient": patient,
        "hakeem_loaded": True,
        "hakeem_imports": [
            {
                "row": r,
                "when": timezones.wall_clock(r.created_at, zone),
                "lines": summary.lines(r, names=names),
            }
            for r in rows
        ],
        "hakeem_running": any(r.state == ImportState.RUNNING for r in rows),
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


urlpatterns = [
    path(
        "clinic/<uuid:clinic_id>/patients/<uuid:patient_id>/hakeem",
        clinic_hakeem_history,
        name="clinic_hakeem_history",
    ),
]
