"""The clinic console's telehealth pages: the care team's conversations with patients (TM-3), the "Treat Me Now"
queue for doctors on duty (TM-2), and the platform console's waiting times of that queue. Thin: the same queries
and actions as ``shifa.telehealth.api``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.access.policies import has_permission
from shifa.core import timezones
from shifa.core.errors import Conflict, NotFound, Problem
from shifa.telehealth import actions, queries
from shifa.telehealth.models import Side

from .account_views import problem_text
from .clinic_views import _render
from .telehealth_views import (
    age_in_years,
    conversation_rows,
    messages_only,
    minutes_and_seconds,
    send_message,
    thread_context,
)

TEAM = "messaging.care_team"
URGENT = "telehealth.urgent_care"
STATS = "platform.view_clinics"

#: The periods the platform console compares, in days.
PERIODS = (1, 7, 30)
#: How often the queue is looked at again when its WebSocket is not connected.
QUEUE_POLL_SECONDS = 30


# --- conversations ------------------------------------------------------------------------------------------------


def _conversation_url(clinic_id, conversation_id) -> str:
    return reverse(
        "web:clinic_conversation", kwargs={"clinic_id": clinic_id, "conversation_id": conversation_id}
    )


class StartForm(forms.Form):
    patient_id = forms.UUIDField(widget=forms.HiddenInput)


def _conversations_page(request: HttpRequest, *, problem: str = "", status: int = 200) -> HttpResponse:
    clinic = request.actor.clinic
    found, next_cursor = queries.clinic_conversations(
        actor=request.actor, cursor=request.GET.get("cursor") or None
    )
    rows = conversation_rows(
        found, language=get_language(), link=lambda c: _conversation_url(clinic.external_id, c.external_id)
    )
    return _render(
        request,
        "web/clinic/messages.html",
        "messages",
        rows=rows,
        next_cursor=next_cursor,
        problem=problem,
        status=status,
    )


@page(TEAM, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_messages(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's conversations with patients, most recent first, with what I have not read; a patient's chart
    opens (or finds) the conversation with them by posting here."""
    if request.method == "GET":
        return _conversations_page(request)
    form = StartForm(request.POST)
    if not form.is_valid():
        return _conversations_page(request, problem=_("Choose a patient of this clinic."), status=400)
    try:
        conversation = actions.conversation_start(
            actor=request.actor, patient_id=form.cleaned_data["patient_id"]
        )
    except NotFound:
        raise
    except Problem as exc:
        return _conversations_page(request, problem=problem_text(exc), status=400)
    return redirect(_conversation_url(clinic_id, conversation.external_id))


def _team_thread(request: HttpRequest, conversation_id, *, form=None, status=200) -> HttpResponse:
    actor = request.actor
    conversation = queries.conversation_for(actor=actor, side=Side.CLINIC, conversation_id=conversation_id)
    clinic_id = actor.clinic.external_id
    context = thread_context(
        request,
        conversation,
        side=Side.CLINIC,
        page_url=_conversation_url(clinic_id, conversation.external_id),
        ws_url=f"/ws/clinics/{clinic_id}/conversations/{conversation.external_id}",
        attachment_url=(
            f"/api/v1/clinics/{clinic_id}/conversations/{conversation.external_id}"
            "/messages/__message__/attachment"
        ),
        form=form,
    )
    if (fragment := messages_only(request, context)) is not None:
        return fragment
    patient = conversation.patient
    return _render(
        request,
        "web/clinic/messages_conversation.html",
        "messages",
        **context,
        patient=patient,
        patient_name=patient.display_name(get_language()),
        can_open_chart=has_permission(actor.roles, "records.view_chart", actor.clinic),
        status=status,
    )


@page(TEAM, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_conversation(request: HttpRequest, clinic_id, conversation_id) -> HttpResponse:
    """A conversation with a patient (or the guardian of a dependant): its messages, and an answer to send."""
    if request.method == "GET":
        return _team_thread(request, conversation_id)
    conversation = queries.conversation_for(
        actor=request.actor, side=Side.CLINIC, conversation_id=conversation_id
    )
    return send_message(
        request,
        conversation,
        side=Side.CLINIC,
        page_url=_conversation_url(clinic_id, conversation.external_id),
        again=lambda form, status: _team_thread(request, conversation_id, form=form, status=status),
    )


# --- Treat Me Now: the queue -------------------------------------------------------------------------------------


def _queue_rows(waiting: list, language: str) -> list[dict]:
    now = timezones.now()
    today = timezones.to_local(now).date()
    rows = []
    for place, request in enumerate(waiting, start=1):
        patient = request.patient
        rows.append(
            {
                "id": request.external_id,
                "place": place,
                "patient_name": patient.display_name(language),
                "age": age_in_years(patient.date_of_birth, today),
                "sex": patient.get_sex_display() if patient.sex != "unknown" else "",
                "specialty": request.specialty.display_name(language) if request.specialty_id else "",
                "complaint": request.complaint,
                "waited_minutes": int((now - request.created_at).total_seconds() // 60),
                "escalated": request.escalated_at is not None,
                "priority": request.priority > 0,
            }
        )
    return rows


def _urgent_page(request: HttpRequest, *, problem: str = "", status: int = 200) -> HttpResponse:
    actor = request.actor
    duty = queries.duty_of(actor=actor)
    _duty_here, waiting = queries.urgent_queue(actor=actor)
    on_duty_here = bool(duty and duty.on_duty and duty.clinic_id == actor.clinic.pk)
    context = {
        "duty": duty,
        "duty_since": timezones.wall_clock(duty.since, actor.clinic.time_zone) if duty else None,
        "on_duty_here": on_duty_here,
        "on_duty_elsewhere": bool(duty and duty.on_duty and not on_duty_here),
        "elsewhere_name": duty.clinic.display_name(get_language()) if duty and duty.clinic_id else "",
        "queue": _queue_rows(waiting, get_language()),
        "waiting_count": len(waiting) if on_duty_here else queries.waiting().count(),
        "doctors_on_duty": queries.doctors_on_duty(),
        "minutes_per_request": round(queries.minutes_per_request()),
        "poll_seconds": QUEUE_POLL_SECONDS,
        "ws_url": f"/ws/clinics/{actor.clinic.external_id}/urgent-queue",
        "problem": problem,
    }
    if request.htmx and request.method == "GET":
        return _render(request, "web/clinic/urgent_queue.html", "urgent", **context)
    return _render(request, "web/clinic/urgent.html", "urgent", **context, status=status)


@page(URGENT)
def clinic_urgent(request: HttpRequest, clinic_id) -> HttpResponse:
    """Treat Me Now for a doctor: going on or off duty, and while on duty here the live queue of patients waiting,
    in the order to take them."""
    return _urgent_page(request)


@page(URGENT, methods=("POST",))
@require_http_methods(["POST"])
def clinic_urgent_duty(request: HttpRequest, clinic_id) -> HttpResponse:
    """Go on duty for urgent requests, taking the patients into this clinic, or off duty."""
    wanted = request.POST.get("on_duty", "")
    if wanted not in {"on", "off"}:
        return _urgent_page(request, problem=_("Choose on duty or off duty."), status=400)
    try:
        duty = actions.duty_set(actor=request.actor, on_duty=wanted == "on")
    except NotFound:
        raise
    except Problem as exc:
        return _urgent_page(request, problem=problem_text(exc), status=_status(exc))
    if duty.on_duty:
        messages.success(request, _("You are on duty: patients asking for a doctor now appear below."))
    else:
        messages.success(request, _("You are off duty."))
    return redirect("web:clinic_urgent", clinic_id=clinic_id)


def _status(problem: Problem) -> int:
    return problem.status if problem.status in {403, 409, 429, 503} else 400


@page(URGENT, methods=("POST",))
@require_http_methods(["POST"])
def clinic_urgent_accept(request: HttpRequest, clinic_id, request_id) -> HttpResponse:
    """Take a waiting patient: a video appointment starting now is made here and the call screen opens. When
    another doctor was quicker, the queue comes back saying so."""
    try:
        accepted = actions.urgent_accept(actor=request.actor, request_id=request_id)
    except NotFound:
        raise
    except Conflict as exc:
        if exc.code == "already_taken":
            problem = _(
                "Another doctor has just taken this patient — thank you. The queue below is up to date."
            )
        else:
            problem = problem_text(exc)
        return _urgent_page(request, problem=problem, status=409)
    except Problem as exc:
        return _urgent_page(request, problem=problem_text(exc), status=_status(exc))
    view = queries.urgent_view(accepted)
    return redirect(f"/clinic/{clinic_id}/appointments/{view.appointment_id}/call")


# --- the platform console -----------------------------------------------------------------------------------------


@page(STATS)
def platform_urgent_care(request: HttpRequest) -> HttpResponse:
    """Treat Me Now across the platform: how long patients waited (median, 90th percentile, longest), how many
    asked, were seen, cancelled or escalated, who waits now and how many doctors are on duty."""
    try:
        days = int(request.GET.get("days", "7"))
    except ValueError:
        days = 7
    if days not in PERIODS:
        days = 7
    stats = queries.urgent_stats(days=days)
    context = {
        "stats": stats,
        "days": days,
        "periods": PERIODS,
        "median": minutes_and_seconds(stats.median_wait_seconds),
        "p90": minutes_and_seconds(stats.p90_wait_seconds),
        "longest": minutes_and_seconds(stats.longest_wait_seconds),
        "since": timezones.wall_clock(stats.since),
        "seen_share": round(100 * stats.accepted / stats.requested) if stats.requested else None,
        "nav": "urgent_care",
        "shell_title": _("Platform console"),
    }
    return render(request, "web/platform/urgent_care.html", context)


urlpatterns = [
    path("clinic/<uuid:clinic_id>/messages", clinic_messages, name="clinic_messages"),
    path(
        "clinic/<uuid:clinic_id>/messages/<uuid:conversation_id>",
        clinic_conversation,
        name="clinic_conversation",
    ),
    path("clinic/<uuid:clinic_id>/urgent", clinic_urgent, name="clinic_urgent"),
    path("clinic/<uuid:clinic_id>/urgent/duty", clinic_urgent_duty, name="clinic_urgent_duty"),
    path(
        "clinic/<uuid:clinic_id>/urgent/<uuid:request_id>/accept",
        clinic_urgent_accept,
        name="clinic_urgent_accept",
    ),
    path("platform/urgent-care", platform_urgent_care, name="platform_urgent_care"),
]
