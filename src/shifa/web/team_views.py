"""The clinic console's team pages: staff (change a role, switch a membership off or on), what each role may do
in this clinic, and the doctors (their profile, weekly hours and time off). Each saves through the same actions
as the API."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access import catalog
from shifa.access import queries as access_queries
from shifa.access.actions import role_permission_set
from shifa.access.declare import page
from shifa.access.policies import has_permission
from shifa.core import timezones
from shifa.core.errors import FieldError, NotFound, Problem
from shifa.directory import actions as directory_actions
from shifa.directory import queries as directory_queries
from shifa.directory.models import Gender, VisitType
from shifa.scheduling import actions as scheduling_actions
from shifa.scheduling import queries as scheduling_queries
from shifa.tenancy import actions as tenancy_actions
from shifa.tenancy import queries as tenancy_queries

from .account_views import problem_text, show_problem
from .clinic_views import SPOKEN, HoursForm, _renamed, _render, parse_week
from .views import _role_names


def _assignable_roles(actor) -> list[tuple[str, str]]:
    """Staff roles the actor may give: below their own, never the general admin."""
    mine = catalog.rank(actor.roles)
    codes = [
        c for c in catalog.STAFF_ROLES if c != catalog.GENERAL_ADMIN and catalog.ROLE_RANK.get(c, 0) < mine
    ]
    return list(zip(codes, _role_names(set(codes)), strict=True))


class MemberForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), required=False)
    active = forms.ChoiceField(
        required=False, choices=[("", ""), ("on", "on"), ("off", "off")], widget=forms.HiddenInput
    )

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", ""), *roles]


def _staff_page(request, *, problem: str = "", status: int = 200) -> HttpResponse:
    actor = request.actor
    can_manage = has_permission(actor.roles, "tenancy.manage_members", actor.clinic)
    mine = catalog.rank(actor.roles)
    roles = _assignable_roles(actor)
    members = []
    for m in tenancy_queries.membership_list(actor=actor, limit=200).items:
        editable = can_manage and m.user_id != actor.user.pk and catalog.rank({m.role.code}) < mine
        members.append(
            {
                "membership": m,
                "user": m.user,
                "role_name": _role_names({m.role.code})[0],
                "is_active": m.is_active,
                "editable": editable,
            }
        )
    return _render(
        request,
        "web/clinic/staff.html",
        "staff",
        members=members,
        roles=roles,
        problem=problem,
        status=status,
    )


@page("tenancy.view_members")
def clinic_staff(request: HttpRequest, clinic_id) -> HttpResponse:
    return _staff_page(request)


@page("tenancy.manage_members", methods=("POST",))
@require_http_methods(["POST"])
def clinic_member(request: HttpRequest, clinic_id, membership_id) -> HttpResponse:
    """Give a staff member another role, or switch their membership off or on again."""
    form = MemberForm(request.POST, roles=_assignable_roles(request.actor))
    if not form.is_valid():
        return _staff_page(request, problem=_("Choose a staff role below your own."), status=400)
    role, active = form.cleaned_data["role"], form.cleaned_data["active"]
    if not role and not active:
        return _staff_page(
            request, problem=_("Choose a role, or switch the membership off or on."), status=400
        )
    try:
        membership = tenancy_actions.membership_change(
            actor=request.actor,
            membership_id=membership_id,
            role_code=role or None,
            is_active={"on": True, "off": False}.get(active),
        )
    except NotFound:
        raise
    except Problem as exc:
        detail = problem_text(exc)
        return _staff_page(request, problem=detail, status=exc.status if exc.status in {403, 409} else 400)
    name = membership.user.full_name
    if active == "off":
        messages.success(request, _("%(name)s can no longer work in this clinic.") % {"name": name})
    elif active == "on":
        messages.success(request, _("%(name)s can work in this clinic again.") % {"name": name})
    else:
        messages.success(
            request,
            _("%(name)s now works here as %(role)s.") % {"name": name, "role": _role_names({role})[0]},
        )
    return redirect("web:clinic_staff", clinic_id=clinic_id)


@page("access.view_roles")
def clinic_roles(request: HttpRequest, clinic_id) -> HttpResponse:
    actor = request.actor
    language = get_language()
    roles = [
        {**r, "display_name": r["name"]["ar" if language == "ar" else "en"]}
        for r in access_queries.clinic_roles_list(actor=actor)
    ]
    can_manage = has_permission(actor.roles, "access.manage_roles", actor.clinic)
    return _render(request, "web/clinic/roles.html", "roles", roles=roles, can_manage=can_manage)


@page("access.manage_roles", methods=("POST",))
@require_http_methods(["POST"])
def clinic_role_permission(request: HttpRequest, clinic_id, role, permission) -> HttpResponse:
    """Switch one permission on or off for one role in this clinic, within what the platform allows."""
    granted = request.POST.get("granted")
    if granted not in {"on", "off"}:
        messages.error(request, _("Choose whether to switch the permission on or off."))
        return redirect("web:clinic_roles", clinic_id=clinic_id)
    try:
        role_permission_set(actor=request.actor, role_code=role, codename=permission, granted=granted == "on")
    except Problem as exc:
        if exc.status == 404:
            raise
        messages.error(request, problem_text(exc))
        return redirect("web:clinic_roles", clinic_id=clinic_id)
    messages.success(request, _("Permission saved."))
    return redirect("web:clinic_roles", clinic_id=clinic_id)


@page("clinic.configure")
def clinic_doctors(request: HttpRequest, clinic_id) -> HttpResponse:
    language = get_language()
    rows = [
        {
            "doctor": row["doctor"],
            "profile": row["profile"],
            "specialties": [s.display_name(language) for s in row["profile"].specialties.all()]
            if row["profile"]
            else [],
        }
        for row in directory_queries.clinic_doctors(actor=request.actor)
    ]
    return _render(request, "web/clinic/doctors.html", "doctors", doctors=rows)


class DoctorProfileForm(forms.Form):
    gender = forms.ChoiceField(label=gettext_lazy("Gender"), choices=Gender.choices, widget=forms.RadioSelect)
    specialties = forms.MultipleChoiceField(
        label=gettext_lazy("Specialties"), widget=forms.SelectMultiple(attrs={"size": 8})
    )
    languages = forms.MultipleChoiceField(
        label=gettext_lazy("Languages spoken"), choices=SPOKEN, widget=forms.CheckboxSelectMultiple
    )
    qualifications = forms.CharField(
        label=gettext_lazy("Qualifications"),
        required=False,
        max_length=2000,
        widget=forms.Textarea({"rows": 3}),
    )
    bio_ar = forms.CharField(
        label=gettext_lazy("About (Arabic)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea({"rows": 4, "dir": "rtl", "lang": "ar"}),
    )
    bio_en = forms.CharField(
        label=gettext_lazy("About (English)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea({"rows": 4, "dir": "ltr", "lang": "en"}),
    )
    office = forms.IntegerField(
        label=gettext_lazy("Minutes per visit at the clinic"),
        required=False,
        help_text=gettext_lazy("Empty when the doctor does not see patients at the clinic"),
    )
    video = forms.IntegerField(
        label=gettext_lazy("Minutes per video visit"),
        required=False,
        help_text=gettext_lazy("Empty when the doctor does not offer video visits"),
    )
    home = forms.IntegerField(
        label=gettext_lazy("Minutes per home visit"),
        required=False,
        help_text=gettext_lazy("Empty when the doctor does not visit patients at home"),
    )
    on_duty = forms.BooleanField(label=gettext_lazy("On duty for urgent video calls"), required=False)

    def __init__(self, *args, specialties=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialties"].choices = specialties


class TimeOffForm(forms.Form):
    starts_at = forms.DateTimeField(
        label=gettext_lazy("From"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=gettext_lazy("Until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=200)


def _doctor_or_404(request, doctor_id):
    doctor = tenancy_queries.clinic_doctor(request.actor.require_clinic(), doctor_id)
    if doctor is None:
        raise NotFound()
    return doctor


def _specialty_choices() -> list[tuple[str, str]]:
    from shifa.catalog.models import Specialty

    language = get_language()
    return [
        (s.code, s.display_name(language))
        for s in Specialty.objects.filter(is_active=True).order_by("name_en")
    ]


def _doctor_page(request, doctor, *, profile_form=None, hours_form=None, time_off_form=None, status=200):
    actor = request.actor
    zone = actor.clinic.time_zone
    if profile_form is None:
        profile = directory_queries.doctor_profile(clinic=actor.clinic, doctor=doctor)
        initial = (
            {
                "gender": profile.gender,
                "specialties": [s.code for s in profile.specialties.all()],
                "languages": profile.languages,
                "qualifications": profile.qualifications,
                "bio_ar": profile.bio_ar,
                "bio_en": profile.bio_en,
                "on_duty": profile.on_duty,
                **profile.minutes,
            }
            if profile
            else {"languages": ["ar"], "office": 20}
        )
        profile_form = DoctorProfileForm(initial=initial, specialties=_specialty_choices())
    if hours_form is None:
        week = scheduling_queries.doctor_week(actor=actor, doctor=doctor)
        hours_form = HoursForm(
            initial={
                f"day_{day}": ", ".join(f"{i.starts:%H:%M}-{i.ends:%H:%M}" for i in intervals)
                for day, intervals in week.items()
            },
            prefix="hours",
        )
    time_off = [
        {
            "entry": t,
            "starts": timezones.wall_clock(t.starts_at, zone),
            "ends": timezones.wall_clock(t.ends_at, zone),
        }
        for t in scheduling_queries.time_off_list(actor=actor, doctor=doctor)
        if t.ends_at > timezones.now()
    ]
    return _render(
        request,
        "web/clinic/doctor.html",
        "doctors",
        doctor=doctor,
        profile_form=profile_form,
        hours_form=hours_form,
        time_off_form=time_off_form or TimeOffForm(prefix="off"),
        time_off=time_off,
        status=status,
    )


@page("clinic.configure", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_doctor(request: HttpRequest, clinic_id, doctor_id) -> HttpResponse:
    """A doctor's profile here: specialties, languages, gender, bio, consultation length per visit type."""
    doctor = _doctor_or_404(request, doctor_id)
    if request.method == "GET":
        return _doctor_page(request, doctor)
    form = DoctorProfileForm(request.POST, specialties=_specialty_choices())
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        minutes = {v: data[v] for v in VisitType.values if data.get(v) is not None}
        try:
            directory_actions.doctor_profile_save(
                actor=request.actor,
                doctor_id=doctor_id,
                gender=data["gender"],
                specialty_codes=data["specialties"],
                languages=data["languages"],
                qualifications=data["qualifications"],
                bio_ar=data["bio_ar"],
                bio_en=data["bio_en"],
                minutes=minutes,
                on_duty=data["on_duty"],
            )
        except Problem as exc:
            exc.errors = [_renamed(e, r"minutes\.(\w+)", lambda m: m.group(1)) for e in exc.errors]
            exc.errors = [
                FieldError("office", e.code, e.message) if e.field == "minutes" else e for e in exc.errors
            ]
            status = show_problem(form, exc)
        else:
            messages.success(request, _("Doctor's profile saved."))
            return redirect("web:clinic_doctor", clinic_id=clinic_id, doctor_id=doctor_id)
    return _doctor_page(request, doctor, profile_form=form, status=status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def clinic_doctor_hours(request: HttpRequest, clinic_id, doctor_id) -> HttpResponse:
    """Replace the doctor's weekly hours; each stretch must lie within the clinic's opening hours."""
    doctor = _doctor_or_404(request, doctor_id)
    form = HoursForm(request.POST, prefix="hours")
    status = 400
    if form.is_valid():
        try:
            scheduling_actions.doctor_hours_set(
                actor=request.actor, doctor_id=doctor_id, week=parse_week(form.cleaned_data)
            )
        except Problem as exc:
            exc.errors = [_renamed(e, r"week\.(\d)", lambda m: f"day_{m.group(1)}") for e in exc.errors]
            status = show_problem(form, exc)
        else:
            messages.success(request, _("The doctor's hours are saved."))
            return redirect("web:clinic_doctor", clinic_id=clinic_id, doctor_id=doctor_id)
    return _doctor_page(request, doctor, hours_form=form, status=status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def clinic_doctor_time_off(request: HttpRequest, clinic_id, doctor_id) -> HttpResponse:
    """Record time off, typed in the clinic's local time."""
    doctor = _doctor_or_404(request, doctor_id)
    form = TimeOffForm(request.POST, prefix="off")
    status = 400
    if form.is_valid():
        zone = request.actor.clinic.time_zone
        data = form.cleaned_data

        def aware(value: dt.datetime) -> dt.datetime:
            return timezones.local_datetime(value.date(), value.time().replace(tzinfo=None), zone)

        try:
            scheduling_actions.time_off_add(
                actor=request.actor,
                doctor_id=doctor_id,
                starts_at=aware(data["starts_at"]),
                ends_at=aware(data["ends_at"]),
                reason=data["reason"],
            )
        except Problem as exc:
            status = show_problem(form, exc)
        else:
            messages.success(request, _("Time off recorded."))
            return redirect("web:clinic_doctor", clinic_id=clinic_id, doctor_id=doctor_id)
    return _doctor_page(request, doctor, time_off_form=form, status=status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def clinic_doctor_time_off_remove(request: HttpRequest, clinic_id, doctor_id, time_off_id) -> HttpResponse:
    _doctor_or_404(request, doctor_id)
    scheduling_actions.time_off_remove(actor=request.actor, doctor_id=doctor_id, time_off_id=time_off_id)
    messages.success(request, _("Time off removed."))
    return redirect("web:clinic_doctor", clinic_id=clinic_id, doctor_id=doctor_id)
