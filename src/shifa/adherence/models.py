"""Medication reminders (CP-3): one dose schedule per committed prescription line, and its doses.

A schedule is made when the visit is committed, in the patient's time zone, from the line's frequency, meal timing
and duration (``schedule.py``). An amendment replaces the schedules of the version it corrects: their future doses
are cancelled. Doses are due, sent (the reminder went out), then taken, skipped or missed.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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
