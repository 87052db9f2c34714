"""Path parameters, bodies and query strings of telehealth routes for the generated route tests (tests/routes.py):
video visits (TM-1), "Treat Me Now" (TM-2), conversations with the care team (TM-3), and their WebSockets."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

PDF = b"%PDF-1.4 lab report"


def _doctor_for(t):
    """The caller if they are a doctor of the target clinic (only the appointment's doctor leads its video visit),
    else the clinic's bookable doctor."""
    from shifa.tenancy.models import Membership
    from tests.routes import _bookable

    doctor = _bookable(t.clinic)
    if t.user is not None:
        own = Membership.unscoped.filter(
            clinic=t.clinic, user=t.user, role__code="doctor", is_active=True
        ).exists()
        if own:
            return t.user
    return doctor


def _own_patient(user, name: str):
    """``user``'s own patient record, or a new patient (for callers who are not patients)."""
    from shifa.records.models import Patient

    own = Patient.objects.filter(user=user).first() if user is not None else None
    return own or Patient.objects.create(full_name=name)


def _free_now(doctor, starts, ends) -> None:
    """Cancel the doctor's active appointments overlapping [starts, ends) (no double booking)."""
    from shifa.core import timezones
    from shifa.scheduling.models import OCCUPYING, Appointment

    Appointment.unscoped.filter(
        doctor=doctor, status__in=[s.value for s in OCCUPYING], starts_at__lt=ends, ends_at__gt=starts
    ).update(status="cancelled", cancelled_at=timezones.now())


def video_appointment(clinic, doctor, patient):
    """A booked video appointment joinable now: it started five minutes ago and ends in 25 minutes."""
    from shifa.core import timezones
    from shifa.scheduling.models import Appointment

    now = timezones.now().replace(microsecond=0)
    starts, ends = now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=25)
    _free_now(doctor, starts, ends)
    return Appointment.unscoped.create(
        clinic=clinic,
        doctor=doctor,
        patient=patient,
        visit_type="video",
        starts_at=starts,
        ends_at=ends,
        status="booked",
        channel="app",
    )


def video_meeting(appointment):
    """The built-in video meeting of ``appointment``, open for its window, with its doctor as an attendee."""
    from django.conf import settings

    from shifa.telehealth.models import Attendee, Meeting
    from shifa.telehealth.video import get_provider

    external_id = f"shifa-{appointment.external_id.hex}"
    made = get_provider("webrtc").create_meeting(external_meeting_id=external_id, max_participants=3)
    meeting = Meeting.unscoped.create(
        clinic_id=appointment.clinic_id,
        appointment=appointment,
        provider="webrtc",
        provider_meeting_id=made.meeting_id,
        external_meeting_id=external_id,
        join_info=made.join_info,
        opens_at=appointment.starts_at - dt.timedelta(minutes=settings.MEETING_EARLY_MINUTES),
        closes_at=appointment.ends_at + dt.timedelta(minutes=settings.MEETING_LATE_MINUTES),
    )
    external_user_id = uuid.uuid4().hex
    Attendee.unscoped.create(
        clinic_id=meeting.clinic_id,
        meeting=meeting,
        user=appointment.doctor,
        role="doctor",
        name="Doctor",
        provider_attendee_id=external_user_id,
        external_user_id=external_user_id,
        admitted_at=meeting.opens_at,
    )
    return meeting


def guest_invite(meeting) -> tuple[object, str]:
    """A guest invited to ``meeting`` by a one-time link not used yet: (the attendee, the link's secret)."""
    from shifa.core import timezones
    from shifa.telehealth.models import Attendee

    secret = secrets.token_urlsafe(32)
    external_user_id = uuid.uuid4().hex
    attendee = Attendee.unscoped.create(
        clinic_id=meeting.clinic_id,
        meeting=meeting,
        role="guest",
        name="Interpreter",
        provider_attendee_id=external_user_id,
        external_user_id=external_user_id,
        invite_digest=hashlib.sha256(secret.encode()).hexdigest(),
        invite_expires_at=timezones.now() + dt.timedelta(hours=1),
        invited_by=meeting.appointment.doctor,
    )
    return attendee, secret


def _appointment(t, spec) -> str:
    """For video routes a video appointment of the target clinic joinable now (the caller's own for /me routes,
    with the caller as its doctor if they are a doctor there), with its meeting for the routes that act on one;
    the appointment of tests/routes.py otherwise."""
    from tests.routes import _appointment as appointment_for
    from tests.routes import _for_patient

    if "/video" not in spec.path:
        return appointment_for(t, spec)
    patient = _own_patient(t.user if _for_patient(spec) else None, "Video patient")
    appointment = video_appointment(t.clinic, _doctor_for(t), patient)
    if spec.path.endswith(("/video/end", "/{attendee_id}")):
        t.video_meeting = video_meeting(appointment)
    return str(appointment.external_id)


def _attendee(t) -> str:
    """A guest (with an unused invitation) of the meeting of the appointment filled in just before."""
    meeting = getattr(t, "video_meeting", None)
    if meeting is None:
        from tests.routes import _bookable

        doctor = _bookable(t.clinic)
        meeting = video_meeting(video_appointment(t.clinic, doctor, _own_patient(None, "Video patient")))
        t.video_meeting = meeting
    attendee, _secret = guest_invite(meeting)
    return str(attendee.external_id)


def _meeting(t) -> str:
    from tests.routes import _bookable

    appointment = video_appointment(t.clinic, _bookable(t.clinic), _own_patient(t.user, "Video patient"))
    return str(video_meeting(appointment).external_id)


def _urgent_request(t, spec) -> str:
    """For /me routes the caller's own waiting request; to accept, someone else's waiting request, with the caller
    on duty for the target clinic (and free now) if they are a doctor there."""
    from shifa.core import timezones
    from shifa.telehealth.models import Duty, UrgentRequest
    from tests.factories import PatientFactory
    from tests.routes import _for_patient

    if _for_patient(spec) or spec.path.startswith("/ws/me/"):
        patient = _own_patient(t.user, "Urgent patient")
        requested_by = t.user or _bookable_user(t)
    else:
        patient = PatientFactory(full_name="Urgent patient")
        requested_by = patient.user
    if spec.path.endswith("/accept"):
        doctor = _doctor_for(t)
        if doctor == t.user:
            now = timezones.now()
            Duty.unscoped.update_or_create(
                doctor=doctor, defaults={"clinic": t.clinic, "on_duty": True, "since": now}
            )
            _free_now(doctor, now - dt.timedelta(minutes=1), now + dt.timedelta(minutes=30))
    request = UrgentRequest.objects.filter(patient=patient, status="waiting").first()
    request = request or UrgentRequest.objects.create(
        patient=patient, requested_by=requested_by, complaint="Fever since this morning"
    )
    return str(request.external_id)


def _bookable_user(t):
    from tests.routes import _bookable

    return _bookable(t.clinic)


def _conversation(t, spec):
    """A conversation of the target clinic with the caller's own patient (/me routes) or a patient in its care,
    holding one message from the care team."""
    from shifa.telehealth.models import Conversation, Message
    from tests.routes import _for_patient, _patient_in_care

    mine = _for_patient(spec) or spec.path.startswith("/ws/me/")
    patient = _own_patient(t.user, "Writing patient") if mine and t.user is not None else _patient_in_care(t)
    doctor = _bookable_user(t)
    conversation, _ = Conversation.unscoped.get_or_create(
        clinic=t.clinic, patient=patient, defaults={"started_by": t.user or doctor}
    )
    Message.unscoped.create(
        clinic=t.clinic, conversation=conversation, sender=doctor, side="clinic", body="How are you today?"
    )
    t.conversation = conversation
    return conversation


def _conversation_id(t, spec) -> str:
    return str(_conversation(t, spec).external_id)


def _message(t, spec) -> str:
    """A message of the conversation filled in just before, with a PDF attached for the attachment routes."""
    from django.core.files.base import ContentFile

    from shifa.telehealth.models import Message

    conversation = getattr(t, "conversation", None) or _conversation(t, spec)
    message = Message(
        clinic=t.clinic,
        conversation=conversation,
        sender=_bookable_user(t),
        side="clinic",
        body="Your results",
    )
    if spec.path.endswith("/attachment"):
        message.attachment.save(f"{uuid.uuid4().hex}.pdf", ContentFile(PDF), save=False)
        message.attachment_name = "results.pdf"
        message.attachment_type = "application/pdf"
        message.attachment_size = len(PDF)
    message.save()
    return str(message.external_id)


# --- bodies -----------------------------------------------------------------------------------------------------


def _guest_link(user) -> dict:
    """A fresh one-time link to a video visit of clinic A going on now."""
    from tests.routes import _bookable, _clinic_of

    clinic = _clinic_of(None)
    appointment = video_appointment(clinic, _bookable(clinic), _own_patient(None, "Video patient"))
    _attendee, secret = guest_invite(video_meeting(appointment))
    return {"link": secret}


def _my_conversation_body(user) -> dict:
    """Clinic A, where the caller's own patient has an appointment."""
    from shifa.access.registry import RouteSpec
    from tests.routes import Target, _clinic_of
    from tests.routes import _appointment as appointment_for

    clinic = _clinic_of(None)
    if user is not None:
        appointment_for(Target(clinic, None, user), RouteSpec("GET", "/api/v1/me/x", "", "api", None, False))
    return {"clinic_id": str(clinic.external_id)}


def _team_conversation_body(user) -> dict:
    from tests.routes import Target, _clinic_of, _patient_in_care

    return {"patient_id": str(_patient_in_care(Target(_clinic_of(user), None)).external_id)}


def _message_body(user) -> dict:
    return {"body": "Thank you, doctor", "client_id": uuid.uuid4().hex}


def _attachment_body(user) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("report.pdf", PDF, content_type="application/pdf")
    return {"file": upload, "body": "My lab report", "client_id": uuid.uuid4().hex}


def _latest_message(conversations) -> str:
    from shifa.telehealth.models import Message

    conversation = conversations.order_by("-pk").first()
    message = (
        Message.unscoped.filter(conversation=conversation).order_by("-pk").first() if conversation else None
    )
    return str(message.external_id) if message else str(uuid.uuid4())


def _my_read_body(user) -> dict:
    """The newest message of the caller's conversation filled in the path just before."""
    from shifa.records.policies import patients_of_user
    from shifa.telehealth.models import Conversation

    if user is None:
        return {"message_id": str(uuid.uuid4())}
    return {"message_id": _latest_message(Conversation.unscoped.filter(patient__in=patients_of_user(user)))}


def _team_read_body(user) -> dict:
    from shifa.telehealth.models import Conversation
    from tests.routes import _clinic_of

    return {"message_id": _latest_message(Conversation.unscoped.filter(clinic=_clinic_of(user)))}


PROVIDERS = {
    "appointment_id": _appointment,
    "attendee_id": lambda t: _attendee(t),
    "meeting_id": lambda t: _meeting(t),
    "request_id": _urgent_request,
    "conversation_id": _conversation_id,
    "message_id": _message,
}
NEEDS_ROUTE = {"appointment_id", "request_id", "conversation_id", "message_id"}

_CLINIC = "/api/v1/clinics/{clinic_id}"
_MINE = "/api/v1/me/conversations/{conversation_id}"
_TEAM = f"{_CLINIC}/conversations/{{conversation_id}}"
BODIES: dict = {
    ("POST", "/api/v1/me/urgent-requests"): {"complaint": "Fever since this morning"},
    ("PUT", f"{_CLINIC}/urgent-duty"): {"on_duty": True},
    ("POST", f"{_CLINIC}/appointments/{{appointment_id}}/video/guests"): {"name": "Interpreter"},
    ("POST", "/api/v1/video/guest-joins"): _guest_link,
    ("POST", "/api/v1/me/conversations"): _my_conversation_body,
    ("POST", f"{_CLINIC}/conversations"): _team_conversation_body,
    ("POST", f"{_MINE}/messages"): _message_body,
    ("POST", f"{_MINE}/attachments"): _attachment_body,
    ("POST", f"{_MINE}/read"): _my_read_body,
    ("POST", f"{_TEAM}/messages"): _message_body,
    ("POST", f"{_TEAM}/attachments"): _attachment_body,
    ("POST", f"{_TEAM}/read"): _team_read_body,
}
QUERIES: dict = {}
