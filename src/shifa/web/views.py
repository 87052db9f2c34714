"""The three front ends' pages. Thin: each calls queries/actions and renders a template."""

from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django.views.i18n import set_language as django_set_language

from shifa.access import catalog
from shifa.access.declare import page, public_page
from shifa.access.policies import has_permission
from shifa.accounts.actions import session_sign_in, session_sign_out, user_set_language
from shifa.core import timezones
from shifa.core.errors import Problem
from shifa.core.money import Money
from shifa.records.queries import patient_for_user
from shifa.tenancy import queries as tenancy_queries
from shifa.tenancy.models import Clinic

from .forms import SignInForm


def home_for(user) -> str:
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
        return redirect(home_for(request.user))
    return render(request, "web/landing.html")


@public_page()
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "web/landing.html")


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    from .account_views import after_sign_in, form_page, show_problem, sign_in_links

    form = SignInForm(request.POST or None)
    status, problem = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                signed_in = session_sign_in(
                    request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
                )
            except Problem as exc:  # wrong credentials, unconfirmed email, or locked out for a while
                problem = exc
                status = show_problem(form, exc)
            else:
                return after_sign_in(request, signed_in)
    response = form_page(
        request,
        form,
        title=_("Sign in to Shifa"),
        submit=_("Sign in"),
        links=sign_in_links(request),
        status=status,
    )
    if problem is not None and problem.headers.get("Retry-After"):
        response["Retry-After"] = problem.headers["Retry-After"]
    return response


@page("accounts.view_self", methods=("POST",))
@require_http_methods(["POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    session_sign_out(request)
    messages.info(request, _("You have signed out."))
    response = redirect("web:landing")
    # Pages the browser kept hold health data: drop its HTTP cache (the service worker empties its own).
    response["Clear-Site-Data"] = '"cache"'
    return response


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
    """The patient app's web manifest, in the visitor's language (see docs/decisions/0025-pwa.md)."""
    from .pwa_views import manifest_data

    data = manifest_data()
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
        "can_invite": has_permission(actor.roles, "tenancy.manage_invitations", clinic),
        "can_configure": has_permission(actor.roles, "clinic.configure", clinic),
        "can_view_roles": has_permission(actor.roles, "access.view_roles", clinic),
        "can_view_desk": has_permission(actor.roles, "scheduling.view_appointments", clinic),
        "can_view_chart": has_permission(actor.roles, "records.view_chart", clinic),
        "nav": nav,
        "shell_title": _("Clinic console"),
    }


@page("tenancy.view_clinic")
def clinic_home(request: HttpRequest, clinic_id) -> HttpResponse:
    return render(request, "web/clinic/home.html", _clinic_context(request, "home"))


@page("tenancy.manage_invitations", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_invitations(request: HttpRequest, clinic_id) -> HttpResponse:
    from shifa.tenancy import actions as tenancy_actions

    from .account_views import show_problem
    from .forms import InvitationForm

    actor = request.actor
    allowed = [
        (code, name)
        for code, name in zip(catalog.STAFF_ROLES, _role_names(set(catalog.STAFF_ROLES)), strict=True)
        if code != catalog.GENERAL_ADMIN and catalog.ROLE_RANK.get(code, 0) < catalog.rank(actor.roles)
    ]
    form = InvitationForm(request.POST or None, roles=allowed)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                invitation = tenancy_actions.invitation_invite(
                    actor=actor, email=form.cleaned_data["email"], role_code=form.cleaned_data["role"]
                )
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
                return redirect("web:clinic_invitations", clinic_id=clinic_id)
    invitations = tenancy_queries.invitation_list(actor=actor, limit=100).items
    rows = [{"invitation": i, "role_name": _role_names({i.role.code})[0]} for i in invitations]
    return render(
        request,
        "web/clinic/invitations.html",
        {**_clinic_context(request, "invitations"), "form": form, "rows": rows, "now": timezones.now()},
        status=status,
    )


@page("documents.view")
def clinic_documents(request: HttpRequest, clinic_id) -> HttpResponse:
    from shifa.documents import queries as document_queries
    from shifa.documents.models import DocumentStatus

    items = document_queries.document_list(actor=request.actor, limit=100).items
    waiting = any(d.status in {DocumentStatus.PENDING, DocumentStatus.RENDERING} for d in items)
    context = {**_clinic_context(request, "documents"), "documents": items, "waiting": waiting}
    template = "web/clinic/_documents_table.html" if request.htmx else "web/clinic/documents.html"
    return render(request, template, context)


@page("documents.view")
def clinic_document_file(request: HttpRequest, clinic_id, document_id) -> HttpResponse:
    from shifa.documents import queries as document_queries
    from shifa.documents.api import pdf_response

    return pdf_response(document_queries.document_get(actor=request.actor, document_id=document_id))


@public_page()
def signed_file(request: HttpRequest, token: str) -> HttpResponse:
    """A document through a five-minute signed link (no sign-in: holding the link is the permission)."""
    from shifa.documents import queries as document_queries
    from shifa.documents.api import pdf_response

    return pdf_response(document_queries.document_from_link(token))


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_apply(request: HttpRequest) -> HttpResponse:
    """A clinic applies to join Shifa (public)."""
    from shifa.tenancy import actions as tenancy_actions

    from .account_views import show_problem
    from .forms import ClinicApplicationForm

    form = ClinicApplicationForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "documents"}
            try:
                tenancy_actions.application_submit(**data, documents=form.cleaned_data["documents"])
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                return render(
                    request,
                    "web/accounts/form_page.html",
                    {
                        "title": _("Application received"),
                        "intro": _("Thank you. We will review your documents and write to %(email)s.")
                        % {"email": data["contact_email"]},
                    },
                    status=201,
                )
    return render(
        request,
        "web/clinic_apply.html",
        {"form": form, "title": _("Bring your clinic to Shifa"), "submit": _("Send the application")},
        status=status,
    )


def _platform_context(nav: str) -> dict:
    return {"nav": nav, "shell_title": _("Platform console")}


@page("platform.manage_clinics")
def platform_applications(request: HttpRequest) -> HttpResponse:
    page_ = tenancy_queries.application_list(status=request.GET.get("status") or None, limit=100)
    return render(
        request,
        "web/platform/applications.html",
        {**_platform_context("applications"), "applications": page_.items},
    )


@page("platform.manage_clinics", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def platform_application(request: HttpRequest, application_id) -> HttpResponse:
    from shifa.tenancy import actions as tenancy_actions

    from .account_views import show_problem
    from .forms import ApproveForm, RejectForm

    application = tenancy_queries.application_get(application_id=application_id)
    language = get_language()
    plans = [
        (p.code, f"{p.name_ar if language == 'ar' else p.name_en} · {Money(p.price, 'JOD').format(language)}")
        for p in tenancy_queries.plan_list()
    ]
    step = request.POST.get("step")
    approve = ApproveForm(request.POST if step == "approve" else None, plans=plans)
    reject = RejectForm(request.POST if step == "reject" else None)
    status = 200
    if request.method == "POST":
        status = 400
        form = approve if step == "approve" else reject
        if form.is_valid():
            try:
                if step == "approve":
                    tenancy_actions.application_approve(
                        actor=request.actor,
                        application_id=application.external_id,
                        plan_code=form.cleaned_data["plan"],
                        months=form.cleaned_data["months"],
                    )
                    messages.success(request, _("Approved. The General Admin is invited."))
                else:
                    tenancy_actions.application_reject(
                        actor=request.actor,
                        application_id=application.external_id,
                        reason=form.cleaned_data["reason"],
                    )
                    messages.success(request, _("Rejected. The applicant is told why."))
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                return redirect("web:platform_applications")
    context = {
        **_platform_context("applications"),
        "application": application,
        "approve": approve,
        "reject": reject,
    }
    return render(request, "web/platform/application.html", context, status=status)


@page("platform.manage_clinics")
def platform_application_document(request: HttpRequest, application_id, number: int) -> HttpResponse:
    from django.http import FileResponse

    document, handle = tenancy_queries.application_document(application_id=application_id, number=number)
    response = FileResponse(
        handle, content_type=document["content_type"], as_attachment=False, filename=document["name"]
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "sandbox"
    return response


@page("platform.view_audit")
def platform_audit(request: HttpRequest) -> HttpResponse:
    """The audit log: filters by entity, actor, clinic and time; each change with before and after side by side."""
    import datetime as dt

    from django.conf import settings

    from shifa.accounts.models import User
    from shifa.audit import queries as audit_queries

    from .forms import AuditFilterForm

    form = AuditFilterForm(request.GET or None)
    rows, next_cursor = [], None
    # Days and times in the platform's zone, as elsewhere in the console (Jordan's), named on the page.
    zone_name = settings.SHIFA_DEFAULT_CLINIC_ZONE
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        actor = (
            User.objects.filter(email=(data.get("actor") or "").strip().lower()).first()
            if data.get("actor")
            else None
        )
        clinic = Clinic.objects.filter(slug=data.get("clinic")).first() if data.get("clinic") else None
        zone = timezones.zone(zone_name)
        since = dt.datetime.combine(data["since"], dt.time(), zone) if data.get("since") else None
        until = (
            dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time(), zone)
            if data.get("until")
            else None
        )
        no_match = (data.get("actor") and actor is None) or (data.get("clinic") and clinic is None)
        page_ = audit_queries.audit_event_list(
            actor=request.actor,
            table=data.get("table") or None,
            entity_id=data.get("entity_id"),
            actor_id=actor.external_id if actor else (uuid.uuid4() if no_match else None),
            clinic_id=clinic.external_id if clinic else (uuid.uuid4() if no_match else None),
            since=since,
            until=until,
            cursor=request.GET.get("cursor"),
            limit=50,
        )
        events = audit_queries.present_events(page_.items)
        people = {
            u.external_id: u
            for u in User.objects.filter(external_id__in=[e["actor"] for e in events if e["actor"]])
        }
        for event in events:
            keys = sorted(set(event["before"] or {}) | set(event["after"] or {}))
            changed = set(event["changed_fields"]) if event["operation"] == "UPDATE" else set(keys)
            fields = [
                {
                    "name": key,
                    "before": (event["before"] or {}).get(key, ""),
                    "after": (event["after"] or {}).get(key, ""),
                    "changed": key in changed,
                }
                for key in keys
                if key not in {"created_at", "updated_at", "external_id"}
            ]
            rows.append(
                {
                    **event,
                    "who": people.get(event["actor"]),
                    "local_time": timezones.wall_clock(event["occurred_at"], zone_name),
                    # An update shows what it changed; the untouched fields wait behind "All fields".
                    "fields": fields,
                    "shown": [f for f in fields if f["changed"]],
                    "partial": any(not f["changed"] for f in fields),
                }
            )
        next_cursor = page_.next_cursor
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "web/platform/audit.html",
        {
            "nav": "audit",
            "shell_title": _("Platform console"),
            "form": form,
            "rows": rows,
            "zone": zone_name,
            "next_cursor": next_cursor,
            "query": query.urlencode(),
        },
    )


@public_page()
def clinic_photo(request: HttpRequest, photo_id) -> HttpResponse:
    """A clinic's photo, for anyone: patients see clinics' photos before they sign in."""
    from django.http import FileResponse

    from shifa.directory import queries as directory_queries

    response = FileResponse(directory_queries.clinic_photo_file(photo_id=photo_id), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
