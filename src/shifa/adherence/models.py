"""Medication reminders (CP-3): one dose schedule per committed prescription line, and its doses.

A schedule is made when the visit is committed, in the patient's time zone, from the line's frequency, meal timing
and duration (``schedule.py``). An amendment replaces the schedules of the version it corrects: their future doses
are cancelled. Doses are due, sent (the reminder went out), then taken, skipped or missed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel
from shifa.tenancy.models import TenantModel


class ScheduleStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REPLACED = "replaced", _("Replaced by a correction")
    STOPPED = "stopped", _("Stopped")


class DoseSchedule(TenantModel):
    """The reminders of one prescription line (``clinic``: the prescribing clinic)."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    prescription = models.ForeignKey(
        "records.Prescription",
        on_delete=models.PROTECT,
        related_name="schedules",
        verbose_name=_("prescription line"),
    )
    zone = models.CharField(_("time zone"), max_length=64)
    times = models.JSONField(
        _("times of day"), default=list, help_text=_('Local times, e.g. ["08:00", "20:00"]')
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE
    )
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("stopped by"),
    )
    end_reason = models.CharField(_("why it was stopped"), max_length=300, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("dose schedule")
        verbose_name_plural = _("dose schedules")
        constraints = [
            models.UniqueConstraint(
                fields=["prescription"],
                condition=Q(status="active"),
                name="adherence_one_active_schedule_per_line",
            )
        ]


class DoseStatus(models.TextChoices):
    DUE = "due", _("Due")
    SENT = "sent", _("Reminded")
    TAKEN = "taken", _("Taken")
    SKIPPED = "skipped", _("Skipped")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")


class Dose(TenantModel):
    schedule = models.ForeignKey(DoseSchedule, on_delete=models.PROTECT, related_name="doses")
    patient = models.ForeignKey("records.Patient", on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(_("status"), max_length=10, choices=DoseStatus.choices, default=DoseStatus.DUE)
    sent_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    device = models.ForeignKey(
        "adherence.Device",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("confirmed by the device"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("dose")
        verbose_name_plural = _("doses")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "due_at"], name="adherence_one_dose_per_time"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="due"), name="adherence_due_idx"),
            models.Index(fields=["patient", "due_at"], name="adherence_patient_idx"),
        ]


class DeviceKind(models.TextChoices):
    BP_CUFF = "bp_cuff", _("Blood-pressure cuff")
    GLUCOMETER = "glucometer", _("Glucometer")
    WEARABLE = "wearable", _("Wearable (watch or band)")
    PULSE_OXIMETER = "oximeter", _("Pulse oximeter")
    SCALE = "scale", _("Scale")
    THERMOMETER = "thermometer", _("Thermometer")
    PILL_BOX = "pill_box", _("Smart pill box")


class DeviceStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REVOKED = "revoked", _("Removed")


class Device(BaseModel):
    """A patient's device (CP-5). It signs in with its id and its own secret (kept as a hash, shown once) and can
    only file data for its patient: readings, and for a pill box, doses taken."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="devices", verbose_name=_("patient")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=DeviceKind.choices)
    name = models.CharField(_("name"), max_length=120)
    secret_hash = models.CharField(_("secret (hash)"), max_length=64, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=8, choices=DeviceStatus.choices, default=DeviceStatus.ACTIVE
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("registered by")
    )
    last_seen_at = models.DateTimeField(_("last heard from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("removed"), null=True, blank=True)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")


class ReadingSource(models.TextChoices):
    PATIENT = "patient", _("Entered by the patient")
    DEVICE = "device", _("Sent by a device")


class Flag(models.TextChoices):
    NORMAL = "", _("In range")
    LOW = "low", _("Low")
    HIGH = "high", _("High")


class Reading(BaseModel):
    """A vital sign measured at home (CP-4), by the patient or one of their devices: it belongs to the patient,
    not to a clinic, and shows in every chart that may show the patient's whole record."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="readings", verbose_name=_("patient")
    )
    kind = models.ForeignKey(
        "catalog.VitalSignType", on_delete=models.PROTECT, related_name="+", verbose_name=_("vital sign")
    )
    value = models.DecimalField(_("value"), max_digits=8, decimal_places=2)
    taken_at = models.DateTimeField(_("taken"))
    flag = models.CharField(_("flag"), max_length=4, choices=Flag.choices, blank=True, default="")
    source = models.CharField(_("source"), max_length=8, choices=ReadingSource.choices)
    device = models.ForeignKey(
        Device,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="readings",
        verbose_name=_("device"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("entered by"),
    )
    message_id = models.CharField(_("message id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("home reading")
        verbose_name_plural = _("home readings")
        indexes = [models.Index(fields=["patient", "kind", "taken_at"], name="adherence_reading_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "message_id", "kind"],
                condition=~Q(message_id=""),
                name="adherence_device_message_once",
            ),
            models.CheckConstraint(
                condition=Q(source="patient", recorded_by__isnull=False, device__isnull=True)
                | Q(source="device", device__isnull=False),
                name="adherence_reading_has_its_source",
            ),
        ]


class Alert(TenantModel):
    """A home reading outside the normal range (or the plan's own thresholds), raised to the care team of each
    clinic following the patient with a care plan; someone there acknowledges it."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    reading = models.ForeignKey(
        Reading, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("reading")
    )
    plan = models.ForeignKey(
        "careplans.CarePlan", on_delete=models.PROTECT, related_name="alerts", verbose_name=_("care plan")
    )
    flag = models.CharField(_("flag"), max_length=4, choices=Flag.choices)
    low = models.DecimalField(_("lowest expected"), max_digits=8, decimal_places=2, null=True, blank=True)
    high = models.DecimalField(_("highest expected"), max_digits=8, decimal_places=2, null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(fields=["reading", "plan"], name="adherence_one_alert_per_plan"),
        ]
        indexes = [
            models.Index(
                fields=["clinic", "created_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="adherence_open_alerts",
            )
        ]
