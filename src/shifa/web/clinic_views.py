"""The clinic console's settings pages: opening hours, services and prices, home-visit areas, insurers.
Each page shows what is set and saves through the same actions as the API."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.core import timezones
from shifa.core.errors import FieldError, Problem, ValidationFailed
from shifa.directory import actions as directory_actions
from shifa.directory import queries as directory_queries
from shifa.scheduling import actions as scheduling_actions
from shifa.scheduling import queries as scheduling_queries
from shifa.scheduling.models import Weekday

from .account_views import show_problem
from .views import _clinic_context

_STRETCH = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_stretches(text: str) -> list[tuple[dt.time, dt.time]]:
    """ "08:30-13:00, 14:00-18:00" → two stretches; empty → closed."""
    stretches = []
    for part in filter(None, (p.strip() for p in text.replace("،", ",").split(","))):
        match = _STRETCH.match(part)
        if not match:
            raise ValueError(part)
        h1, m1, h2, m2 = map(int, match.groups())
        stretches.append((dt.time(h1, m1), dt.time(h2, m2)))
    return stretches


def parse_week(data: dict) -> dict[int, list[tuple[dt.time, dt.time]]]:
    """A weekly hours form's days (``day_0`` … ``day_6``) as stretches; a malformed day is a field error."""
    week = {}
    for day in range(7):
        try:
            week[day] = parse_stretches(data[f"day_{day}"])
        except ValueError:
            raise ValidationFailed(
                errors=[
                    FieldError(f"day_{day}", "invalid", _("Write stretches like 08:30-13:00, 14:00-18:00."))
                ]
            ) from None
    return week


#: The example of the hint below, kept left to right inside the sentence in either language.
HOURS_EXAMPLE = "08:30-13:00, 14:00-18:00"


def _hours_hint() -> str:
    """The hint under each day, its example (the same in every language: the format to type) isolated left to
    right so that an Arabic sentence does not read it backwards."""
    hint = conditional_escape(_("e.g. 08:30-13:00, 14:00-18:00; empty when closed"))
    return mark_safe(hint.replace(HOURS_EXAMPLE, f'<bdi dir="ltr">{HOURS_EXAMPLE}</bdi>'))  # noqa: S308


class HoursForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hint = _hours_hint()
        for day in Weekday:
            self.fields[f"day_{day.value}"] = forms.CharField(
                label=day.label,
                required=False,
                max_length=200,
                help_text=hint,
                widget=forms.TextInput(attrs={"dir": "ltr", "inputmode": "numeric"}),
            )


def _renamed(error: FieldError, pattern: str, name) -> FieldError:
    """An action's field error moved onto the page's own field (``week.2`` → ``day_2``)."""
    match = re.match(pattern, error.field)
    return FieldError(name(match), error.code, error.message) if match else error


def _render(request, template: str, nav: str, **extra) -> HttpResponse:
    status = extra.pop("status", 200)
    return render(request, template, {**_clinic_context(request, nav), **extra}, status=status)


class ClosureForm(forms.Form):
    starts_on = forms.DateField(
        label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(label=gettext_lazy("Last day"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("e.g. Eid al-Adha; patients see it"),
    )


def _hours_page(request, *, form=None, closure_form=None, status=200) -> HttpResponse:
    if form is None:
        week = scheduling_queries.clinic_week(actor=request.actor)
        form = HoursForm(
            initial={
                f"day_{day}": ", ".join(f"{i.opens:%H:%M}-{i.closes:%H:%M}" for i in intervals)
                for day, intervals in week.items()
            }
        )
    today = timezones.to_local(timezones.now(), request.actor.clinic.time_zone).date()
    closures = [c for c in scheduling_queries.closure_list(actor=request.actor) if c.ends_on >= today]
    return _render(
        request,
        "web/clinic/settings_hours.html",
        "hours",
        form=form,
        closure_form=closure_form or ClosureForm(prefix="closure"),
        closures=closures,
        status=status,
    )


@page("clinic.configure", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def settings_hours(request: HttpRequest, clinic_id) -> HttpResponse:
    if request.method == "GET":
        return _hours_page(request)
    form = HoursForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            scheduling_actions.clinic_hours_set(actor=request.actor, week=parse_week(form.cleaned_data))
        except Problem as exc:
            exc.errors = [_renamed(e, r"week\.(\d)", lambda m: f"day_{m.group(1)}") for e in exc.errors]
            status = show_problem(form, exc)
        else:
            messages.success(request, _("Opening hours saved."))
            return redirect("web:settings_hours", clinic_id=clinic_id)
    return _hours_page(request, form=form, status=status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def settings_closures(request: HttpRequest, clinic_id) -> HttpResponse:
    """Close the clinic for whole days: holidays, renovation. No bookings are offered on them."""
    form = ClosureForm(request.POST, prefix="closure")
    status = 400
    if form.is_valid():
        try:
            scheduling_actions.closure_add(actor=request.actor, **form.cleaned_data)
        except Problem as exc:
            status = show_problem(form, exc)
        else:
            messages.success(request, _("Closure saved."))
            return redirect("web:settings_hours", clinic_id=clinic_id)
    return _hours_page(request, closure_form=form, status=status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def settings_closure_remove(request: HttpRequest, clinic_id, closure_id) -> HttpResponse:
    scheduling_actions.closure_remove(actor=request.actor, closure_id=closure_id)
    messages.success(request, _("Closure removed."))
    return redirect("web:settings_hours", clinic_id=clinic_id)


class ServiceForm(forms.Form):
    name_ar = forms.CharField(label=gettext_lazy("Name (Arabic)"), max_length=200)
    name_en = forms.CharField(label=gettext_lazy("Name (English)"), max_length=200)
    office = forms.CharField(label=gettext_lazy("Price at the clinic (JOD)"), required=False, max_length=20)
    video = forms.CharField(label=gettext_lazy("Price by video (JOD)"), required=False, max_length=20)
    home = forms.CharField(label=gettext_lazy("Price of a home visit (JOD)"), required=False, max_length=20)


@page("clinic.configure", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def settings_services(request: HttpRequest, clinic_id) -> HttpResponse:
    form = ServiceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            prices = [
                {"visit_type": v, "amount": data[v]} for v in ("office", "video", "home") if data[v].strip()
            ]
            try:
                directory_actions.service_save(
                    actor=request.actor, name_ar=data["name_ar"], name_en=data["name_en"], prices=prices
                )
            except Problem as exc:
                exc.errors = [
                    _renamed(e, r"prices\.(\d+)\.", lambda m: prices[int(m.group(1))]["visit_type"])
                    for e in exc.errors
                ]
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Service saved."))
                return redirect("web:settings_services", clinic_id=clinic_id)
    language = get_language()
    services = [
        {
            "name": s.display_name(language),
            "prices": {p.visit_type: p.amount for p in s.prices.all() if p.doctor_id is None},
        }
        for s in directory_queries.service_list(actor=request.actor)
    ]
    return _render(
        request, "web/clinic/settings_services.html", "services", form=form, services=services, status=status
    )


class AreaForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    center_lat = forms.FloatField(
        label=gettext_lazy("Centre latitude"), widget=forms.NumberInput(attrs={"step": "any", "dir": "ltr"})
    )
    center_lng = forms.FloatField(
        label=gettext_lazy("Centre longitude"), widget=forms.NumberInput(attrs={"step": "any", "dir": "ltr"})
    )
    radius_km = forms.FloatField(
        label=gettext_lazy("Radius (km)"), widget=forms.NumberInput(attrs={"step": "any"})
    )
    travel_buffer_minutes = forms.IntegerField(
        label=gettext_lazy("Travel time between home visits (minutes)"), initial=30
    )


@page("clinic.configure", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def settings_areas(request: HttpRequest, clinic_id) -> HttpResponse:
    form = AreaForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                directory_actions.service_area_save(actor=request.actor, shape="radius", **form.cleaned_data)
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Home-visit area saved."))
                return redirect("web:settings_areas", clinic_id=clinic_id)
    areas = directory_queries.service_area_list(actor=request.actor)
    return _render(request, "web/clinic/settings_areas.html", "areas", form=form, areas=areas, status=status)


class PartnerForm(forms.Form):
    insurer = forms.ChoiceField(label=gettext_lazy("Insurer"))
    copay_percent = forms.DecimalField(
        label=gettext_lazy("Patient's share (%)"), min_value=0, max_value=100, decimal_places=2
    )
    pre_approval_required = forms.BooleanField(
        label=gettext_lazy("Visits need the insurer's approval first"), required=False
    )

    def __init__(self, *args, insurers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["insurer"].choices = insurers


@page("clinic.configure", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def settings_insurance(request: HttpRequest, clinic_id) -> HttpResponse:
    from shifa.catalog.models import InsuranceCompany

    language = get_language()
    insurers = [
        (i.code, i.display_name(language))
        for i in InsuranceCompany.objects.filter(is_active=True).order_by("name_en")
    ]
    form = PartnerForm(request.POST or None, insurers=insurers)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                directory_actions.insurance_partner_save(
                    actor=request.actor,
                    insurer_code=data["insurer"],
                    copay_percent=data["copay_percent"],
                    covered_service_ids=[],
                    pre_approval_required=data["pre_approval_required"],
                )
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Insurer saved."))
                return redirect("web:settings_insurance", clinic_id=clinic_id)
    partners = directory_queries.insurance_partner_list(actor=request.actor)
    rows = [
        {"name": p.insurer.display_name(language), "copay": p.copay_percent, "pre": p.pre_approval_required}
        for p in partners
    ]
    return _render(
        request, "web/clinic/settings_insurance.html", "insurance", form=form, partners=rows, status=status
    )


SPOKEN = [
    ("ar", "العربية"),
    ("en", "English"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("ru", "Русский"),
    ("tr", "Türkçe"),
]


class ProfileForm(forms.Form):
    address_ar = forms.CharField(label=gettext_lazy("Address (Arabic)"), max_length=300)
    address_en = forms.CharField(label=gettext_lazy("Address (English)"), max_length=300)
    latitude = forms.FloatField(
        label=gettext_lazy("Latitude"),
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any", "dir": "ltr"}),
    )
    longitude = forms.FloatField(
        label=gettext_lazy("Longitude"),
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any", "dir": "ltr"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"dir": "ltr"}),
    )
    languages = forms.MultipleChoiceField(
        label=gettext_lazy("Languages spoken"), choices=SPOKEN, widget=forms.CheckboxSelectMultiple
    )
    facilities = forms.MultipleChoiceField(
        label=gettext_lazy("Facilities"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, **kwargs):
        from shifa.directory.models import Facility

        super().__init__(*args, **kwargs)
        self.fields["facilities"].choices = Facility.choices


class PhotoForm(forms.Form):
    image = forms.FileField(label=gettext_lazy("Photo (JPEG, PNG or WebP, up to 5 MB)"))
    caption_ar = forms.CharField(label=gettext_lazy("Caption (Arabic)"), required=False, max_length=200)
    caption_en = forms.CharField(label=gettext_lazy("Caption (English)"), required=False, max_length=200)


def _profile_page(request, form, photo_form, status=200) -> HttpResponse:
    photos = directory_queries.clinic_photo_list(clinic=request.actor.clinic)
    return _render(
        request,
        "web/clinic/settings_profile.html",
        "profile",
        form=form,
        photo_form=photo_form,
        photos=photos,
        status=status,
    )


@page("clinic.configure", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def settings_profile(request: HttpRequest, clinic_id) -> HttpResponse:
    """What patients see of the clinic: address in both languages, map location, phone, languages, facilities."""
    profile = directory_queries.clinic_profile(clinic=request.actor.clinic)
    initial = (
        {
            "address_ar": profile.address_ar,
            "address_en": profile.address_en,
            "latitude": profile.latitude,
            "longitude": profile.longitude,
            "phone": profile.phone,
            "languages": profile.languages,
            "facilities": profile.facilities,
        }
        if profile
        else {"languages": ["ar"]}
    )
    form = ProfileForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                directory_actions.clinic_profile_save(actor=request.actor, **form.cleaned_data)
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Clinic profile saved."))
                return redirect("web:settings_profile", clinic_id=clinic_id)
    return _profile_page(request, form, PhotoForm(), status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def settings_photos(request: HttpRequest, clinic_id) -> HttpResponse:
    photo_form = PhotoForm(request.POST, request.FILES)
    if photo_form.is_valid():
        try:
            directory_actions.clinic_photo_add(
                actor=request.actor,
                upload=photo_form.cleaned_data["image"],
                caption_ar=photo_form.cleaned_data["caption_ar"],
                caption_en=photo_form.cleaned_data["caption_en"],
            )
        except Problem as exc:
            status = show_problem(photo_form, exc)
        else:
            messages.success(request, _("Photo added."))
            return redirect("web:settings_profile", clinic_id=clinic_id)
    else:
        status = 400
    profile = directory_queries.clinic_profile(clinic=request.actor.clinic)
    form = ProfileForm(initial={"languages": profile.languages} if profile else {"languages": ["ar"]})
    return _profile_page(request, form, photo_form, status)


@page("clinic.configure", methods=("POST",))
@require_http_methods(["POST"])
def settings_photo_remove(request: HttpRequest, clinic_id, photo_id) -> HttpResponse:
    directory_actions.clinic_photo_remove(actor=request.actor, photo_id=photo_id)
    messages.success(request, _("Photo removed."))
    return redirect("web:settings_profile", clinic_id=clinic_id)
