"""Call screens of video visits (TM-1): the patient's, the doctor's (with the waiting room, a guest's one-time link,
ending for everyone and the visit's notes beside the video) and an invited guest's.

The pages render the device check and the call; the browser (static/shifa/js/call.js) joins through the telehealth
API (session and CSRF, like our other pages; guests with their link) and the signaling WebSocket. No join token is
put in a page: it is asked for when joining."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from shifa.access.declare import page, public_page
from shifa.access.policies import has_permission
from shifa.core import timezones
from shifa.telehealth import queries
from shifa.telehealth.video.webrtc import signaling_path

from .clinic_views import _render


def _strings() -> dict:
    """What the call screen's script says, in the page's language."""
    return {
        "checking": _("Checking…"),
        "camera_ok": _("Camera works."),
        "camera_failed": _("No camera, or it is blocked: you can still join with sound only."),
        "microphone_ok": _("Microphone works: speak and watch the bar move."),
        "microphone_failed": _("No microphone, or it is blocked: allow it in your browser's settings."),
        "devices_unsupported": _(
            "This browser cannot make video calls. Use a recent Chrome, Firefox or Safari."
        ),
        "connection_good": _("Connection works."),
        "connection_local": _(
            "The call service answers, but this network may block video between some networks."
        ),
        "connection_failed": _("The call service cannot be reached. Check your internet connection."),
        "joining": _("Joining…"),
        "join_failed": _("Could not join the video visit. Try again."),
        "waiting": _("You are in the waiting room: the doctor will let you in."),
        "alone": _("Waiting for the others to join."),
        "reconnecting": _("The connection dropped. Reconnecting…"),
        "ended": _("The video visit has ended."),
        "removed": _("The doctor removed you from the video visit."),
        "replaced": _("You joined this video visit from another window or device."),
        "left": _("You left the video visit."),
        "link_spent": _("Your invitation can no longer be used: ask the doctor for a new link."),
        "mute": _("Mute"),
        "unmute": _("Unmute"),
        "camera_off": _("Turn camera off"),
        "camera_on": _("Turn camera on"),
        "audio_only": _("Audio only"),
        "video_back": _("Back to video"),
        "muted": _("muted"),
        "audio_only_badge": _("audio only"),
        "connecting": _("connecting…"),
        "admit": _("Let in"),
        "nobody_waiting": _("Nobody is waiting."),
        "remove": _("Remove"),
        "confirm_end": _("End the video visit for everyone?"),
        "copied": _("Copied."),
        "saved": _("Saved."),
        "not_saved": _("Not saved: try again."),
        "you": _("You"),
        "roles": {"doctor": _("Doctor"), "patient": _("Patient"), "guest": _("Invited guest")},
    }


def _config(*, role: str, join_url: str, join_body: dict | None, meeting, **extra) -> dict:
    probe = meeting.external_id if meeting is not None else uuid.uuid4()
    return {
        "role": role,
        "join": {"url": join_url, "body": join_body},
        "probe": signaling_path(str(probe)),
        "stun": list(settings.STUN_URLS),
        "strings": _strings(),
        **extra,
    }


def _when(call) -> dict:
    """When the visit is, on the clinic's clock, and whether the device check and the join button are shown: the
    check already before the visit opens (the page reloads itself when it does), the button once it is open."""
    appointment = call.appointment
    zone = appointment.clinic.time_zone
    refusal = call.refusal
    return {
        "starts": timezones.wall_clock(appointment.starts_at, zone),
        "ends": timezones.wall_clock(appointment.ends_at, zone),
        "zone": zone,
        "joinable": refusal is None,
        "checkable": refusal is None or refusal.code == "too_early",
    }


def _opens_at(call) -> str | None:
    refusal = call.refusal
    return refusal.extensions.get("opens_at") if refusal is not None and refusal.code == "too_early" else None


@page("telehealth.use_own")
@never_cache
def patient_call(request: HttpRequest, appointment_id) -> HttpResponse:
    """The patient's (or guardian's) call screen: device check, waiting room, the call."""
    call = queries.my_call(actor=request.actor, appointment_id=appointment_id)
    appointment = call.appointment
    config = _config(
        role="patient",
        join_url=f"/api/v1/me/appointments/{appointment.external_id}/video",
        join_body=None,
        meeting=call.meeting,
        opens_at=_opens_at(call),
    )
    return render(
        request,
        "web/call/patient.html",
        {
            "call": call,
            "a": appointment,
            "clinic_name": appointment.clinic.display_name(get_language()),
            "patient_name": appointment.patient.display_name(get_language()),
            "config": config,
            **_when(call),
        },
    )


@page("telehealth.consult")
@never_cache
def clinic_call(request: HttpRequest, clinic_id, appointment_id) -> HttpResponse:
    """The doctor's call screen: the call, who waits to be let in, a guest's one-time link, ending for everyone,
    and the visit's complaint and notes beside the video."""
    from shifa.records import queries as record_queries

    from .record_views import NotesForm

    actor = request.actor
    call = queries.clinic_call(actor=actor, appointment_id=appointment_id)
    appointment = call.appointment
    clinic = actor.clinic
    base = f"/api/v1/clinics/{clinic.external_id}/appointments/{appointment.external_id}/video"
    config = _config(
        role="doctor",
        join_url=base,
        join_body=None,
        meeting=call.meeting,
        opens_at=_opens_at(call),
        api={"guests": f"{base}/guests", "end": f"{base}/end"},
    )
    can_chart = has_permission(actor.roles, "records.view_chart", clinic)
    visit_id = queries.appointment_visit_id(actor=actor, appointment=appointment) if can_chart else None
    visit = record_queries.clinic_visit(actor=actor, visit_id=visit_id).visit if visit_id else None
    guests = [a for a in call.attendees if a.role == "guest" and a.invite_digest is not None]
    return _render(
        request,
        "web/call/clinic.html",
        "desk",
        call=call,
        a=appointment,
        patient_name=appointment.patient.display_name(get_language()),
        config=config,
        guests=guests,
        visit=visit,
        notes_form=NotesForm(initial={"complaint": visit.complaint, "notes": visit.notes}) if visit else None,
        can_write=visit is not None
        and not visit.is_committed
        and has_permission(actor.roles, "records.document_visit", clinic),
        can_open_visit=can_chart
        and visit is None
        and call.refusal is None
        and has_permission(actor.roles, "records.record_vitals", clinic),
        **_when(call),
    )


@public_page()
@never_cache
def guest_call(request: HttpRequest, secret: str) -> HttpResponse:
    """An invited guest's call screen: a device check, then joining with the one-time link (opening the page does
    not use the link; joining does)."""
    attendee = queries.guest_invitation(secret=secret)
    meeting = attendee.meeting
    config = _config(
        role="guest", join_url="/api/v1/video/guest-joins", join_body={"link": secret}, meeting=meeting
    )
    doctor = meeting.appointment.doctor if meeting.appointment_id else None
    return render(
        request,
        "web/call/guest.html",
        {"guest": attendee, "doctor": doctor, "config": config},
    )


urlpatterns = [
    path("app/appointments/<uuid:appointment_id>/call", patient_call, name="patient_call"),
    path("clinic/<uuid:clinic_id>/appointments/<uuid:appointment_id>/call", clinic_call, name="clinic_call"),
    path("call/guest/<str:secret>", guest_call, name="guest_call"),
]
