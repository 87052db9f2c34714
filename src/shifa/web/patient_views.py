"""The patient app's booking pages: find a doctor, see their free slots with the price and the estimated share
with one's insurer, hold a slot and confirm it, and one's appointments (move, cancel). Same actions and queries
as the API."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page, public_page
from shifa.access.policies import has_permission, user_roles
from shifa.accounts.actions import client_address, search_count
from shifa.catalog.models import InsuranceCompany, Specialty
from shifa.core import timezones
from shifa.core.errors import NotFound, Problem, RateLimited
from shifa.directory import queries as directory_queries
from shifa.directory.models import VisitType
from shifa.records.queries import patient_for_user
from shifa.scheduling import actions as scheduling_actions
from shifa.scheduling import queries as scheduling_queries
from shifa.scheduling.models import AppointmentStatus, Channel
from shifa.tenancy.queries import bookable_clinic, clinic_doctor

from .account_views import problem_text

DAYS_SHOWN = 7


def _insurers(language: str) -> list[tuple[str, str]]:
    return [
        (i.code, i.display_name(language))
        for i in InsuranceCompany.objects.filter(is_active=True).order_by("name_en")
    ]


class SearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Doctor, clinic or specialty"), required=False, max_length=100)
    specialty = forms.ChoiceField(label=gettext_lazy("Specialty"), required=False)
    visit_type = forms.ChoiceField(
        label=gettext_lazy("Visit"), required=False, choices=[("", gettext_lazy("Any")), *VisitType.choices]
    )
    date = forms.DateField(
        label=gettext_lazy("Free on"), required=False, widget=forms.DateInput({"type": "date"})
    )
    insurer = forms.ChoiceField(label=gettext_lazy("My insurer"), required=False)
    gender = forms.ChoiceField(
        label=gettext_lazy("Doctor"),
        required=False,
        choices=[
            ("", gettext_lazy("Any")),
            ("female", gettext_lazy("Female")),
            ("male", gettext_lazy("Male")),
        ],
    )
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort by"),
        required=False,
        choices=[
            ("relevance", gettext_lazy("Best match")),
            ("earliest", gettext_lazy("Earliest free slot")),
            ("distance", gettext_lazy("Nearest")),
            ("rating", gettext_lazy("Rating")),
            ("price", gettext_lazy("Price")),
        ],
    )
    latitude = forms.FloatField(required=False, min_value=-90, max_value=90, widget=forms.HiddenInput)
    longitude = forms.FloatField(required=False, min_value=-180, max_value=180, widget=forms.HiddenInput)
    radius_km = forms.FloatField(
        label=gettext_lazy("Within (km)"), required=False, min_value=1, max_value=200, initial=10
    )

    def __init__(self, *args, language="en", **kwargs):
        super().__init__(*args, **kwargs)
        specialties = Specialty.objects.filter(is_active=True).order_by("name_en")
        self.fields["specialty"].choices = [("", _("Any"))] + [
            (s.code, s.display_name(language)) for s in specialties
        ]
        self.fields["insurer"].choices = [("", _("None")), *_insurers(language)]


@public_page()
def patient_search(request: HttpRequest) -> HttpResponse:
    """Find a doctor on the platform: every clinic with an active licence (a limited number of searches a
    minute: ``search_count``)."""
    try:
        search_count(user=request.user, address=client_address(request))
    except RateLimited as exc:
        response = TemplateResponse(
            request, "web/error.html", {"status": 429, "detail": exc.detail}, status=429
        )
        response["Retry-After"] = exc.headers["Retry-After"]
        return response
    language = get_language()
    form = SearchForm(request.GET or None, language=language)
    results, next_cursor, status = [], None, 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        search = directory_queries.Search(
            q=data.get("q") or "",
            specialty=data.get("specialty") or None,
            visit_type=data.get("visit_type") or None,
            date=data.get("date"),
            insurer=data.get("insurer") or None,
            gender=data.get("gender") or None,
            sort=data.get("sort") or "relevance",
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            radius_km=data.get("radius_km") or 10.0,
        )
        try:
            found = directory_queries.doctor_search(search, cursor=request.GET.get("cursor"), limit=20)
        except Problem:
            status = 400
        else:
            results, next_cursor = found.items, found.next_cursor
            for item in results:  # the first free time as the clinic's clock shows it
                item.next_local = (
                    timezones.wall_clock(item.next_any, item.clinic.time_zone) if item.next_any else None
                )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "web/patient/search.html",
        {
            "form": form,
            "results": results,
            "next_cursor": next_cursor,
            "query": query.urlencode(),
            "nav": "search",
        },
        status=status,
    )


class PlaceForm(forms.Form):
    """Where the patient wants the doctor to come (home visits), and their insurer."""

    visit_type = forms.ChoiceField(label=gettext_lazy("Visit"), choices=VisitType.choices, required=False)
    latitude = forms.FloatField(label=gettext_lazy("Latitude"), required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(
        label=gettext_lazy("Longitude"), required=False, min_value=-180, max_value=180
    )
    address = forms.CharField(label=gettext_lazy("Address"), required=False, max_length=300)
    insurer = forms.ChoiceField(label=gettext_lazy("My insurer"), required=False)
    start = forms.DateField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, language="en", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["insurer"].choices = [("", _("None")), *_insurers(language)]


def _listed(listed_clinic_id, doctor_id):
    clinic = bookable_clinic(listed_clinic_id)
    doctor = clinic_doctor(clinic, doctor_id) if clinic else None
    profile = directory_queries.doctor_profile(clinic=clinic, doctor=doctor) if doctor else None
    if profile is None:
        raise NotFound()
    return clinic, doctor, profile


def _doctor_page(
    request, listed_clinic_id, doctor_id, *, problem: str = "", status: int = 200
) -> HttpResponse:
    from shifa.tenancy.policies import licence_allows_bookings

    language = get_language()
    clinic, doctor, profile = _listed(listed_clinic_id, doctor_id)
    params = request.POST if request.method == "POST" else request.GET
    form = PlaceForm(params, language=language)
    form.is_valid()
    data = {k: v for k, v in getattr(form, "cleaned_data", {}).items() if k not in form.errors}
    offered = profile.visit_types
    visit_type = (
        data.get("visit_type") if data.get("visit_type") in offered else (offered[0] if offered else None)
    )
    zone = clinic.time_zone
    today = timezones.to_local(timezones.now(), zone).date()
    start = max(data.get("start") or today, today)
    lat, lng = data.get("latitude"), data.get("longitude")
    area = None
    home_needs_place = visit_type == VisitType.HOME and (lat is None or lng is None)
    if visit_type == VisitType.HOME and not home_needs_place:
        area = directory_queries.home_visit_area(clinic=clinic, lat=lat, lng=lng)
    days = []
    if visit_type and licence_allows_bookings(clinic) and (visit_type != VisitType.HOME or area is not None):
        slots = scheduling_queries.doctor_slots(
            clinic=clinic,
            doctor=doctor,
            visit_type=visit_type,
            first_day=start,
            last_day=start + dt.timedelta(days=DAYS_SHOWN - 1),
            travel_minutes=area.travel_buffer_minutes if area else 0,
        )
        by_day: dict[dt.date, list] = {}
        for slot in slots:
            local = timezones.wall_clock(slot.starts_at, zone)
            by_day.setdefault(local.date(), []).append(
                {"starts_at": timezones.isoformat_z(slot.starts_at), "local": local}
            )
        days = [{"day": day, "slots": by_day[day]} for day in sorted(by_day)]
    quote = (
        directory_queries.estimate(
            clinic=clinic, doctor=doctor, visit_type=visit_type, insurer_code=data.get("insurer") or None
        )
        if visit_type
        else None
    )
    moving = request.GET.get("move") or request.POST.get("move") or ""
    signed_in = request.user.is_authenticated and has_permission(
        user_roles(request.user), "appointments.book"
    )
    query = params.copy()
    for key in ("start", "csrfmiddlewaretoken", "starts_at"):
        query.pop(key, None)
    return render(
        request,
        "web/patient/doctor.html",
        {
            "nav": "search",
            "clinic": clinic,
            "clinic_name": clinic.display_name(language),
            "doctor": doctor,
            "profile": profile,
            "specialties": [s.display_name(language) for s in profile.specialties.all()],
            "bio": profile.bio_ar if language == "ar" else profile.bio_en,
            "offered": [(v, VisitType(v).label) for v in offered],
            "visit_type": visit_type,
            "form": form,
            "days": days,
            "quote": quote,
            "home_needs_place": home_needs_place,
            "outside_area": visit_type == VisitType.HOME and not home_needs_place and area is None,
            "place": {"latitude": lat, "longitude": lng, "address": data.get("address") or ""},
            "insurer": data.get("insurer") or "",
            "start": start,
            "previous_start": start - dt.timedelta(days=DAYS_SHOWN) if start > today else None,
            "next_start": start + dt.timedelta(days=DAYS_SHOWN),
            "query": query.urlencode(),
            "zone": zone,
            "moving": moving,
            "signed_in": signed_in,
            "problem": problem,
            "sign_in_url": f"{reverse('web:sign_in')}?next={request.get_full_path()}",
        },
        status=status,
    )


@public_page()
def patient_doctor(request: HttpRequest, listed_clinic_id, doctor_id) -> HttpResponse:
    """A doctor at a clinic: who they are, their free slots for a week, what a visit costs."""
    return _doctor_page(request, listed_clinic_id, doctor_id)


class HoldForm(forms.Form):
    clinic = forms.UUIDField()
    doctor = forms.UUIDField()
    visit_type = forms.ChoiceField(choices=VisitType.choices)
    starts_at = forms.DateTimeField()
    latitude = forms.FloatField(required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(required=False, min_value=-180, max_value=180)
    address = forms.CharField(required=False, max_length=300)
    insurer = forms.CharField(required=False, max_length=40)
    reason = forms.CharField(required=False, max_length=500)


@page("appointments.book", methods=("POST",))
@require_http_methods(["POST"])
def patient_book(request: HttpRequest) -> HttpResponse:
    """Hold the chosen slot for a few minutes, then ask the patient to confirm it."""
    form = HoldForm(request.POST)
    if not form.is_valid():
        if "clinic" in form.cleaned_data and "doctor" in form.cleaned_data:
            return _doctor_page(
                request,
                form.cleaned_data["clinic"],
                form.cleaned_data["doctor"],
                problem=_("Choose a time again."),
                status=400,
            )
        raise NotFound()
    data = form.cleaned_data
    clinic = bookable_clinic(data["clinic"])
    patient = patient_for_user(request.user)
    if clinic is None or patient is None:
        raise NotFound()
    doctor = clinic_doctor(clinic, data["doctor"])
    starts_at = data["starts_at"]
    if doctor is not None:
        mine = scheduling_queries.patient_holding(patient=patient, doctor=doctor, starts_at=starts_at)
        if mine is not None:  # a double click: the slot is already theirs
            return redirect("web:patient_appointment", appointment_id=mine.external_id)
    home = None
    if (
        data["visit_type"] == VisitType.HOME
        and data["latitude"] is not None
        and data["longitude"] is not None
    ):
        home = {"latitude": data["latitude"], "longitude": data["longitude"], "address": data["address"]}
    try:
        appointment = scheduling_actions.appointment_book(
            actor=request.actor,
            clinic=clinic,
            patient=patient,
            doctor_id=data["doctor"],
            visit_type=data["visit_type"],
            starts_at=starts_at,
            home=home,
            insurer_code=data["insurer"] or None,
            reason=data["reason"],
            channel=Channel.APP,
        )
    except Problem as exc:
        return _doctor_page(
            request,
            data["clinic"],
            data["doctor"],
            problem=problem_text(exc),
            status=409 if exc.status == 409 else 400,
        )
    return redirect("web:patient_appointment", appointment_id=appointment.external_id)


def _appointment_context(request, appointment) -> dict:
    language = get_language()
    zone = appointment.clinic.time_zone
    quote = directory_queries.estimate(
        clinic=appointment.clinic,
        doctor=appointment.doctor,
        visit_type=appointment.visit_type,
        service=appointment.service,
        insurer_code=appointment.insurer.code if appointment.insurer_id else None,
    )
    return {
        "a": appointment,
        "clinic_name": appointment.clinic.display_name(language),
        "starts": timezones.wall_clock(appointment.starts_at, zone),
        "ends": timezones.wall_clock(appointment.ends_at, zone),
        "zone": zone,
        "quote": quote,
        "held": appointment.status == AppointmentStatus.HELD,
        "hold_until": timezones.wall_clock(appointment.hold_expires_at, zone)
        if appointment.hold_expires_at
        else None,
        "changeable": appointment.status == AppointmentStatus.BOOKED,
        "insurer_name": appointment.insurer.display_name(language) if appointment.insurer_id else "",
        "can_rate": appointment.status == AppointmentStatus.COMPLETED and not hasattr(appointment, "rating"),
        "waiting": any(
            e.appointment_id == appointment.pk
            for e in scheduling_queries.patient_waitlist(actor=request.actor)
        ),
        "can_wait": appointment.status == AppointmentStatus.BOOKED
        and appointment.visit_type != VisitType.HOME,
        "rating_form": RatingForm(),
        **_video_context(appointment),
        **_payment_context(appointment),
    }


def _video_context(appointment) -> dict:
    """For a video visit: whether its call can be joined now, or when it opens (no button days ahead)."""
    from shifa.telehealth.queries import JOINABLE, join_refusal

    if appointment.visit_type != VisitType.VIDEO or appointment.status not in JOINABLE:
        return {"video_open": False, "video_when": ""}
    refusal = join_refusal(appointment, timezones.now())
    if refusal is None:
        return {"video_open": True, "video_when": ""}
    return {"video_open": False, "video_when": str(refusal.detail) if refusal.code == "too_early" else ""}


def _payment_context(appointment) -> dict:
    """What is left to pay for the appointment, and whether it can be paid online now (a video visit must be
    paid to be confirmed; other visits may also be paid at the clinic)."""
    from shifa.billing.queries import appointment_due

    due = appointment_due(appointment)
    open_ = appointment.status in (
        AppointmentStatus.HELD,
        AppointmentStatus.BOOKED,
        AppointmentStatus.CHECKED_IN,
    )
    can_pay = bool(due and due > 0 and open_)
    return {
        "due": due,
        "can_pay": can_pay,
        "pay_first": can_pay and appointment.visit_type == VisitType.VIDEO,
    }


@page("appointments.book")
def patient_appointments(request: HttpRequest) -> HttpResponse:
    upcoming, past = scheduling_queries.patient_agenda(actor=request.actor, past_limit=100)
    language = get_language()

    def rows(appointments):
        return [
            {
                "a": a,
                "clinic_name": a.clinic.display_name(language),
                "starts": timezones.wall_clock(a.starts_at, a.clinic.time_zone),
            }
            for a in appointments
        ]

    return render(
        request,
        "web/patient/appointments.html",
        {"upcoming": rows(upcoming), "past": rows(past), "nav": "appointments"},
    )


@page("appointments.book")
def patient_appointment(request: HttpRequest, appointment_id) -> HttpResponse:
    appointment = scheduling_queries.patient_appointment(actor=request.actor, appointment_id=appointment_id)
    return render(
        request,
        "web/patient/appointment.html",
        {**_appointment_context(request, appointment), "nav": "appointments"},
    )


@page("appointments.book", methods=("POST",))
@require_http_methods(["POST"])
def patient_appointment_step(request: HttpRequest, appointment_id) -> HttpResponse:
    """Confirm a hold, cancel, or move to another slot (from the doctor's page)."""
    step = request.POST.get("step", "")
    try:
        if step == "confirm":
            scheduling_actions.appointment_confirm(actor=request.actor, appointment_id=appointment_id)
            messages.success(request, _("Your appointment is booked."))
        elif step == "wait":
            appointment = scheduling_queries.patient_appointment(
                actor=request.actor, appointment_id=appointment_id
            )
            scheduling_actions.waitlist_join(
                actor=request.actor,
                clinic=appointment.clinic,
                doctor_id=appointment.doctor.external_id,
                visit_type=appointment.visit_type,
                appointment_id=appointment_id,
            )
            messages.success(request, _("We will offer you an earlier time if one frees up."))
        elif step == "cancel":
            scheduling_actions.appointment_cancel(
                actor=request.actor,
                appointment_id=appointment_id,
                reason=request.POST.get("reason", "")[:300],
            )
            messages.success(request, _("Your appointment is cancelled."))
        elif step == "move":
            try:
                starts_at = dt.datetime.fromisoformat(request.POST.get("starts_at", ""))
            except ValueError:
                starts_at = None
            if starts_at is None or starts_at.tzinfo is None:
                messages.error(request, _("Choose a new time."))
                return redirect("web:patient_appointment", appointment_id=appointment_id)
            moved = scheduling_actions.appointment_reschedule(
                actor=request.actor, appointment_id=appointment_id, starts_at=starts_at
            )
            messages.success(request, _("Your appointment is moved."))
            return redirect("web:patient_appointment", appointment_id=moved.external_id)
        else:
            messages.error(request, _("Choose what to do with the appointment."))
            return redirect("web:patient_appointment", appointment_id=appointment_id)
    except NotFound:
        raise
    except Problem as exc:
        appointment = scheduling_queries.patient_appointment(
            actor=request.actor, appointment_id=appointment_id
        )
        return render(
            request,
            "web/patient/appointment.html",
            {
                **_appointment_context(request, appointment),
                "nav": "appointments",
                "problem": problem_text(exc),
            },
            status=409 if exc.status == 409 else 400,
        )
    return redirect("web:patient_appointment", appointment_id=appointment_id)


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        label=gettext_lazy("Stars"),
        coerce=int,
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea({"rows": 3}),
    )


@page("appointments.book", methods=("POST",))
@require_http_methods(["POST"])
def patient_rate(request: HttpRequest, appointment_id) -> HttpResponse:
    """Rate a completed visit, once."""
    from shifa.directory import actions as directory_actions

    form = RatingForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            directory_actions.rating_submit(
                actor=request.actor,
                appointment_id=appointment_id,
                stars=form.cleaned_data["stars"],
                comment=form.cleaned_data["comment"],
            )
        except NotFound:
            raise
        except Problem as exc:
            status = 409 if exc.status == 409 else 400
            form.add_error(None, problem_text(exc))
        else:
            messages.success(request, _("Thank you. Your rating will be shown once it is reviewed."))
            return redirect("web:patient_appointment", appointment_id=appointment_id)
    appointment = scheduling_queries.patient_appointment(actor=request.actor, appointment_id=appointment_id)
    return render(
        request,
        "web/patient/appointment.html",
        {**_appointment_context(request, appointment), "nav": "appointments", "rating_form": form},
        status=status,
    )
