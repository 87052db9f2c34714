"""Telehealth API: joining video visits (TM-1), "Treat Me Now" (TM-2) and conversations with the care team (TM-3).

A join answer carries a short-lived token; it is made for that answer only (never stored, never replayed by the
Idempotency-Key machinery, never logged)."""

from __future__ import annotations

import hashlib
import uuid

from django.http import FileResponse, HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.idempotency import HEADER, once
from shifa.core.schemas import ERRORS

from . import actions, queries
from .events import message_data
from .models import Attendee, Meeting, Side, UrgentRequest

router = Router(tags=["telehealth"])
OWN = operation("telehealth.use_own")
CONSULT = operation("telehealth.consult")
URGENT = operation("telehealth.urgent_care")
MY_MESSAGES = operation("messaging.use_own")
TEAM = operation("messaging.care_team")
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def _iso(value):
    return timezones.isoformat_z(value) if value else None


# --- video ----------------------------------------------------------------------------------------------------------


def attendee_out(attendee: Attendee) -> dict:
    return {
        "id": str(attendee.external_id),
        "role": attendee.role,
        "name": attendee.name,
        "provider_attendee_id": attendee.provider_attendee_id,
        "capabilities": attendee.capabilities,
        "admitted_at": _iso(attendee.admitted_at),
        "joined_at": _iso(attendee.joined_at),
        "left_at": _iso(attendee.left_at),
        "invited": attendee.role == "guest",
        "invitation_used_at": _iso(attendee.invite_used_at),
        "removed": attendee.role == "guest" and attendee.invite_digest is None,
    }


def meeting_out(meeting: Meeting) -> dict:
    return {
        "id": str(meeting.external_id),
        "provider": meeting.provider,
        "provider_meeting_id": meeting.provider_meeting_id,
        "external_meeting_id": meeting.external_meeting_id,
        "media_region": meeting.media_region,
        "status": meeting.status,
        "opens_at": _iso(meeting.opens_at),
        "closes_at": _iso(meeting.closes_at),
        "started_at": _iso(meeting.started_at),
        "ended_at": _iso(meeting.ended_at),
    }


def joined_out(joined: actions.Joined) -> dict:
    return {
        "meeting": {**meeting_out(joined.meeting), "join_info": joined.meeting.join_info},
        "attendee": attendee_out(joined.attendee),
        "token": joined.token.token,
        "expires_at": _iso(joined.token.expires_at),
        "connection": joined.token.connection,
        **({"resume": joined.resume} if joined.resume else {}),
    }


@router.post(
    "/me/appointments/{appointment_id}/video",
    response=OK,
    operation_id="telehealth_my_video_join",
    summary="Join my (or my dependant's) video visit: a short-lived join token, from 15 minutes before it starts",
    **OWN,
)
def my_video_join(request: HttpRequest, appointment_id: uuid.UUID):
    return joined_out(actions.video_join_as_patient(actor=request.actor, appointment_id=appointment_id))


@router.get(
    "/me/appointments/{appointment_id}/video",
    response=OK,
    operation_id="telehealth_my_video",
    summary="My video visit's meeting (null until someone joins)",
    **OWN,
)
def my_video(request: HttpRequest, appointment_id: uuid.UUID):
    meeting = queries.my_meeting(actor=request.actor, appointment_id=appointment_id)
    return {"meeting": meeting_out(meeting) if meeting else None}


@router.post(
    "/clinics/{clinic_id}/appointments/{appointment_id}/video",
    response=OK,
    operation_id="telehealth_video_join",
    summary="The appointment's doctor joins its video visit (a short-lived join token)",
    **CONSULT,
)
def video_join(request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID):
    return joined_out(actions.video_join_as_doctor(actor=request.actor, appointment_id=appointment_id))


@router.get(
    "/clinics/{clinic_id}/appointments/{appointment_id}/video",
    response=OK,
    operation_id="telehealth_video_meeting",
    summary="The meeting record of a video visit: provider session, attendees, their join and leave times",
    **operation("scheduling.view_appointments"),
)
def video_meeting(request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID):
    meeting, attendees = queries.clinic_meeting(actor=request.actor, appointment_id=appointment_id)
    return {
        "meeting": meeting_out(meeting) if meeting else None,
        "attendees": [attendee_out(a) for a in attendees],
    }


class GuestIn(Schema):
    name: str = Field(..., description="Who is invited: an interpreter, a family member", max_length=500)


@router.post(
    "/clinics/{clinic_id}/appointments/{appointment_id}/video/guests",
    response=CREATED,
    operation_id="telehealth_invite_guest",
    summary="Invite a third participant by a one-time link (valid for an hour, once)",
    **CONSULT,
)
def invite_guest(request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID, payload: GuestIn):
    link = actions.guest_invite(actor=request.actor, appointment_id=appointment_id, name=payload.name)
    return Status(
        201,
        {
            "attendee": attendee_out(link.attendee),
            "url": request.build_absolute_uri(f"/call/guest/{link.secret}"),
            "expires_at": _iso(link.expires_at),
        },
    )


@router.delete(
    "/clinics/{clinic_id}/appointments/{appointment_id}/video/guests/{attendee_id}",
    response=OK,
    operation_id="telehealth_remove_guest",
    summary="Remove the invited guest (their link stops working; a connected guest is let go)",
    **CONSULT,
)
def remove_guest(
    request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID, attendee_id: uuid.UUID
):
    attendee = actions.guest_remove(
        actor=request.actor, appointment_id=appointment_id, attendee_id=attendee_id
    )
    return attendee_out(attendee)


@router.post(
    "/clinics/{clinic_id}/appointments/{appointment_id}/video/end",
    response=OK,
    operation_id="telehealth_end_video",
    summary="End the video visit for everyone",
    **CONSULT,
)
def end_video(request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID):
    return meeting_out(actions.meeting_end(actor=request.actor, appointment_id=appointment_id))


class GuestJoinIn(Schema):
    link: str = Field(..., description="The secret part of the one-time link", max_length=200)
    resume: str = Field(
        "", description="The key this browser got when it first used the link (to come back)", max_length=200
    )


@router.post(
    "/video/guest-joins",
    response=OK,
    operation_id="telehealth_guest_join",
    summary="An invited guest joins by their one-time link (no account needed)",
    **operation(public=True, auth=None),
)
def guest_join(request: HttpRequest, payload: GuestJoinIn):
    return joined_out(actions.guest_join(secret=payload.link, resume=payload.resume))


# --- Treat Me Now ---------------------------------------------------------------------------------------------------


def urgent_out(view: queries.UrgentView, language: str) -> dict:
    request: UrgentRequest = view.request
    specialty = request.specialty
    return {
        "id": str(request.external_id),
        "status": request.status,
        "patient": {"id": str(request.patient.external_id), "name": request.patient.display_name(language)},
        "specialty": (
            {"id": str(specialty.external_id), "name": specialty.display_name(language)}
            if specialty
            else None
        ),
        "complaint": request.complaint,
        "priority": request.priority,
        "requested_at": _iso(request.created_at),
        "position": view.position,
        "estimated_wait_minutes": view.estimated_minutes,
        "doctors_on_duty": view.doctors_on_duty,
        "escalated": request.escalated_at is not None,
        "accepted_at": _iso(request.accepted_at),
        "wait_seconds": request.wait_seconds,
        "doctor": {"id": str(request.doctor.external_id), "name": request.doctor.full_name}
        if request.doctor
        else None,
        "clinic": (
            {"id": str(request.clinic.external_id), "name": request.clinic.display_name(language)}
            if request.clinic
            else None
        ),
        "appointment_id": view.appointment_id,
    }


class UrgentIn(Schema):
    patient_id: uuid.UUID | None = Field(None, description="A dependant; omitted: the signed-in patient")
    specialty_id: uuid.UUID | None = None
    complaint: str = Field("", description="What is wrong, in a few words", max_length=2000)


@router.post(
    "/me/urgent-requests",
    response={200: dict, 201: dict, **ERRORS},
    operation_id="telehealth_request_urgent",
    summary="Ask for an urgent video consultation (Treat Me Now); asking again while waiting gives the same request",
    **OWN,
)
def request_urgent(request: HttpRequest, payload: UrgentIn):
    asked_at = timezones.now()
    made = actions.urgent_request(actor=request.actor, **payload.dict())
    found = queries.my_urgent_request(actor=request.actor, request_id=made.external_id)
    # 201 for a new request; 200 when the patient was already waiting (the same request back)
    return Status(
        201 if made.created_at >= asked_at else 200,
        urgent_out(queries.urgent_view(found), _language(request)),
    )


@router.get(
    "/me/urgent-requests",
    response=OK,
    operation_id="telehealth_my_urgent_requests",
    summary="My urgent requests, newest first",
    **OWN,
)
def my_urgent_requests(request: HttpRequest):
    language = _language(request)
    found = queries.my_urgent_requests(actor=request.actor)
    doctors = queries.doctors_on_duty()
    return {"items": [urgent_out(queries.urgent_view(r, doctors=doctors), language) for r in found]}


@router.get(
    "/me/urgent-requests/{request_id}",
    response=OK,
    operation_id="telehealth_my_urgent_request",
    summary="My urgent request: place in the queue and estimated wait, or the doctor who accepted it",
    **OWN,
)
def my_urgent_request(request: HttpRequest, request_id: uuid.UUID):
    found = queries.my_urgent_request(actor=request.actor, request_id=request_id)
    return urgent_out(queries.urgent_view(found), _language(request))


@router.post(
    "/me/urgent-requests/{request_id}/cancel",
    response=OK,
    operation_id="telehealth_cancel_urgent",
    summary="Cancel my urgent request while it waits",
    **OWN,
)
def cancel_urgent(request: HttpRequest, request_id: uuid.UUID):
    actions.urgent_cancel(actor=request.actor, request_id=request_id)
    found = queries.my_urgent_request(actor=request.actor, request_id=request_id)
    return urgent_out(queries.urgent_view(found), _language(request))


def duty_out(duty) -> dict:
    return {
        "on_duty": bool(duty and duty.on_duty),
        "clinic_id": str(duty.clinic.external_id) if duty else None,
        "since": _iso(duty.since) if duty else None,
    }


class DutyIn(Schema):
    on_duty: bool


@router.get(
    "/clinics/{clinic_id}/urgent-duty",
    response=OK,
    operation_id="telehealth_duty",
    summary="Whether I am on duty for urgent requests (and for which clinic)",
    **URGENT,
)
def duty(request: HttpRequest, clinic_id: uuid.UUID):
    return duty_out(queries.duty_of(actor=request.actor))


@router.put(
    "/clinics/{clinic_id}/urgent-duty",
    response=OK,
    operation_id="telehealth_set_duty",
    summary="Go on or off duty for urgent requests, for this clinic",
    **URGENT,
)
def set_duty(request: HttpRequest, clinic_id: uuid.UUID, payload: DutyIn):
    return duty_out(actions.duty_set(actor=request.actor, on_duty=payload.on_duty))


@router.get(
    "/clinics/{clinic_id}/urgent-queue",
    response=OK,
    operation_id="telehealth_urgent_queue",
    summary="The waiting urgent requests, in the order to take them (only for a doctor on duty)",
    **URGENT,
)
def urgent_queue(request: HttpRequest, clinic_id: uuid.UUID):
    language = _language(request)
    duty, waiting = queries.urgent_queue(actor=request.actor)
    minutes = queries.minutes_per_request()
    items = []
    for index, found in enumerate(waiting, start=1):
        view = queries.UrgentView(found, index, None, 0, None)
        item = urgent_out(view, language)
        item["waited_minutes"] = int((timezones.now() - found.created_at).total_seconds() // 60)
        items.append(item)
    return {**duty_out(duty), "items": items, "minutes_per_request": round(minutes, 1)}


@router.post(
    "/clinics/{clinic_id}/urgent-requests/{request_id}/accept",
    response=OK,
    operation_id="telehealth_accept_urgent",
    summary="Take an urgent request: exactly one doctor gets it; a video appointment starting now is made",
    **URGENT,
)
def accept_urgent(request: HttpRequest, clinic_id: uuid.UUID, request_id: uuid.UUID):
    accepted = actions.urgent_accept(actor=request.actor, request_id=request_id)
    found = UrgentRequest.objects.select_related("patient", "specialty", "doctor", "clinic").get(
        pk=accepted.pk
    )
    return urgent_out(queries.urgent_view(found), _language(request))


@router.get(
    "/platform/urgent-care",
    response=OK,
    operation_id="telehealth_urgent_stats",
    summary="Treat Me Now waiting times and volumes over the last days",
    **operation("platform.view_clinics"),
)
def urgent_stats(request: HttpRequest, days: int = Query(7, ge=1, le=90)):
    stats = queries.urgent_stats(days=days)
    return {
        "since": _iso(stats.since),
        "waiting_now": stats.waiting_now,
        "on_duty_now": stats.on_duty_now,
        "requested": stats.requested,
        "accepted": stats.accepted,
        "cancelled": stats.cancelled,
        "escalated": stats.escalated,
        "median_wait_seconds": stats.median_wait_seconds,
        "p90_wait_seconds": stats.p90_wait_seconds,
        "longest_wait_seconds": stats.longest_wait_seconds,
    }


# --- conversations --------------------------------------------------------------------------------------------------


def conversation_out(row: queries.ConversationRow, language: str) -> dict:
    conversation = row.conversation
    return {
        "id": str(conversation.external_id),
        "clinic": {
            "id": str(conversation.clinic.external_id),
            "name": conversation.clinic.display_name(language),
        },
        "patient": {
            "id": str(conversation.patient.external_id),
            "name": conversation.patient.display_name(language),
        },
        "last_message_at": _iso(conversation.last_message_at),
        "last_message": message_data(row.last_message) if row.last_message else None,
        "unread": row.unread,
    }


def page_out(page: queries.MessagePage) -> dict:
    return {
        "items": [
            {**message_data(m), "read": page.read_up_to is not None and m.pk <= page.read_up_to}
            for m in page.messages
        ],
        "has_more": page.has_more,
        "other_side_read_at": _iso(page.other_read_at),
    }


class MyConversationIn(Schema):
    clinic_id: uuid.UUID
    patient_id: uuid.UUID | None = Field(None, description="A dependant; omitted: the signed-in patient")


class ConversationIn(Schema):
    patient_id: uuid.UUID


class MessageIn(Schema):
    body: str = Field(..., max_length=20000)
    client_id: str = Field(
        "", description="Your id for this message: sending it again keeps one", max_length=200
    )


class ReadIn(Schema):
    message_id: uuid.UUID


def _client_id(request: HttpRequest, client_id: str) -> str:
    """The sender's id for the message, else one derived from the Idempotency-Key (whatever its characters)."""
    if client_id:
        return client_id
    key = request.headers.get(HEADER, "").strip()
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


def _mine(request, conversation_id):
    return queries.conversation_for(actor=request.actor, side=Side.PATIENT, conversation_id=conversation_id)


def _team(request, conversation_id):
    return queries.conversation_for(actor=request.actor, side=Side.CLINIC, conversation_id=conversation_id)


def _send(request, conversation, side: str, body: str, client_id: str, upload=None):
    message, new = actions.message_send(
        actor=request.actor,
        conversation=conversation,
        side=side,
        body=body,
        upload=upload,
        client_id=_client_id(request, client_id),
    )
    return Status(201 if new else 200, message_data(message))


def _download(message) -> FileResponse:
    response = FileResponse(
        message.attachment.open("rb"),
        content_type=message.attachment_type,
        as_attachment=True,
        filename=message.attachment_name,
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/me/conversations",
    response=OK,
    operation_id="telehealth_my_conversations",
    summary="My conversations with clinics' care teams, most recent first, with unread counts",
    **MY_MESSAGES,
)
def my_conversations(request: HttpRequest):
    language = _language(request)
    return {"items": [conversation_out(r, language) for r in queries.my_conversations(actor=request.actor)]}


@router.post(
    "/me/conversations",
    response=OK,
    operation_id="telehealth_my_conversation_start",
    summary="Open (or find) my conversation with a clinic I have booked with or visited",
    **MY_MESSAGES,
)
def my_conversation_start(request: HttpRequest, payload: MyConversationIn):
    conversation = actions.my_conversation_start(actor=request.actor, **payload.dict())
    return conversation_out(queries.ConversationRow(conversation, 0, None), _language(request))


@router.get(
    "/me/conversations/{conversation_id}/messages",
    response=OK,
    operation_id="telehealth_my_messages",
    summary="Messages of my conversation, oldest first, 50 at a time (before: an earlier page)",
    **MY_MESSAGES,
)
def my_messages(
    request: HttpRequest,
    conversation_id: uuid.UUID,
    before: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=100),
):
    conversation = _mine(request, conversation_id)
    return page_out(queries.messages(conversation, side=Side.PATIENT, before=before, limit=limit))


@router.post(
    "/me/conversations/{conversation_id}/messages",
    response={200: dict, 201: dict, **ERRORS},
    operation_id="telehealth_my_send",
    summary="Write to the care team",
    **MY_MESSAGES,
)
def my_send(request: HttpRequest, conversation_id: uuid.UUID, payload: MessageIn):
    return _send(request, _mine(request, conversation_id), Side.PATIENT, payload.body, payload.client_id)


@router.post(
    "/me/conversations/{conversation_id}/attachments",
    response={200: dict, 201: dict, **ERRORS},
    operation_id="telehealth_my_send_file",
    summary="Send the care team a file (PDF, JPEG or PNG, up to 10 MB) with an optional message",
    **MY_MESSAGES,
)
def my_send_file(
    request: HttpRequest,
    conversation_id: uuid.UUID,
    file: File[UploadedFile],
    body: Form[str] = "",
    client_id: Form[str] = "",
):
    conversation = _mine(request, conversation_id)
    return Status(
        *once(request, lambda: _pair(_send(request, conversation, Side.PATIENT, body, client_id, file)))
    )


def _pair(status: Status) -> tuple[int, dict]:
    return status.status_code, status.value


@router.post(
    "/me/conversations/{conversation_id}/read",
    response=OK,
    operation_id="telehealth_my_read",
    summary="I have read the conversation up to this message",
    **MY_MESSAGES,
)
def my_read(request: HttpRequest, conversation_id: uuid.UUID, payload: ReadIn):
    conversation = _mine(request, conversation_id)
    moved = actions.conversation_read(
        actor=request.actor, conversation=conversation, side=Side.PATIENT, message_id=payload.message_id
    )
    return {"moved": moved}


@router.get(
    "/me/conversations/{conversation_id}/messages/{message_id}/attachment",
    response={200: None, **ERRORS},
    operation_id="telehealth_my_attachment",
    summary="Download a message's attachment",
    **MY_MESSAGES,
)
def my_attachment(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID):
    return _download(queries.attachment(_mine(request, conversation_id), message_id))


@router.get(
    "/clinics/{clinic_id}/conversations",
    response=OK,
    operation_id="telehealth_conversations",
    summary="The clinic's conversations with patients, most recently active first, with my unread counts (paged)",
    **TEAM,
)
def conversations(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=200),
):
    language = _language(request)
    rows, next_cursor = queries.clinic_conversations(actor=request.actor, cursor=cursor, limit=limit)
    return {"items": [conversation_out(r, language) for r in rows], "next_cursor": next_cursor}


@router.post(
    "/clinics/{clinic_id}/conversations",
    response=OK,
    operation_id="telehealth_conversation_start",
    summary="Open (or find) the conversation with one of the clinic's patients",
    **TEAM,
)
def conversation_start(request: HttpRequest, clinic_id: uuid.UUID, payload: ConversationIn):
    conversation = actions.conversation_start(actor=request.actor, patient_id=payload.patient_id)
    return conversation_out(queries.ConversationRow(conversation, 0, None), _language(request))


@router.get(
    "/clinics/{clinic_id}/conversations/{conversation_id}/messages",
    response=OK,
    operation_id="telehealth_messages",
    summary="Messages of a conversation, oldest first, 50 at a time",
    **TEAM,
)
def team_messages(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    conversation_id: uuid.UUID,
    before: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=100),
):
    conversation = _team(request, conversation_id)
    return page_out(queries.messages(conversation, side=Side.CLINIC, before=before, limit=limit))


@router.post(
    "/clinics/{clinic_id}/conversations/{conversation_id}/messages",
    response={200: dict, 201: dict, **ERRORS},
    operation_id="telehealth_send",
    summary="Write to the patient",
    **TEAM,
)
def team_send(request: HttpRequest, clinic_id: uuid.UUID, conversation_id: uuid.UUID, payload: MessageIn):
    return _send(request, _team(request, conversation_id), Side.CLINIC, payload.body, payload.client_id)


@router.post(
    "/clinics/{clinic_id}/conversations/{conversation_id}/attachments",
    response={200: dict, 201: dict, **ERRORS},
    operation_id="telehealth_send_file",
    summary="Send the patient a file (PDF, JPEG or PNG, up to 10 MB) with an optional message",
    **TEAM,
)
def team_send_file(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    conversation_id: uuid.UUID,
    file: File[UploadedFile],
    body: Form[str] = "",
    client_id: Form[str] = "",
):
    conversation = _team(request, conversation_id)
    return Status(
        *once(request, lambda: _pair(_send(request, conversation, Side.CLINIC, body, client_id, file)))
    )


@router.post(
    "/clinics/{clinic_id}/conversations/{conversation_id}/read",
    response=OK,
    operation_id="telehealth_read",
    summary="I have read the conversation up to this message",
    **TEAM,
)
def team_read(request: HttpRequest, clinic_id: uuid.UUID, conversation_id: uuid.UUID, payload: ReadIn):
    conversation = _team(request, conversation_id)
    moved = actions.conversation_read(
        actor=request.actor, conversation=conversation, side=Side.CLINIC, message_id=payload.message_id
    )
    return {"moved": moved}


@router.get(
    "/clinics/{clinic_id}/conversations/{conversation_id}/messages/{message_id}/attachment",
    response={200: None, **ERRORS},
    operation_id="telehealth_attachment",
    summary="Download a message's attachment",
    **TEAM,
)
def team_attachment(
    request: HttpRequest, clinic_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID
):
    return _download(queries.attachment(_team(request, conversation_id), message_id))
