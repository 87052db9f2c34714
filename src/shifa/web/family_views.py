"""Family Doctor pages (TM-4): the patient chooses a listed doctor, sees the answer and writes to them; the doctor
answers requests and sees their family patients in the clinic console. Thin: the same queries and actions as
``shifa.family.api``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.access.policies import has_permission
from shifa.core.errors import NotFound, Problem
from shifa.directory import queries as directory_queries
from shifa.family import actions, queries
from shifa.family.models import OPEN, FamilyStatus
from shifa.records.queries import patient_for_user

from .account_views import problem_text
from .clinic_views import _render

OWN = "family.use_own"
CARE = "family.care"


class DoctorSearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Doctor, clinic or specialty"), required=False, max_length=100)


class RequestForm(forms.Form):
    clinic_id = forms.UUIDField(widget=forms.HiddenInput)
    doctor_id = forms.UUIDField(widget=forms.HiddenInput)
    note = forms.CharField(label=gettext_lazy("A word to the doctor"), required=False, max_length=300)


def _patient_page(request: HttpRequest, *, problem: str = "", status: int = 200) -> HttpResponse:
    patient = patient_for_user(request.actor.user)
    if patient is None:
        raise NotFound()
    relation = queries.my_family_doctor(actor=request.actor)
    is_open = relation is not None and relation.status in OPEN
    entitled = actions.entitled(patient)
    form = DoctorSearchForm(request.GET or None)
    results = []
    if entitled and not is_open and form.is_bound and form.is_valid() and form.cleaned_data["q"]:
        found = directory_queries.doctor_search(directory_queries.Search(q=form.cleaned_data["q"]), limit=20)
        results = found.items
    return render(
        request,
        "web/patient/family_doctor.html",
        {
            "nav": "care",
            "relation": relation,
            "is_open": is_open,
            "entitled": entitled,
            "shared": queries.record_shared(relation)
            if relation is not None and relation.status == "active"
            else False,
            "clinic_name": relation.clinic.display_name(get_language()) if relation is not None else "",
            "form": form,
            "results": results,
            "problem": problem,
        },
        status=status,
    )


@page(OWN, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def patient_family_doctor(request: HttpRequest) -> HttpResponse:
    """My family doctor: who it is (or the request waiting), a link to write to them, ending it; without one, a
    search of the doctors listed on Shifa to ask one."""
    if request.method == "GET":
        return _patient_page(request)
    step = request.POST.get("step")
    try:
        if step == "request":
            form = RequestForm(request.POST)
            if not form.is_valid():
                return _patient_page(request, problem=_("Choose a doctor listed on Shifa."), status=400)
            actions.family_request(actor=request.actor, **form.cleaned_data)
            messages.success(request, _("Your request is sent. The doctor will answer it in Shifa."))
        elif step == "end":
            relation = actions.family_end(actor=request.actor)
            if relation.status == FamilyStatus.WITHDRAWN:
                messages.success(request, _("Your request is withdrawn."))
            else:
                messages.success(
                    request,
                    _(
                        "You no longer have a family doctor; their clinic no longer sees your record through it."
                    ),
                )
        else:
            return _patient_page(request, problem=_("Choose what to do."), status=400)
    except NotFound:
        return _patient_page(request, problem=_("You have no family doctor to end."), status=404)
    except Problem as exc:
        return _patient_page(
            request, problem=problem_text(exc), status=exc.status if exc.status in {403, 409} else 400
        )
    return redirect(reverse("web:patient_family_doctor"))


class DeclineForm(forms.Form):
    family_id = forms.UUIDField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label=gettext_lazy("Reason (the patient sees it)"), required=False, max_length=300
    )


@page(CARE, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_family_doctor(request: HttpRequest, clinic_id) -> HttpResponse:
    """For a doctor: patients asking them to be their family doctor here (accept or decline), and their family
    patients, with their chart and conversation."""
    problem, status = "", 200
    if request.method == "POST":
        step = request.POST.get("step")
        form = DeclineForm(request.POST)
        if step not in {"accept", "decline"} or not form.is_valid():
            problem, status = _("Choose a request."), 400
        else:
            try:
                if step == "accept":
                    actions.family_accept(actor=request.actor, family_id=form.cleaned_data["family_id"])
                    messages.success(request, _("You are now this patient's family doctor."))
                else:
                    actions.family_decline(
                        actor=request.actor,
                        family_id=form.cleaned_data["family_id"],
                        reason=form.cleaned_data["reason"],
                    )
                    messages.success(request, _("The request is declined."))
            except NotFound:
                raise
            except Problem as exc:
                problem, status = problem_text(exc), 409 if exc.status == 409 else 400
            else:
                return redirect(reverse("web:clinic_family_doctor", kwargs={"clinic_id": clinic_id}))
    actor = request.actor
    return _render(
        request,
        "web/clinic/family_doctor.html",
        "family",
        requests=queries.doctor_requests(actor=actor),
        patients=queries.doctor_patients(actor=actor),
        can_open_chart=has_permission(actor.roles, "records.view_chart", actor.clinic),
        can_message=has_permission(actor.roles, "messaging.care_team", actor.clinic),
        problem=problem,
        status=status,
    )


urlpatterns = [
    path("app/family-doctor", patient_family_doctor, name="patient_family_doctor"),
    path("clinic/<uuid:clinic_id>/family-doctor", clinic_family_doctor, name="clinic_family_doctor"),
]
