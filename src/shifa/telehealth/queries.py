"""Reads of telehealth: meetings with their attendees, the urgent queue with positions and estimated waits, the
platform's waiting-time figures, and conversations with their messages and read receipts."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Avg, Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, Forbidden, NotFound, Problem

from .models import (
    Attendee,
    Conversation,
    Duty,
    Meeting,
    Message,
    ReadMark,
    Side,
    UrgentRequest,
    UrgentStatus,
)

#: The estimate of an urgent request's wait when there is no recent history to go by.
DEFAULT_MINUTES_PER_REQUEST = 8


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


# --- meetings -----------------------------------------------------------------------------------------------------


def clinic_meeting(*, actor, appointment_id) -> tuple[Meeting | None, list[Attendee]]:
    """The meeting of one of the clinic's appointments (None before anyone joined) and its attendees."""
    from shifa.scheduling.models import Appointment

    clinic = actor.require_clinic()
    appointment = Appointment.objects.for_clinic(clinic).filter(external_id=_uuid(appointment_id)).first()
    if appointment is None:
        raise NotFound()
    meeting = Meeting.objects.for_clinic(clinic).filter(appointment=appointment).first()
    if meeting is None:
        return None, []
    return meeting, list(
        Attendee.objects.for_clinic(clinic).filter(meeting=meeting).order_by("created_at", "id")
    )


def my_meeting(*, actor, appointment_id) -> Meeting | None:
    from shifa.records.policies import patients_of_user
    from shifa.scheduling.models import Appointment

    if actor.user is None:
        raise NotFound()
    appointment = (
        Appointment.unscoped.filter(
            patient__in=patients_of_user(actor.user), external_id=_uuid(appointment_id)
        )
        .only("id")
        .first()
    )
    if appointment is None:
        raise NotFound()
    return Meeting.unscoped.filter(appointment=appointment).first()


#: Appointment statuses in which a video visit may be joined.
JOINABLE = ("booked", "checked_in")


def join_window(appointment) -> tuple[dt.datetime, dt.datetime]:
    """When a video appointment's meeting may be joined: from a little before it starts to a while after it ends."""
    return (
        appointment.starts_at - dt.timedelta(minutes=settings.MEETING_EARLY_MINUTES),
        appointment.ends_at + dt.timedelta(minutes=settings.MEETING_LATE_MINUTES),
    )


def join_refusal(appointment, now: dt.datetime, meeting: Meeting | None = None) -> Conflict | None:
    """Why the appointment's video visit cannot be joined at ``now``; None when it can."""
    if appointment.visit_type != "video":
        return Conflict(_("This appointment is not a video visit."), code="not_video")
    if appointment.status not in JOINABLE:
        return Conflict(
            _("This appointment is %(status)s: its video visit cannot be joined.")
            % {"status": appointment.get_status_display().lower()},
            code="wrong_status",
        )
    if meeting is not None and meeting.status == "ended":
        return Conflict(_("This video visit has ended."), code="meeting_ended")
    opens, closes = join_window(appointment)
    if now < opens:
        local = timezones.to_local(opens, appointment.clinic.time_zone)
        if local.date() == timezones.to_local(now, appointment.clinic.time_zone).date():
            when = _("The video visit opens at %(time)s.") % {"time": local.strftime("%H:%M")}
        else:
            when = _("The video visit opens on %(day)s at %(time)s.") % {
                "day": date_format(local.date(), "j F"),
                "time": local.strftime("%H:%M"),
            }
        return Conflict(
            when,
            code="too_early",
            extensions={"opens_at": timezones.isoformat_z(opens)},
        )
    if now > closes:
        return Conflict(_("The time of this video visit has passed."), code="too_late")
    return None


@dataclass(frozen=True)
class Call:
    """What a call screen shows before joining: the appointment, its meeting (None until someone joins), why it
    cannot be joined now (None when it can) and, for the doctor, who has been in it."""

    appointment: object
    meeting: Meeting | None
    refusal: Conflict | None
    attendees: list[Attendee]


def _call(appointment, *, with_attendees: bool) -> Call:
    meeting = Meeting.unscoped.filter(appointment=appointment).first()
    attendees = []
    if meeting is not None and with_attendees:
        attendees = list(Attendee.unscoped.filter(meeting=meeting).order_by("created_at", "id"))
    return Call(appointment, meeting, join_refusal(appointment, timezones.now(), meeting), attendees)


def my_call(*, actor, appointment_id) -> Call:
    """The call screen of one of the patient's (or their dependants') appointments; anyone else's is 404."""
    from shifa.records.policies import patients_of_user
    from shifa.scheduling.models import Appointment

    if actor.user is None:
        raise NotFound()
    appointment = (
        Appointment.unscoped.filter(
            patient__in=patients_of_user(actor.user), external_id=_uuid(appointment_id)
        )
        .select_related("clinic", "doctor", "patient")
        .first()
    )
    if appointment is None:
        raise NotFound()
    return _call(appointment, with_attendees=False)


def clinic_call(*, actor, appointment_id) -> Call:
    """The doctor's call screen of one of the clinic's appointments: only the appointment's doctor leads it."""
    from shifa.scheduling.models import Appointment

    clinic = actor.require_clinic()
    appointment = (
        Appointment.objects.for_clinic(clinic)
        .filter(external_id=_uuid(appointment_id))
        .select_related("clinic", "doctor", "patient")
        .first()
    )
    if appointment is None:
        raise NotFound()
    if appointment.doctor_id != actor.user.pk:
        raise Forbidden(_("Only the appointment's doctor leads its video visit."), code="not_the_doctor")
    return _call(appointment, with_attendees=True)


def appointment_visit_id(*, actor, appointment) -> uuid.UUID | None:
    """The id of the visit opened from a clinic's appointment (not its amendments), if any."""
    from shifa.records.models import Visit

    return (
        Visit.objects.for_clinic(actor.require_clinic())
        .filter(appointment=appointment, amends__isnull=True)
        .values_list("external_id", flat=True)
        .first()
    )


def guest_refusal(
    attendee: Attendee | None, now: dt.datetime, *, resume: str | None = None
) -> Problem | None:
    """Why a guest's one-time link cannot be used at ``now`` (None: it can): unknown, used or withdrawn links are
    404, expired ones (or of a meeting that is over) 409. A used link may be used again with the key given to the
    browser that used it (``resume``); ``resume=""`` only asks whether the link is still alive."""
    used = attendee is not None and attendee.invite_used_at is not None
    if used and resume is not None:
        used = resume != "" and attendee.invite_resume_digest != invite_digest(resume)
    if attendee is None or used:
        return NotFound(_("This invitation link is not valid or was already used."), code="invite_invalid")
    meeting = attendee.meeting
    if attendee.invite_expires_at < now or meeting.status == "ended" or meeting.closes_at < now:
        return Conflict(_("This invitation has expired."), code="invite_expired")
    return None


def invite_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def guest_invitation(*, secret: str) -> Attendee:
    """The guest a one-time link is for, while it may still be used (opening the page does not use it)."""
    attendee = None
    if isinstance(secret, str) and 0 < len(secret) <= 200:
        attendee = (
            Attendee.unscoped.select_related("meeting", "meeting__appointment__doctor")
            .filter(invite_digest=invite_digest(secret), role="guest")
            .first()
        )
    problem = guest_refusal(
        attendee, timezones.now(), resume=""
    )  # a used link's page, for its browser to resume
    if problem is not None:
        raise problem
    return attendee


# --- Treat Me Now -------------------------------------------------------------------------------------------------


def waiting() -> QuerySet[UrgentRequest]:
    return UrgentRequest.objects.filter(status=UrgentStatus.WAITING).order_by("-priority", "created_at", "id")


def position(request: UrgentRequest) -> int:
    """1 for the next request a doctor will see."""
    ahead = waiting().filter(
        Q(priority__gt=request.priority)
        | Q(priority=request.priority, created_at__lt=request.created_at)
        | Q(priority=request.priority, created_at=request.created_at, id__lt=request.pk)
    )
    return ahead.count() + 1


def active_duties() -> QuerySet[Duty]:
    """Doctors on duty who still work as doctors at the clinic they are on duty for."""
    from shifa.access import catalog
    from shifa.tenancy.models import Membership

    working = Membership.unscoped.filter(
        clinic=OuterRef("clinic"), user=OuterRef("doctor"), is_active=True, role__code=catalog.DOCTOR
    )
    return Duty.unscoped.filter(on_duty=True, doctor__is_active=True).filter(Exists(working))


def doctors_on_duty() -> int:
    return active_duties().count()


def minutes_per_request(now: dt.datetime | None = None) -> float:
    """How long, lately, a doctor was busy with one urgent request: the mean length of the last day's urgent video
    visits, from the patient let in to the call ended (the time to clear one place of the queue)."""
    from django.db.models import DurationField, ExpressionWrapper, F

    now = now or timezones.now()
    mean = (
        Meeting.unscoped.filter(
            urgent_request__isnull=False,
            ended_at__gte=now - dt.timedelta(days=1),
            started_at__isnull=False,
        )
        .annotate(length=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField()))
        .aggregate(mean=Avg("length"))["mean"]
    )
    return max(1.0, mean.total_seconds() / 60) if mean else float(DEFAULT_MINUTES_PER_REQUEST)


@dataclass(frozen=True)
class UrgentView:
    request: UrgentRequest
    position: int | None
    estimated_minutes: int | None  # None: no doctor on duty, so no estimate
    doctors_on_duty: int
    appointment_id: str | None


def urgent_view(request: UrgentRequest, *, doctors: int | None = None) -> UrgentView:
    """A request with its place and estimated wait (``doctors``: the number on duty, when already counted)."""
    doctors = doctors_on_duty() if doctors is None else doctors
    appointment_id = None
    if request.status == UrgentStatus.WAITING:
        place = position(request)
        minutes = math.ceil(place * minutes_per_request() / doctors) if doctors else None
    else:
        place, minutes = None, None
        if request.meeting_id:
            appointment = request.meeting.appointment if request.meeting else None
            appointment_id = str(appointment.external_id) if appointment else None
    return UrgentView(request, place, minutes, doctors, appointment_id)


def my_urgent_request(*, actor, request_id) -> UrgentRequest:
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        raise NotFound()
    found = (
        UrgentRequest.objects.filter(patient__in=patients_of_user(actor.user), external_id=_uuid(request_id))
        .select_related("patient", "specialty", "doctor", "clinic", "meeting__appointment")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def my_urgent_requests(*, actor, limit: int = 20) -> list[UrgentRequest]:
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        raise NotFound()
    return list(
        UrgentRequest.objects.filter(patient__in=patients_of_user(actor.user))
        .select_related("patient", "specialty", "doctor", "clinic", "meeting__appointment")
        .order_by("-created_at")[:limit]
    )


def duty_of(*, actor) -> Duty | None:
    return Duty.unscoped.filter(doctor=actor.user).select_related("clinic").first()


def urgent_queue(*, actor, limit: int = 100) -> tuple[Duty | None, list[UrgentRequest]]:
    """The waiting requests, in the order doctors should take them — shown only to a doctor on duty here."""
    duty = Duty.objects.for_clinic(actor.require_clinic()).filter(doctor=actor.user).first()
    if duty is None or not duty.on_duty:
        return duty, []
    return duty, list(waiting().select_related("patient", "specialty")[:limit])


@dataclass(frozen=True)
class UrgentStats:
    since: dt.datetime
    waiting_now: int
    on_duty_now: int
    requested: int
    accepted: int
    cancelled: int
    escalated: int
    median_wait_seconds: int | None
    p90_wait_seconds: int | None
    longest_wait_seconds: int | None


def urgent_stats(*, days: int = 7, now: dt.datetime | None = None) -> UrgentStats:
    """Waiting times for the platform console (TM-2): over the last ``days`` days."""
    now = now or timezones.now()
    since = now - dt.timedelta(days=days)
    recent = UrgentRequest.objects.filter(created_at__gte=since)
    counts = recent.aggregate(
        requested=Count("id"),
        accepted=Count("id", filter=Q(status=UrgentStatus.ACCEPTED)),
        cancelled=Count("id", filter=Q(status=UrgentStatus.CANCELLED)),
        escalated=Count("id", filter=Q(escalated_at__isnull=False)),
        longest=Max("wait_seconds"),
    )
    waits = sorted(
        recent.filter(status=UrgentStatus.ACCEPTED, wait_seconds__isnull=False).values_list(
            "wait_seconds", flat=True
        )
    )

    def percentile(share: float) -> int | None:
        if not waits:
            return None
        return waits[min(len(waits) - 1, max(0, math.ceil(share * len(waits)) - 1))]

    return UrgentStats(
        since=since,
        waiting_now=waiting().count(),
        on_duty_now=doctors_on_duty(),
        requested=counts["requested"],
        accepted=counts["accepted"],
        cancelled=counts["cancelled"],
        escalated=counts["escalated"],
        median_wait_seconds=percentile(0.5),
        p90_wait_seconds=percentile(0.9),
        longest_wait_seconds=counts["longest"],
    )


# --- conversations ------------------------------------------------------------------------------------------------


def conversation_for(*, actor, side: str, conversation_id) -> Conversation:
    """A conversation the actor is part of: their own (or a dependant's), or one of their clinic's."""
    conversation_id = _uuid(conversation_id)
    if side == Side.CLINIC:
        found = Conversation.objects.for_clinic(actor.require_clinic()).filter(external_id=conversation_id)
    else:
        from shifa.records.policies import patients_of_user

        if actor.user is None:
            raise NotFound()
        found = Conversation.unscoped.filter(
            patient__in=patients_of_user(actor.user), external_id=conversation_id
        )
    conversation = found.select_related("clinic", "patient").first()
    if conversation is None:
        raise NotFound()
    return conversation


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    unread: int
    last_message: Message | None


def _rows(conversations: QuerySet[Conversation], user, side: str) -> list[ConversationRow]:
    conversations = conversations.select_related("clinic", "patient").annotate(
        my_mark=Subquery(
            ReadMark.unscoped.filter(conversation=OuterRef("pk"), user=user).values("message_id")[:1]
        )
    )
    found = list(conversations)
    other = Side.CLINIC if side == Side.PATIENT else Side.PATIENT
    unread = dict(
        Message.unscoped.filter(conversation__in=found, side=other)
        .filter(
            Q(
                pk__gt=Subquery(
                    ReadMark.unscoped.filter(conversation=OuterRef("conversation"), user=user).values(
                        "message_id"
                    )[:1]
                )
            )
            | ~Q(conversation__read_marks__user=user)
        )
        .values("conversation_id")
        .annotate(n=Count("id", distinct=True))
        .values_list("conversation_id", "n")
    )
    last_ids = (
        Message.unscoped.filter(conversation__in=found).values("conversation_id").annotate(last=Max("id"))
    )
    last = {
        m.conversation_id: m
        for m in Message.unscoped.filter(pk__in=[row["last"] for row in last_ids]).select_related(
            "sender", "conversation"
        )
    }
    return [ConversationRow(c, unread.get(c.pk, 0), last.get(c.pk)) for c in found]


def my_conversations(*, actor) -> list[ConversationRow]:
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        raise NotFound()
    conversations = Conversation.unscoped.filter(patient__in=patients_of_user(actor.user)).order_by(
        "-last_message_at", "-id"
    )
    return _rows(conversations, actor.user, Side.PATIENT)


def my_writable_clinics(*, actor) -> list[tuple]:
    """(patient, clinic) pairs for me and my dependants: the clinics each may write to, having booked with them,
    visited them or shared their record with them (the rule of ``actions.my_conversation_start``)."""
    from shifa.records.models import Grant, Visit
    from shifa.records.policies import active_grants, patients_of_user
    from shifa.scheduling.models import Appointment, AppointmentStatus
    from shifa.tenancy.models import Clinic

    if actor.user is None:
        raise NotFound()
    patients = {p.pk: p for p in patients_of_user(actor.user)}
    ids = list(patients)
    booked = Appointment.unscoped.filter(patient__in=ids).exclude(
        status__in=[AppointmentStatus.HELD, AppointmentStatus.EXPIRED]
    )
    pairs = set(booked.values_list("patient_id", "clinic_id"))
    pairs |= set(Visit.unscoped.filter(patient__in=ids).values_list("patient_id", "clinic_id"))
    pairs |= set(
        Grant.objects.filter(active_grants(), patient__in=ids).values_list("patient_id", "clinic_id")
    )
    clinics = Clinic.objects.in_bulk({clinic_id for _patient, clinic_id in pairs})
    return [(patients[p], clinics[c]) for p, c in pairs if c in clinics]


def clinic_conversations(
    *, actor, cursor: str | None = None, limit: int = 50
) -> tuple[list[ConversationRow], str | None]:
    """The clinic's conversations, the most recently active first (a conversation without messages by when it was
    opened), one page at a time; and the cursor of the next page (None on the last)."""
    from django.db.models.functions import Coalesce
    from django.utils.translation import gettext as _

    from shifa.core.errors import FieldError, ValidationFailed
    from shifa.core.pagination import check_limit, decode_cursor, encode_cursor

    check_limit(limit)
    conversations = (
        Conversation.objects.for_clinic(actor.require_clinic())
        .annotate(active_at=Coalesce("last_message_at", "created_at"))
        .order_by("-active_at", "-id")
    )
    if cursor:
        position = decode_cursor(cursor)
        try:
            at, before = dt.datetime.fromisoformat(position["at"]), int(position["id"])
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(
                errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))]
            ) from None
        conversations = conversations.filter(Q(active_at__lt=at) | Q(active_at=at, id__lt=before))
    page = list(conversations.values_list("pk", "active_at")[: limit + 1])
    next_cursor = None
    if len(page) > limit:
        last_pk, last_at = page[limit - 1]
        next_cursor = encode_cursor({"at": last_at.isoformat(), "id": last_pk})
    ids = [pk for pk, _ in page[:limit]]
    rows = _rows(
        Conversation.unscoped.filter(pk__in=ids)
        .annotate(active_at=Coalesce("last_message_at", "created_at"))
        .order_by("-active_at", "-id"),
        actor.user,
        Side.CLINIC,
    )
    return rows, next_cursor


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]  # oldest first
    has_more: bool
    #: The newest message of this side that the other side has read (read receipts), by id.
    read_up_to: int | None
    other_read_at: dt.datetime | None


def messages(
    conversation: Conversation, *, side: str, before=None, after=None, limit: int = 50
) -> MessagePage:
    """A page of the conversation, oldest first: the latest messages, those just before the message ``before``
    (scrolling back), or the first ones after the message ``after`` (catching up without a live connection;
    ``has_more`` then says that more follow)."""
    limit = max(1, min(int(limit), 100))
    found = Message.unscoped.filter(conversation=conversation).select_related("sender", "conversation")
    if before:
        found = found.filter(pk__lt=_anchor(conversation, before).pk)
    if after:
        page = list(found.filter(pk__gt=_anchor(conversation, after).pk).order_by("id")[: limit + 1])
        chosen = page[:limit]
    else:
        page = list(found.order_by("-id")[: limit + 1])
        chosen = list(reversed(page[:limit]))
    other = Side.CLINIC if side == Side.PATIENT else Side.PATIENT
    mark = ReadMark.unscoped.filter(conversation=conversation, side=other).order_by("-message_id").first()
    return MessagePage(
        messages=chosen,
        has_more=len(page) > limit,
        read_up_to=mark.message_id if mark else None,
        other_read_at=mark.read_at if mark else None,
    )


def _anchor(conversation: Conversation, message_id) -> Message:
    anchor = Message.unscoped.filter(conversation=conversation, external_id=_uuid(message_id)).first()
    if anchor is None:
        raise NotFound()
    return anchor


def attachment(conversation: Conversation, message_id) -> Message:
    message = Message.unscoped.filter(conversation=conversation, external_id=_uuid(message_id)).first()
    if message is None or not message.attachment:
        raise NotFound()
    return message
