"""The three front ends' pages. Thin: each calls queries/actions and renders a template."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django.views.i18n import set_language as django_set_language

from shifa.access import catalog
from shifa.access.declare import page, public_page
from shifa.access.policies import has_permission
from shifa.accounts.actions import session_sign_in, session_sign_out, user_set_language
from shifa.core.errors import Problem
from shifa.records.queries import patient_for_user
from shifa.tenancy import queries as tenancy_queries

from .forms import SignInForm


def _home_for(user) -> str:
    if user.is_platform_admin:
        return reverse("web:platform_home")
    if tenancy_queries.clinics_of_user(user).exists():
        return reverse("web:clinic_picker")
    if patient_for_user(user) is not None:
        return reverse("web:patient_home")
    return reverse("web:landing")


@public_page()
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_home_for(request.user))
    return render(request, "web/landing.html")


@public_page()
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "web/landing.html")


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    form = SignInForm(request.POST or None)
    status = 200
    retry_after = None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = session_sign_in(
                    request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
                )
            except Problem as problem:  # wrong credentials, or locked out for a while
                form.add_error(None, problem.detail)
                status = 429 if problem.status == 429 else 400
                retry_after = problem.headers.get("Retry-After")
            else:
                return HttpResponseRedirect(next_url or _home_for(user))
    response = render(request, "web/sign_in.html", {"form": form, "next": next_url}, status=status)
    if retry_after:
        response["Retry-After"] = retry_after
    return response


@page("accounts.view_self", methods=("POST",))
@require_http_methods(["POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    session_sign_out(request)
    messages.info(request, _("You have signed out."))
    return redirect("web:landing")


@public_page(methods=("POST",))
@require_http_methods(["POST"])
def set_language(request: HttpRequest) -> HttpResponse:
    response = django_set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in {"ar", "en"}:
        user_set_language(user=request.user, language=language)
    return response


@public_page()
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "name": _("Shifa"),
        "short_name": _("Shifa"),
        "start_url": reverse("web:patient_home"),
        "display": "standalone",
        "background_color": "#f6f8f8",
        "theme_color": "#0b7a75",
        "lang": get_language(),
        "dir": "rtl" if get_language() == "ar" else "ltr",
    }
    return HttpResponse(json.dumps(data, ensure_ascii=False), content_type="application/manifest+json")


@page("patient.use_app")
def patient_home(request: HttpRequest) -> HttpResponse:
    patient = patient_for_user(request.actor.user)
    return render(request, "web/patient/home.html", {"patient": patient, "nav": "home"})


def _role_names(codes) -> list[str]:
    language = get_language()
    names = []
    for code in catalog.STAFF_ROLES:
        if code in codes:
            spec = catalog.role_spec(code)
            names.append(spec.name_ar if language == "ar" else spec.name_en)
    return names


@page("clinic.use_console")
def clinic_picker(request: HttpRequest) -> HttpResponse:
    language = get_language()
    clinics = [
        {
            "clinic": c,
            "name": c.display_name(language),
            "roles": _role_names(tenancy_queries.roles_in(request.actor.user, c)),
        }
        for c in tenancy_queries.clinics_of_user(request.actor.user)
    ]
    return render(request, "web/clinic/picker.html", {"clinics": clinics, "shell_title": _("Clinic console")})


def _clinic_context(request: HttpRequest, nav: str) -> dict:
    actor = request.actor
    clinic = actor.clinic
    return {
        "clinic": clinic,
        "clinic_name": clinic.display_name(get_language()),
        "role_names": _role_names(actor.roles),
        "can_view_members": has_permission(actor.roles, "tenancy.view_members", clinic),
        "nav": nav,
        "shell_title": _("Clinic console"),
    }


@page("tenancy.view_clinic")
def clinic_home(request: HttpRequest, clinic_id) -> HttpResponse:
    return render(request, "web/clinic/home.html", _clinic_context(request, "home"))


@page("tenancy.view_members")
def clinic_staff(request: HttpRequest, clinic_id) -> HttpResponse:
    page_ = tenancy_queries.membership_list(actor=request.actor, limit=200)
    members = [
        {"user": m.user, "role_name": _role_names({m.role.code})[0], "is_active": m.is_active}
        for m in page_.items
    ]
    return render(request, "web/clinic/staff.html", {**_clinic_context(request, "staff"), "members": members})


@page("platform.use_console")
def platform_home(request: HttpRequest) -> HttpResponse:
    language = get_language()
    result = tenancy_queries.clinic_list_for_platform(
        actor=request.actor, cursor=request.GET.get("cursor"), limit=50
    )
    clinics = [
        {
            "clinic": c,
            "name": c.display_name(language),
            "institution": c.institution.name_ar if language == "ar" else c.institution.name_en,
        }
        for c in result.items
    ]
    return render(
        request,
        "web/platform/home.html",
        {
            "clinics": clinics,
            "next_cursor": result.next_cursor,
            "nav": "clinics",
            "shell_title": _("Platform console"),
        },
    )
