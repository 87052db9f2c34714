"""The clinic desk (BK-5): the day's calendar per doctor; booking a walk-in or a caller; checking in, moving,
cancelling, marking absent and completing appointments. Saves through the same actions as the API."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.access.policies import has_permission
from shifa.core import timezones
from shifa.core.errors import FieldError, NotFound, Problem
from shifa.directory import queries as directory_queries
from shifa.directory.models import VisitType
from shifa.scheduling import actions as scheduling_actions
from shifa.scheduling import queries as scheduling_queries
from shifa.scheduling.models import AppointmentStatus, Channel

from .account_views import problem_text, show_problem
from .clinic_views import _render

STEPS = {
    "check_in": scheduling_actions.appointment_check_in,
    "no_show": scheduling_actions.appointment_no_show,
    "complete": scheduling_actions.appointment_complete,
}


class DeskBookingForm(forms.Form):
    doctor = forms.ChoiceField(label=gettext_lazy("Doctor"))
    visit_type = forms.ChoiceField(
        label=gettext_lazy("Visit"), choices=VisitType.choices, initial=VisitType.OFFICE
    )
    time = forms.TimeField(
        label=gettext_lazy("Time"), widget=forms.TimeInput(attrs={"type": "time", "step": 300})
    )
    full_name = forms.CharField(label=gettext_lazy("Patient's name"), max_length=200, min_length=2)
    phone = forms.CharField(
        label=gettext_lazy("Patient's phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput({"dir": "ltr"}),
    )
    reason = forms.CharField(label=gettext_lazy("Reason for the visit"), max_length=500, required=False)

    def __init__(self, *args, doctors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["doctor"].choices = doctors


class MoveForm(forms.Form):
    day = forms.DateField(label=gettext_lazy("New day"), widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(
        label=gettext_lazy("New time"), widget=forms.TimeInput(attrs={"type": "time", "step": 300})
    )


def _day(request) -> dt.date:
    raw = request.GET.get("day") or request.POST.get("day")
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _desk_page(request, *, day: dt.date | None = None, form=None, problem: str = "", status: int = 200):
    actor = request.actor
    clinic = actor.clinic
    zone = clinic.time_zone
    today = timezones.to_local(timezones.now(), zone).date()
    day = day or _day(request) or today
    doctors = [row["doctor"] for row in directory_queries.clinic_doctors(actor=actor)]
    chosen = request.GET.get("doctor")
    shown = [d for d in doctors if str(d.external_id) == chosen] or doctors
    appointments = scheduling_queries.desk_day(actor=actor, day=day)
    columns = []
    for doctor in shown:
        rows = [
            {
                "appointment": a,
                "starts": timezones.wall_clock(a.starts_at, zone),
                "ends": timezones.wall_clock(a.ends_at, zone),
                "active": a.status in {AppointmentStatus.BOOKED, AppointmentStatus.HELD},
            }
            for a in appointments
            if a.doctor_id == doctor.pk
        ]
        columns.append({"doctor": doctor, "rows": rows})
    week = []
    if request.GET.get("view") == "week" and shown:
        # one doctor's week, from the day shown: each day's visits at a glance, opening onto the day view
        doctor = shown[0]
        for offset in range(7):
            date = day + dt.timedelta(days=offset)
            visits = [
                {
                    "appointment": a,
                    "starts": timezones.wall_clock(a.starts_at, zone),
                    "ends": timezones.wall_clock(a.ends_at, zone),
                }
                for a in scheduling_queries.desk_day(actor=actor, day=date, doctor=doctor)
            ]
            week.append({"day": date, "visits": visits})
    can_manage = has_permission(actor.roles, "scheduling.manage_appointments", clinic)
    form = form or DeskBookingForm(
        doctors=[(str(d.external_id), d.full_name) for d in doctors],
        initial={"doctor": chosen} if chosen else None,
        prefix="book",
    )
    return _render(
        request,
        "web/clinic/desk.html",
        "desk",
        day=day,
        previous_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        today=today,
        doctors=doctors,
        chosen=chosen,
        columns=columns,
        week=week,
        week_doctor=shown[0] if week else None,
        previous_week=day - dt.timedelta(days=7),
        next_week=day + dt.timedelta(days=7),
        can_manage=can_manage,
        form=form,
        move_form=MoveForm(initial={"day": day}, prefix="move"),
        problem=problem,
        zone=zone,
        status=status,
    )


def _back(clinic_id, day: dt.date) -> HttpResponse:
    return redirect(f"{reverse('web:clinic_desk', kwargs={'clinic_id': clinic_id})}?day={day.isoformat()}")


@page("scheduling.view_appointments")
def clinic_desk(request: HttpRequest, clinic_id) -> HttpResponse:
    return _desk_page(request)


@page("scheduling.manage_appointments", methods=("POST",))
@require_http_methods(["POST"])
def clinic_desk_book(request: HttpRequest, clinic_id) -> HttpResponse:
    """Book a walk-in or a caller on the day shown, at a free time of the doctor (five-minute steps)."""
    actor = request.actor
    day = _day(request) or timezones.to_local(timezones.now(), actor.clinic.time_zone).date()
    doctors = [
        (str(row["doctor"].external_id), row["doctor"].full_name)
        for row in directory_queries.clinic_doctors(actor=actor)
    ]
    form = DeskBookingForm(request.POST, doctors=doctors, prefix="book")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            patient = scheduling_actions.desk_patient(
                actor=actor, new_patient={"full_name": data["full_name"], "phone": data["phone"]}
            )
            appointment = scheduling_actions.appointment_book(
                actor=actor,
                clinic=actor.clinic,
                patient=patient,
                doctor_id=data["doctor"],
                visit_type=data["visit_type"],
                starts_at=timezones.local_datetime(day, data["time"], actor.clinic.time_zone),
                reason=data["reason"],
                channel=Channel.DESK,
            )
        except Problem as exc:
            exc.errors = [
                FieldError("time" if e.field == "starts_at" else e.field, e.code, e.message)
                for e in exc.errors
            ]
            status = show_problem(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s is booked at %(time)s.")
                % {
                    "name": patient.full_name,
                    "time": f"{timezones.to_local(appointment.starts_at, actor.clinic.time_zone):%H:%M}",
                },
            )
            return _back(clinic_id, day)
    return _desk_page(request, day=day, form=form, status=status)


@page("scheduling.manage_appointments", methods=("POST",))
@require_http_methods(["POST"])
def clinic_desk_appointment(request: HttpRequest, clinic_id, appointment_id) -> HttpResponse:
    """One step for one appointment: check in, mark absent, complete, cancel, or move to another time."""
    actor = request.actor
    step = request.POST.get("step", "")
    day = _day(request) or timezones.to_local(timezones.now(), actor.clinic.time_zone).date()
    try:
        if step in STEPS:
            STEPS[step](actor=actor, appointment_id=appointment_id)
        elif step == "cancel":
            scheduling_actions.appointment_cancel(
                actor=actor,
                appointment_id=appointment_id,
                reason=request.POST.get("reason", ""),
                at_desk=True,
            )
        elif step == "move":
            form = MoveForm(request.POST, prefix="move")
            if not form.is_valid():
                return _desk_page(request, day=day, problem=_("Give the new day and time."), status=400)
            moved = scheduling_actions.appointment_reschedule(
                actor=actor,
                appointment_id=appointment_id,
                starts_at=timezones.local_datetime(
                    form.cleaned_data["day"], form.cleaned_data["time"], actor.clinic.time_zone
                ),
                at_desk=True,
            )
            day = timezones.to_local(moved.starts_at, actor.clinic.time_zone).date()
        else:
            return _desk_page(
                request, day=day, problem=_("Choose what to do with the appointment."), status=400
            )
    except NotFound:
        raise
    except Problem as exc:
        detail = problem_text(exc)
        return _desk_page(
            request, day=day, problem=detail, status=exc.status if exc.status in {403, 409} else 400
        )
    messages.success(request, _("Saved."))
    return _back(clinic_id, day)
