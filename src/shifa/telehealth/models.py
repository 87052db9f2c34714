"""Telehealth (TM-1 … TM-3): video meetings and their attendees, the "Treat Me Now" urgent queue with the doctors
on duty for it, and conversations between a patient and a clinic's care team.

A join token is never stored: it is made (or fetched from the provider) at the moment an attendee joins."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.core.fields import EncryptedTextField
from shifa.core.models import BaseModel
from shifa.tenancy.models import TenantModel


class Provider(models.TextChoices):
    WEBRTC = "webrtc", _("Built-in video (WebRTC)")
    LIVEKIT = "livekit", _("LiveKit")
    CHIME = "chime", _("Amazon Chime")


class MeetingStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ENDED = "ended", _("Ended")


class Meeting(TenantModel):
    """A video meeting for a video appointment or an urgent request: the provider's session and its window."""

    appointment = models.OneToOneField(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="meeting",
        verbose_name=_("appointment"),
    )
    provider = models.CharField(_("provider"), max_length=10, choices=Provider.choices)
    provider_meeting_id = models.CharField(_("provider's meeting id"), max_length=200)
    external_meeting_id = models.CharField(_("meeting id given to the provider"), max_length=64, unique=True)
    media_region = models.CharField(_("media region"), max_length=40, blank=True)
    #: What clients need to reach the provider (signaling path, Chime's media placement …); no secrets.
    join_info = models.JSONField(_("joining details"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=MeetingStatus.choices, default=MeetingStatus.OPEN
    )
    opens_at = models.DateTimeField(_("may be joined from"))
    closes_at = models.DateTimeField(_("may be joined until"))
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ended by"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("video meeting")
        verbose_name_plural = _("video meetings")
        constraints = [
            models.CheckConstraint(
                condition=Q(opens_at__lt=models.F("closes_at")), name="telehealth_meeting_window"
            )
        ]


class AttendeeRole(models.TextChoices):
    DOCTOR = "doctor", _("Doctor")
    PATIENT = "patient", _("Patient")
    GUEST = "guest", _("Invited guest")


class Attendee(TenantModel):
    """Someone in a meeting: the doctor, the patient (or the guardian of a dependant), or a guest invited by a
    one-time link (an interpreter, a family member). Patients and guests wait until the doctor admits them."""

    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="attendees")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("account"),
    )
    role = models.CharField(_("role"), max_length=8, choices=AttendeeRole.choices)
    name = models.CharField(_("name"), max_length=120)
    provider_attendee_id = models.CharField(_("provider's attendee id"), max_length=200, blank=True)
    external_user_id = models.CharField(_("attendee id given to the provider"), max_length=64, unique=True)
    capabilities = models.JSONField(_("capabilities"), default=dict, blank=True)
    admitted_at = models.DateTimeField(_("admitted"), null=True, blank=True)
    joined_at = models.DateTimeField(_("joined"), null=True, blank=True)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    #: A guest's one-time link: only its SHA-256 is kept; it is used once, before it expires.
    invite_digest = models.CharField(max_length=64, null=True, blank=True, unique=True)
    invite_expires_at = models.DateTimeField(_("invitation expires"), null=True, blank=True)
    invite_used_at = models.DateTimeField(_("invitation used"), null=True, blank=True)
    #: The SHA-256 of the key handed to the browser that used the link: that browser (and only it) may come back
    #: with the link until it expires (a reloaded page, a closed tab).
    invite_resume_digest = models.CharField(max_length=64, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("invited by"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("meeting attendee")
        verbose_name_plural = _("meeting attendees")
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "user"],
                condition=Q(user__isnull=False),
                name="telehealth_one_attendee_per_account",
            )
        ]


class UrgentStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for a doctor")
    ACCEPTED = "accepted", _("Accepted by a doctor")
    CANCELLED = "cancelled", _("Cancelled")


class UrgentRequest(BaseModel):
    """A "Treat Me Now" request (TM-2). It belongs to no clinic while it waits in the platform-wide queue; the
    clinic of the doctor who accepts it is set then (with the appointment and the meeting made for it)."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    specialty = models.ForeignKey(
        "catalog.Specialty",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("specialty"),
    )
    complaint = EncryptedTextField(_("complaint"), blank=True)
    #: Higher first (subscribers with the priority entitlement), then arrival.
    priority = models.PositiveSmallIntegerField(_("priority"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=UrgentStatus.choices, default=UrgentStatus.WAITING
    )
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    clinic = models.ForeignKey(
        "tenancy.Clinic",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("clinic"),
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("doctor"),
    )
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    meeting = models.OneToOneField(
        Meeting,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="urgent_request",
        verbose_name=_("meeting"),
    )
    wait_seconds = models.PositiveIntegerField(_("waited (seconds)"), null=True, blank=True)

    class Meta:
        verbose_name = _("urgent request")
        verbose_name_plural = _("urgent requests")
        indexes = [
            models.Index(
                fields=["-priority", "created_at"],
                condition=Q(status="waiting"),
                name="telehealth_urgent_queue",
            ),
            models.Index(fields=["accepted_at"], name="telehealth_urgent_accepted"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="waiting"),
                name="telehealth_one_waiting_request",
                violation_error_message=_("This patient already waits for a doctor."),
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted")
                | Q(clinic__isnull=False, doctor__isnull=False, accepted_at__isnull=False),
                name="telehealth_accepted_has_doctor",
            ),
        ]


class Duty(TenantModel):
    """A doctor on duty for urgent requests, for one of their clinics (the clinic that takes the patients)."""

    doctor = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="urgent_duty",
        verbose_name=_("doctor"),
    )
    on_duty = models.BooleanField(_("on duty"), default=False)
    since = models.DateTimeField(_("since"))

    class Meta(TenantModel.Meta):
        verbose_name = _("urgent-care duty")
        verbose_name_plural = _("urgent-care duties")


class Conversation(TenantModel):
    """The thread between a patient and a clinic's care team (TM-3): one per patient and clinic."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("started by")
    )
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "patient"], name="telehealth_one_conversation")
        ]
        indexes = [models.Index(fields=["clinic", "-last_message_at"], name="telehealth_conv_recent")]


class Side(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CLINIC = "clinic", _("Care team")


class Message(TenantModel):
    """A message of a conversation. Messages are kept with the record: never edited, never deleted."""

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("sender")
    )
    side = models.CharField(_("side"), max_length=8, choices=Side.choices)
    body = EncryptedTextField(_("message"), blank=True)
    attachment = models.FileField(
        _("attachment"), upload_to="conversations/%Y/%m", max_length=300, blank=True
    )
    attachment_name = models.CharField(_("file name"), max_length=200, blank=True)
    attachment_type = models.CharField(max_length=100, blank=True)
    attachment_size = models.PositiveIntegerField(null=True, blank=True)
    #: The sender's own id for the message, so that sending twice (a double tap, a retry) keeps one.
    client_id = models.CharField(max_length=64, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [models.Index(fields=["conversation", "-id"], name="telehealth_message_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_id"],
                condition=~Q(client_id=""),
                name="telehealth_message_once",
            )
        ]
        triggers = [pgtrigger.Protect(name="message_kept", operation=pgtrigger.Update | pgtrigger.Delete)]


class ReadMark(TenantModel):
    """How far one person has read a conversation (read receipts)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="read_marks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=8, choices=Side.choices)
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="telehealth_one_read_mark")
        ]
