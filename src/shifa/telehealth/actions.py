"""Writes of telehealth: joining a video visit (TM-1), the "Treat Me Now" queue (TM-2) and conversations with the
care team (TM-3).

Join tokens are made here and handed back to the caller once; they are never saved, logged or audited."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from shifa.core.uploads import sniff_content_type

from . import events, queries
from .models import (
    Attendee,
    AttendeeRole,
    Conversation,
    Duty,
    Meeting,
    MeetingStatus,
    Message,
    ReadMark,
    Side,
    UrgentRequest,
    UrgentStatus,
)
from .video import AttendeeRef, JoinToken, MeetingRef, VideoProviderError, get_provider

logger = logging.getLogger(__name__)

#: At most the doctor, the patient and one guest (built-in video is a mesh of peers).
MAX_PARTICIPANTS = 3
#: Appointment statuses in which a video visit may be joined.
JOINABLE = queries.JOINABLE
#: Meetings' ids are derived from their appointment's, so that asking the provider again (after a failure) gives
#: the same meeting.
MEETING_NAMESPACE = uuid.UUID("020fc8d2-fb13-4903-9ed3-ff3af31dad54")
#: How long the appointment made for an accepted urgent request lasts.
URGENT_MINUTES = 20


def _text(field: str, value, limit: int) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(field, "invalid", _("Enter text."))
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationFailed.on(
            field, "too_long", _("Write at most %(limit)d characters.") % {"limit": limit}
        )
    if "\x00" in value:
        raise ValidationFailed.on(field, "invalid", _("Enter text without control characters."))
    return value


def _unavailable(exc: Exception) -> ServiceUnavailable:
    logger.warning("video provider failed: %s", exc)
    return ServiceUnavailable(
        _("The video service cannot be reached right now. Try again in a moment."), code="video_unavailable"
    )


# --- meetings ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    meeting: Meeting
    attendee: Attendee
    token: JoinToken
    #: For a guest's first use of their link: the key that lets this browser come back with the link.
    resume: str = ""


def _meeting_ref(meeting: Meeting) -> MeetingRef:
    return MeetingRef(
        meeting_id=meeting.provider_meeting_id,
        external_meeting_id=meeting.external_meeting_id,
        media_region=meeting.media_region,
        join_info=meeting.join_info,
    )


def _attendee_ref(attendee: Attendee) -> AttendeeRef:
    return AttendeeRef(
        attendee_id=attendee.provider_attendee_id or attendee.external_user_id,
        external_user_id=attendee.external_user_id,
        name=attendee.name,
    )


def _check_joinable(appointment, now: dt.datetime) -> None:
    problem = queries.join_refusal(appointment, now)
    if problem is not None:
        raise problem


def _meeting_for(appointment, now: dt.datetime) -> Meeting:
    """The appointment's meeting, made at the provider the first time anyone joins (the appointment is locked)."""
    existing = Meeting.unscoped.filter(appointment=appointment).first()
    if existing is not None:
        if existing.status == MeetingStatus.ENDED:
            raise Conflict(_("This video visit has ended."), code="meeting_ended")
        return existing
    provider = get_provider()
    # One id for the meeting everywhere: ours (the signaling path of the built-in video) and the provider's.
    meeting_id = uuid.uuid5(MEETING_NAMESPACE, str(appointment.external_id))
    external_id = str(meeting_id)
    try:
        made = provider.create_meeting(external_meeting_id=external_id, max_participants=MAX_PARTICIPANTS)
    except VideoProviderError as exc:
        raise _unavailable(exc) from exc
    opens, closes = queries.join_window(appointment)
    return Meeting.unscoped.create(
        external_id=meeting_id,
        clinic_id=appointment.clinic_id,
        appointment=appointment,
        provider=provider.name,
        provider_meeting_id=made.meeting_id,
        external_meeting_id=external_id,
        media_region=made.media_region,
        join_info=made.join_info,
        opens_at=min(opens, now),
        closes_at=closes,
    )


def _attendee_for(meeting: Meeting, user, role: str, name: str, now: dt.datetime) -> Attendee:
    attendee = Attendee.unscoped.filter(meeting=meeting, user=user).first()
    if attendee is None:
        _check_room(meeting)
        attendee = Attendee(
            clinic_id=meeting.clinic_id,
            meeting=meeting,
            user=user,
            role=role,
            name=name[:120],
            external_user_id=uuid.uuid4().hex,
            admitted_at=now if role == AttendeeRole.DOCTOR else None,
        )
        _register(meeting, attendee)
        attendee.save()
    return attendee


def _check_room(meeting: Meeting) -> None:
    """Built-in video is a mesh of peers: at most ``MAX_PARTICIPANTS`` people (withdrawn guests do not count)."""
    present = (
        Attendee.unscoped.filter(meeting=meeting)
        .exclude(role=AttendeeRole.GUEST, invite_digest__isnull=True)
        .exclude(role=AttendeeRole.GUEST, invite_used_at__isnull=True, invite_expires_at__lt=timezones.now())
    )
    if present.count() >= MAX_PARTICIPANTS:
        raise Conflict(
            _("This video visit already has %(count)d participants.") % {"count": MAX_PARTICIPANTS},
            code="meeting_full",
        )


def _register(meeting: Meeting, attendee: Attendee) -> None:
    try:
        made = get_provider(meeting.provider).create_attendee(_meeting_ref(meeting), _attendee_ref(attendee))
    except VideoProviderError as exc:
        raise _unavailable(exc) from exc
    attendee.provider_attendee_id = made.attendee_id
    attendee.capabilities = made.capabilities


def _token(meeting: Meeting, attendee: Attendee) -> JoinToken:
    try:
        return get_provider(meeting.provider).join_token(
            _meeting_ref(meeting), _attendee_ref(attendee), seconds=settings.JOIN_TOKEN_SECONDS
        )
    except VideoProviderError as exc:
        raise _unavailable(exc) from exc


def _join(appointment, user, role: str, name: str) -> Joined:
    now = timezones.now()
    _check_joinable(appointment, now)
    meeting = _meeting_for(appointment, now)
    attendee = _attendee_for(meeting, user, role, name, now)
    return Joined(meeting=meeting, attendee=attendee, token=_token(meeting, attendee))


def _locked_appointment(queryset, appointment_id):
    appointment = (
        queryset.select_for_update().select_related("clinic").filter(external_id=appointment_id).first()
    )
    if appointment is None:
        raise NotFound()
    return appointment


def video_join_as_patient(*, actor, appointment_id) -> Joined:
    """The patient (or the guardian of a dependant) joins their video visit, within its time window."""
    from shifa.records.policies import patients_of_user
    from shifa.scheduling.models import Appointment

    if actor.user is None:
        raise NotFound()
    with transaction.atomic():
        appointment = _locked_appointment(
            Appointment.unscoped.filter(patient__in=patients_of_user(actor.user)), appointment_id
        )
        return _join(appointment, actor.user, AttendeeRole.PATIENT, actor.user.full_name or str(actor.user))


def video_join_as_doctor(*, actor, appointment_id) -> Joined:
    """The appointment's doctor joins (and so opens the waiting room to the patient)."""
    from shifa.scheduling.models import Appointment

    clinic = actor.require_clinic()
    with transaction.atomic():
        appointment = _locked_appointment(Appointment.objects.for_clinic(clinic), appointment_id)
        if appointment.doctor_id != actor.user.pk:
            raise Forbidden(_("Only the appointment's doctor leads its video visit."), code="not_the_doctor")
        return _join(appointment, actor.user, AttendeeRole.DOCTOR, actor.user.full_name or str(actor.user))


@dataclass(frozen=True)
class GuestLink:
    attendee: Attendee
    secret: str
    expires_at: dt.datetime


def guest_invite(*, actor, appointment_id, name: str) -> GuestLink:
    """The doctor invites a third participant (an interpreter, a family member) by a one-time link."""
    from shifa.scheduling.models import Appointment

    name = _text("name", name, 120)
    if not name:
        raise ValidationFailed.on("name", "required", _("Enter the name of the person you invite."))
    clinic = actor.require_clinic()
    now = timezones.now()
    with transaction.atomic():
        appointment = _locked_appointment(Appointment.objects.for_clinic(clinic), appointment_id)
        if appointment.doctor_id != actor.user.pk:
            raise Forbidden(
                _("Only the appointment's doctor invites to its video visit."), code="not_the_doctor"
            )
        _check_joinable(appointment, now)
        meeting = _meeting_for(appointment, now)
        guests = Attendee.unscoped.filter(
            meeting=meeting, role=AttendeeRole.GUEST, invite_digest__isnull=False
        )
        active = guests.exclude(invite_used_at__isnull=True, invite_expires_at__lt=now)
        if active.exists():
            raise Conflict(
                _("A guest is already invited to this video visit; remove them before inviting another."),
                code="guest_already_invited",
            )
        _check_room(meeting)
        secret = secrets.token_urlsafe(32)
        expires_at = min(now + dt.timedelta(minutes=settings.GUEST_LINK_MINUTES), meeting.closes_at)
        attendee = Attendee(
            clinic_id=meeting.clinic_id,
            meeting=meeting,
            role=AttendeeRole.GUEST,
            name=name,
            external_user_id=uuid.uuid4().hex,
            invite_digest=queries.invite_digest(secret),
            invite_expires_at=expires_at,
            invited_by=actor.user,
        )
        _register(meeting, attendee)
        attendee.save()
        return GuestLink(attendee=attendee, secret=secret, expires_at=expires_at)


def guest_join(*, secret: str, resume: str = "") -> Joined:
    """A guest opens their one-time link: it works once, before it expires, while the meeting is on. The browser
    that used it gets a key (``Joined.resume``) with which it may come back until the link expires."""
    if not isinstance(secret, str) or not secret or len(secret) > 200:
        raise NotFound(code="invite_invalid")
    if not isinstance(resume, str) or len(resume) > 200:
        raise NotFound(code="invite_invalid")
    now = timezones.now()
    with transaction.atomic():
        attendee = (
            Attendee.unscoped.select_for_update(of=("self",))
            .select_related("meeting")
            .filter(invite_digest=queries.invite_digest(secret), role=AttendeeRole.GUEST)
            .first()
        )
        problem = queries.guest_refusal(attendee, now, resume=resume or None)
        if problem is not None:
            raise problem
        meeting = attendee.meeting
        key = ""
        if attendee.invite_used_at is None:
            key = secrets.token_urlsafe(24)
            attendee.invite_used_at = now
            attendee.invite_resume_digest = queries.invite_digest(key)
            attendee.save(update_fields=["invite_used_at", "invite_resume_digest", "updated_at"])
        return Joined(meeting=meeting, attendee=attendee, token=_token(meeting, attendee), resume=key)


def guest_remove(*, actor, appointment_id, attendee_id) -> Attendee:
    """The doctor removes a guest (their link stops working; if connected, they are let go)."""
    from shifa.scheduling.models import Appointment

    clinic = actor.require_clinic()
    with transaction.atomic():
        appointment = _locked_appointment(Appointment.objects.for_clinic(clinic), appointment_id)
        if appointment.doctor_id != actor.user.pk:
            raise Forbidden(code="not_the_doctor")
        attendee = (
            Attendee.objects.for_clinic(clinic)
            .select_for_update()
            .filter(meeting__appointment=appointment, external_id=attendee_id, role=AttendeeRole.GUEST)
            .first()
        )
        if attendee is None:
            raise NotFound()
        if attendee.invite_digest is not None:  # a removed guest is one whose link is withdrawn
            attendee.invite_digest = None
            attendee.left_at = attendee.left_at or timezones.now()
            attendee.save(update_fields=["invite_digest", "left_at", "updated_at"])
            events.meeting_send(attendee.meeting, "removed", {"attendee": str(attendee.external_id)})
        return attendee


def meeting_end(*, actor, appointment_id) -> Meeting:
    """The doctor ends the video visit for everyone (ending twice is the same as once)."""
    from shifa.scheduling.models import Appointment

    clinic = actor.require_clinic()
    with transaction.atomic():
        appointment = _locked_appointment(Appointment.objects.for_clinic(clinic), appointment_id)
        if appointment.doctor_id != actor.user.pk:
            raise Forbidden(code="not_the_doctor")
        meeting = Meeting.unscoped.select_for_update().filter(appointment=appointment).first()
        if meeting is None:
            raise NotFound()
        return _end(meeting, actor.user)


def _end(meeting: Meeting, user) -> Meeting:
    if meeting.status == MeetingStatus.ENDED:
        return meeting
    now = timezones.now()
    meeting.status = MeetingStatus.ENDED
    meeting.ended_at = now
    meeting.ended_by = user
    meeting.save(update_fields=["status", "ended_at", "ended_by", "updated_at"])
    Attendee.unscoped.filter(meeting=meeting, left_at__isnull=True, joined_at__isnull=False).update(
        left_at=now
    )
    ref = _meeting_ref(meeting)
    provider = meeting.provider

    def tell_provider() -> None:
        try:
            get_provider(provider).end_meeting(ref)
        except VideoProviderError as exc:  # the provider's room empties and closes by itself
            logger.warning("video provider did not end meeting %s: %s", ref.external_meeting_id, exc)

    transaction.on_commit(tell_provider)
    events.meeting_send(meeting, "ended", {})
    return meeting


# --- the signaling connection (shifa.telehealth.consumers) --------------------------------------------------------


def signal_attendee(*, token: str) -> Attendee:
    """The attendee a join token of the built-in video is for, if the meeting is still on and they may be in it."""
    from .video.webrtc import read_token

    try:
        meeting_id, attendee_id = read_token(token)
    except VideoProviderError:
        raise NotFound(_("The join token is not valid or has expired."), code="token_invalid") from None
    attendee = (
        Attendee.unscoped.select_related("meeting")
        .filter(
            meeting__provider="webrtc",
            meeting__provider_meeting_id=meeting_id,
            provider_attendee_id=attendee_id,
        )
        .first()
    )
    if attendee is None:
        raise NotFound(code="token_invalid")
    _check_present(attendee)
    return attendee


def _check_present(attendee: Attendee) -> None:
    meeting = attendee.meeting
    if meeting.status == MeetingStatus.ENDED or meeting.closes_at < timezones.now():
        raise Conflict(_("This video visit has ended."), code="meeting_ended")
    if meeting.appointment_id is not None:
        from shifa.scheduling.models import Appointment

        status = (
            Appointment.unscoped.filter(pk=meeting.appointment_id).values_list("status", flat=True).first()
        )
        if status not in JOINABLE:
            raise Conflict(
                _("This appointment is no longer on: its video visit has ended."), code="wrong_status"
            )
    if attendee.role == AttendeeRole.GUEST and attendee.invite_digest is None:
        raise Forbidden(_("You were removed from this video visit."), code="removed")


def attendee_connected(*, attendee_id: int) -> Attendee:
    now = timezones.now()
    with transaction.atomic():
        attendee = Attendee.unscoped.select_for_update().select_related("meeting").get(pk=attendee_id)
        fields = ["left_at", "updated_at"]
        if attendee.joined_at is None:
            attendee.joined_at = now
            fields.append("joined_at")
        attendee.left_at = None
        attendee.save(update_fields=fields)
        return attendee


def attendee_disconnected(*, attendee_id: int) -> None:
    Attendee.unscoped.filter(pk=attendee_id, left_at__isnull=True).update(
        left_at=timezones.now(), updated_at=timezones.now()
    )


def attendee_admit(*, by_attendee_id: int, attendee_external_id: str) -> Attendee:
    """The doctor lets someone in from the waiting room."""
    with transaction.atomic():
        doctor = Attendee.unscoped.select_related("meeting").get(pk=by_attendee_id)
        if doctor.role != AttendeeRole.DOCTOR:
            raise Forbidden(_("Only the doctor admits people to the video visit."), code="not_the_doctor")
        try:
            external_id = uuid.UUID(str(attendee_external_id))
        except ValueError:
            raise NotFound() from None
        attendee = (
            Attendee.unscoped.select_for_update()
            .filter(meeting_id=doctor.meeting_id, external_id=external_id)
            .exclude(role=AttendeeRole.GUEST, invite_digest__isnull=True)
            .first()
        )
        if attendee is None:
            raise NotFound()
        now = timezones.now()
        if attendee.admitted_at is None:
            attendee.admitted_at = now
            attendee.save(update_fields=["admitted_at", "updated_at"])
            Meeting.unscoped.filter(pk=doctor.meeting_id, started_at__isnull=True).update(started_at=now)
        return attendee


def meeting_end_by_attendee(*, attendee_id: int) -> Meeting:
    with transaction.atomic():
        attendee = Attendee.unscoped.select_related("meeting", "user").get(pk=attendee_id)
        if attendee.role != AttendeeRole.DOCTOR:
            raise Forbidden(_("Only the doctor ends the video visit for everyone."), code="not_the_doctor")
        meeting = Meeting.unscoped.select_for_update().get(pk=attendee.meeting_id)
        return _end(meeting, attendee.user)


def attendee_token(*, attendee_id: int) -> JoinToken:
    """A fresh join token for someone connected to the meeting, so that they can reconnect after a network
    drop even once their first token (or a guest's one-time link) is spent. Handed to that connection only."""
    attendee = Attendee.unscoped.select_related("meeting").get(pk=attendee_id)
    _check_present(attendee)
    return _token(attendee.meeting, attendee)


async def live_relay(layer, group: str, message: dict) -> None:
    """Pass a live message that is not stored to a group's connections: signaling (presence, an SDP description,
    an ICE candidate, an admission) or a typing indicator."""
    await layer.group_send(group, message)


# --- Treat Me Now (TM-2) ------------------------------------------------------------------------------------------


def _own_request(actor, request_id, *, lock: bool = False) -> UrgentRequest:
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        raise NotFound()
    queryset = UrgentRequest.objects.filter(patient__in=patients_of_user(actor.user))
    if lock:
        queryset = queryset.select_for_update()
    found = queryset.filter(external_id=request_id).first()
    if found is None:
        raise NotFound()
    return found


def urgent_request(*, actor, patient_id=None, specialty_id=None, complaint: str = "") -> UrgentRequest:
    """A patient asks for an urgent video consultation. One waiting request per patient: asking again while
    waiting gives the same request back."""
    from shifa.access.entitlements import PRIORITY_URGENT_CARE, has_entitlement
    from shifa.catalog.models import Specialty
    from shifa.records.policies import own_patient

    patient = own_patient(actor, patient_id)
    complaint = _text("complaint", complaint, 500)
    specialty = None
    if specialty_id not in (None, ""):
        try:
            specialty = Specialty.objects.filter(
                external_id=uuid.UUID(str(specialty_id)), is_active=True
            ).first()
        except ValueError:
            specialty = None
        if specialty is None:
            raise ValidationFailed.on("specialty_id", "unknown", _("Choose a specialty from the list."))
    waiting = UrgentRequest.objects.filter(patient=patient, status=UrgentStatus.WAITING).first()
    if waiting is not None:
        return waiting
    try:
        with transaction.atomic():
            request = UrgentRequest.objects.create(
                patient=patient,
                requested_by=actor.user,
                specialty=specialty,
                complaint=complaint,
                priority=1 if has_entitlement(patient, PRIORITY_URGENT_CARE) else 0,
            )
            events.queue_changed()
            return request
    except IntegrityError:  # asked twice at the same moment
        return UrgentRequest.objects.get(patient=patient, status=UrgentStatus.WAITING)


def urgent_cancel(*, actor, request_id) -> UrgentRequest:
    """The patient no longer needs a doctor (only while waiting; cancelling twice is the same as once)."""
    with transaction.atomic():
        request = _own_request(actor, request_id, lock=True)
        if request.status == UrgentStatus.ACCEPTED:
            raise Conflict(
                _("A doctor has already accepted this request; join the call or leave it."),
                code="already_accepted",
            )
        if request.status == UrgentStatus.WAITING:
            request.status = UrgentStatus.CANCELLED
            request.cancelled_at = timezones.now()
            request.save(update_fields=["status", "cancelled_at", "updated_at"])
            events.queue_changed()
        return request


def duty_set(*, actor, on_duty: bool) -> Duty:
    """A doctor goes on (or off) duty for urgent requests, for the clinic they act in."""
    from shifa.access import catalog

    clinic = actor.require_clinic()
    if catalog.DOCTOR not in actor.roles:
        raise Forbidden(_("Only doctors take urgent requests."), code="not_a_doctor")
    if not isinstance(on_duty, bool):
        raise ValidationFailed.on("on_duty", "invalid", _("Choose on or off."))
    now = timezones.now()
    with transaction.atomic():
        duty = Duty.unscoped.select_for_update().filter(doctor=actor.user).first()
        if duty is None:
            duty = Duty.unscoped.create(clinic=clinic, doctor=actor.user, on_duty=on_duty, since=now)
        elif duty.on_duty != on_duty or duty.clinic_id != clinic.pk:
            duty.clinic = clinic
            duty.on_duty = on_duty
            duty.since = now
            duty.save(update_fields=["clinic", "on_duty", "since", "updated_at"])
        events.queue_changed()
        return duty


def _on_duty(actor) -> Duty:
    duty = Duty.objects.for_clinic(actor.require_clinic()).filter(doctor=actor.user, on_duty=True).first()
    if duty is None:
        raise Conflict(_("Go on duty for urgent requests first."), code="not_on_duty")
    return duty


def urgent_accept(*, actor, request_id) -> UrgentRequest:
    """An on-duty doctor takes a waiting request. Of doctors accepting the same request at once exactly one gets
    it: the request row is taken with ``FOR UPDATE SKIP LOCKED`` and must still be waiting. The doctor's clinic
    gets a video appointment starting now, with its meeting; the patient is notified."""
    from shifa.notifications.actions import notify
    from shifa.scheduling.models import Appointment, AppointmentStatus, Channel

    duty = _on_duty(actor)
    clinic = duty.clinic
    try:
        external_id = uuid.UUID(str(request_id))
    except ValueError:
        raise NotFound() from None
    now = timezones.now()
    with transaction.atomic():
        request = (
            UrgentRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(external_id=external_id, status=UrgentStatus.WAITING)
            .first()
        )
        if request is None:
            status = (
                UrgentRequest.objects.filter(external_id=external_id).values_list("status", flat=True).first()
            )
            if status is None:
                raise NotFound()
            if status == UrgentStatus.CANCELLED:
                raise Conflict(_("The patient has cancelled this request."), code="request_cancelled")
            mine = UrgentRequest.objects.filter(
                external_id=external_id, status=UrgentStatus.ACCEPTED, doctor=actor.user
            ).first()
            if mine is not None:  # the same doctor again (a double click, a retry): it is theirs
                return mine
            raise Conflict(_("Another doctor has already taken this request."), code="already_taken")
        try:
            with transaction.atomic():
                appointment = Appointment.unscoped.create(
                    clinic=clinic,
                    doctor=actor.user,
                    patient=request.patient,
                    visit_type="video",
                    starts_at=now,
                    ends_at=now + dt.timedelta(minutes=URGENT_MINUTES),
                    status=AppointmentStatus.BOOKED,
                    channel=Channel.APP,
                    booked_by=request.requested_by,
                    reason=request.complaint[:500],
                )
        except IntegrityError:
            raise Conflict(
                _("You have an appointment now; finish it before taking an urgent request."),
                code="doctor_busy",
            ) from None
        meeting = _meeting_for(appointment, now)
        _attendee_for(meeting, actor.user, AttendeeRole.DOCTOR, actor.user.full_name or str(actor.user), now)
        request.status = UrgentStatus.ACCEPTED
        request.clinic = clinic
        request.doctor = actor.user
        request.accepted_at = now
        request.meeting = meeting
        request.wait_seconds = max(0, int((now - request.created_at).total_seconds()))
        request.save(
            update_fields=[
                "status",
                "clinic",
                "doctor",
                "accepted_at",
                "meeting",
                "wait_seconds",
                "updated_at",
            ]
        )
        notify(
            recipient=request.requested_by,
            kind="urgent.accepted",
            data={
                "doctor": actor.user.full_name,
                "clinic": clinic.display_name(request.requested_by.language),
            },
            idempotency_key=f"urgent:{request.external_id}:accepted",
            clinic=clinic,
            url=f"/app/urgent/{request.external_id}",
        )
        events.queue_changed()
        events.urgent_send(request, "accepted", {"appointment_id": str(appointment.external_id)})
        return request


def urgent_escalate(*, now: dt.datetime | None = None) -> int:
    """Requests waiting longer than ``URGENT_ESCALATE_MINUTES`` are flagged once, and every doctor on duty is told.
    Returns how many were escalated."""
    from shifa.notifications.actions import Pending, notify_many

    now = now or timezones.now()
    cutoff = now - dt.timedelta(minutes=settings.URGENT_ESCALATE_MINUTES)
    with transaction.atomic():
        late = list(
            UrgentRequest.objects.select_for_update(skip_locked=True)
            .filter(status=UrgentStatus.WAITING, escalated_at__isnull=True, created_at__lte=cutoff)
            .order_by("-priority", "created_at")[:500]
        )
        if not late:
            return 0
        UrgentRequest.objects.filter(pk__in=[r.pk for r in late]).update(escalated_at=now)
        duties = list(queries.active_duties().select_related("doctor", "clinic"))
        pending = [
            Pending(
                recipient=duty.doctor,
                kind="urgent.escalated",
                data={"count": len(late), "minutes": settings.URGENT_ESCALATE_MINUTES},
                idempotency_key=f"urgent:escalated:{late[0].external_id}:{duty.doctor.external_id}",
                clinic=duty.clinic,
                url=f"/clinic/{duty.clinic.external_id}/urgent",
            )
            for duty in duties
        ]
        if pending:
            notify_many(pending)
        events.queue_changed()
        return len(late)


# --- conversations (TM-3) -----------------------------------------------------------------------------------------

MESSAGE_LIMIT = 4000
#: A sender's own id for a message (a UUID, a counter): what clients send to make a retry one message.
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
ATTACHMENT_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
ATTACHMENT_MAX = 10 * 1024 * 1024


def conversation_start(*, actor, patient_id) -> Conversation:
    """The care team opens (or finds) the conversation with one of the clinic's patients."""
    from shifa.records.policies import clinic_patients

    clinic = actor.require_clinic()
    try:
        patient = clinic_patients(clinic.pk).filter(external_id=uuid.UUID(str(patient_id))).first()
    except ValueError:
        patient = None
    if patient is None:
        raise ValidationFailed.on("patient_id", "unknown", _("Choose a patient of this clinic."))
    return _conversation(clinic, patient, actor.user)


def my_conversation_start(*, actor, clinic_id, patient_id=None) -> Conversation:
    """A patient opens (or finds) the conversation with a clinic they have booked with or visited."""
    from shifa.records.policies import clinic_patients, own_patient
    from shifa.tenancy.models import Clinic

    patient = own_patient(actor, patient_id)
    try:
        clinic = Clinic.objects.filter(external_id=uuid.UUID(str(clinic_id))).first()
    except ValueError:
        clinic = None
    if clinic is None or not clinic_patients(clinic.pk).filter(pk=patient.pk).exists():
        raise ValidationFailed.on(
            "clinic_id", "unknown", _("You can write to a clinic once you have booked with it or visited it.")
        )
    return _conversation(clinic, patient, actor.user)


def _conversation(clinic, patient, user) -> Conversation:
    found = Conversation.objects.for_clinic(clinic).filter(patient=patient).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Conversation.unscoped.create(clinic=clinic, patient=patient, started_by=user)
    except IntegrityError:
        return Conversation.objects.for_clinic(clinic).get(patient=patient)


def message_send(
    *, actor, conversation: Conversation, side: str, body: str = "", upload=None, client_id: str = ""
) -> tuple[Message, bool]:
    """Write in a conversation (the caller has checked the actor's place in it). Returns the message and whether
    it is new: the same ``client_id`` from the same sender gives the first message back."""
    body = _text("body", body, MESSAGE_LIMIT)
    client_id = _text("client_id", client_id, 64)
    if client_id and not CLIENT_ID.fullmatch(client_id):
        raise ValidationFailed.on(
            "client_id", "invalid", _("Use letters, digits, dashes and underscores only.")
        )
    if not body and upload is None:
        raise ValidationFailed.on("body", "required", _("Write a message or attach a file."))
    kind = ""
    if upload is not None:
        kind = sniff_content_type(upload)
        if kind not in ATTACHMENT_TYPES:
            raise ValidationFailed.on("file", "unsupported_type", _("Attach a PDF, JPEG or PNG file."))
        if upload.size > ATTACHMENT_MAX:
            raise ValidationFailed.on("file", "too_large", _("Attach a file of at most 10 MB."))
    if client_id:
        existing = Message.unscoped.filter(
            conversation=conversation, sender=actor.user, client_id=client_id
        ).first()
        if existing is not None:
            return existing, False
    now = timezones.now()
    message = Message(
        clinic_id=conversation.clinic_id,
        conversation=conversation,
        sender=actor.user,
        side=side,
        body=body,
        client_id=client_id,
    )
    if upload is not None:  # stored first; removed again if the message is not written
        message.attachment_name = (upload.name or "file").rsplit("/", 1)[-1][-200:]
        message.attachment_type = kind
        message.attachment_size = upload.size
        message.attachment.save(f"{uuid.uuid4().hex}.{ATTACHMENT_TYPES[kind]}", upload, save=False)
    written = False
    try:
        with transaction.atomic():
            message.save()
            Conversation.unscoped.filter(pk=conversation.pk).update(last_message_at=now, updated_at=now)
            _mark_read(conversation, actor.user, side, message, now)
            events.conversation_send(conversation, "message.created", events.message_data(message))
            _notify_later(message)
        written = True
        return message, True
    except BaseException as exc:
        if message.attachment and not written:
            message.attachment.storage.delete(message.attachment.name)
        if isinstance(exc, IntegrityError) and client_id:  # the same client_id sent twice at the same moment
            existing = Message.unscoped.filter(
                conversation=conversation, sender=actor.user, client_id=client_id
            ).first()
            if existing is not None:
                return existing, False
        raise


def _mark_read(conversation: Conversation, user, side: str, message: Message, now: dt.datetime) -> bool:
    """Move a read mark forward (never back). True when it moved."""
    mark = ReadMark.unscoped.select_for_update().filter(conversation=conversation, user=user).first()
    if mark is None:
        try:
            with transaction.atomic():
                ReadMark.unscoped.create(
                    clinic_id=conversation.clinic_id,
                    conversation=conversation,
                    user=user,
                    side=side,
                    message=message,
                    read_at=now,
                )
            return True
        except IntegrityError:
            mark = ReadMark.unscoped.select_for_update().get(conversation=conversation, user=user)
    if mark.message_id >= message.pk:
        return False
    mark.message = message
    mark.read_at = now
    mark.save(update_fields=["message", "read_at", "updated_at"])
    return True


def conversation_read(*, actor, conversation: Conversation, side: str, message_id) -> bool:
    """The reader has seen the conversation up to this message (read receipts)."""
    try:
        external_id = uuid.UUID(str(message_id))
    except ValueError:
        raise ValidationFailed.on(
            "message_id", "unknown", _("Choose a message of this conversation.")
        ) from None
    message = Message.unscoped.filter(conversation=conversation, external_id=external_id).first()
    if message is None:
        raise ValidationFailed.on("message_id", "unknown", _("Choose a message of this conversation."))
    now = timezones.now()
    with transaction.atomic():
        moved = _mark_read(conversation, actor.user, side, message, now)
        if moved:
            events.conversation_send(
                conversation,
                "message.read",
                {
                    "side": side,
                    "reader": actor.user.full_name,
                    "message_id": str(message.external_id),
                    "read_at": timezones.isoformat_z(now),
                },
            )
        return moved


def _notify_later(message: Message) -> None:
    from .tasks import notify_unread

    notify_unread.configure(schedule_in={"seconds": UNREAD_NOTICE_SECONDS}).defer(message_id=message.pk)


#: Who has not read a message this long after it was sent is notified (people in the conversation see it live).
UNREAD_NOTICE_SECONDS = 30


def _care_team(conversation: Conversation) -> list:
    """Who on the clinic's side hears about a patient's message: those who wrote in the conversation, and the
    doctor of the patient's latest appointment at the clinic; failing both, the clinic's doctors."""
    from shifa.access import catalog
    from shifa.accounts.models import User
    from shifa.scheduling.models import Appointment
    from shifa.tenancy.models import Membership

    staff = set(
        Message.unscoped.filter(conversation=conversation, side=Side.CLINIC).values_list(
            "sender_id", flat=True
        )
    )
    latest = (
        Appointment.objects.for_clinic(conversation.clinic_id)
        .filter(patient=conversation.patient_id)
        .order_by("-starts_at")
        .values_list("doctor_id", flat=True)
        .first()
    )
    if latest:
        staff.add(latest)
    members = Membership.objects.for_clinic(conversation.clinic_id).filter(
        is_active=True, user__is_active=True
    )
    found = list(User.objects.filter(pk__in=members.filter(user_id__in=staff).values("user_id")))
    if not found:  # nobody of those is (still) in the clinic's team
        doctors = members.filter(role__code=catalog.DOCTOR).values("user_id")
        found = list(User.objects.filter(pk__in=doctors))
    return found


def notify_unread(*, message_id: int) -> int:
    """Tell those on the other side who have not read the message by now (they were not in the conversation).
    Returns how many were notified."""
    from shifa.notifications.actions import notify

    message = (
        Message.unscoped.select_related(
            "conversation", "conversation__patient", "conversation__clinic", "sender"
        )
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        return 0
    conversation = message.conversation
    if message.side == Side.CLINIC:
        from shifa.adherence.actions import _recipient

        recipient = _recipient(conversation.patient)
        recipients = [recipient] if recipient is not None else []
        url = f"/app/messages/{conversation.external_id}"
    else:
        recipients = _care_team(conversation)
        url = f"/clinic/{conversation.clinic.external_id}/messages/{conversation.external_id}"
    read = set(
        ReadMark.unscoped.filter(conversation=conversation, message_id__gte=message.pk).values_list(
            "user_id", flat=True
        )
    )
    count = 0
    with transaction.atomic():
        for user in recipients:
            if user.pk in read or user.pk == message.sender_id:
                continue
            language = user.language or "ar"
            notify(
                recipient=user,
                kind="message.received",
                data={
                    "sender": message.sender.full_name,
                    "clinic": conversation.clinic.display_name(language),
                    "patient": conversation.patient.display_name(language),
                    "side": message.side,
                },
                idempotency_key=f"message:{message.external_id}",
                clinic=conversation.clinic,
                url=url,
            )
            count += 1
    return count
