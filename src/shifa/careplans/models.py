"""Care plans (CP-1, CP-2): a doctor's structured program for one patient — a series of appointments and tasks,
each a dated step the patient books or does, linked to the record.

A plan is written as items ("10 physiotherapy sessions, weekly, from next week"; "a blood-pressure reading every
day for 30 days"; "an HbA1c test in 3 months"); each item becomes its dated steps when the plan is made. A step is
open, done (its appointment completed, its reading taken, or marked done), missed (its window passed; the care
team is told) or cancelled (the plan stopped). A template is a clinic's reusable list of items.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel


class StepKind(models.TextChoices):
    VISIT = "visit", _("Appointment")
    TASK = "task", _("Task")


class TaskKind(models.TextChoices):
    VITAL = "vital", _("Vital sign reading")
    LAB = "lab", _("Lab test")
    OTHER = "other", _("Other task")


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    STOPPED = "stopped", _("Stopped")


class StepStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")


class CarePlanTemplate(TenantModel):
    """A clinic's reusable care plan: its items, as a doctor would write them in a plan."""

    name = models.CharField(_("name"), max_length=200)
    goal = models.TextField(_("goal"), blank=True)
    items = models.JSONField(_("items"), default=list)
    is_active = models.BooleanField(_("in use"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("care plan template")
        verbose_name_plural = _("care plan templates")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"], condition=Q(is_active=True), name="careplans_one_template_name"
            )
        ]


class CarePlan(TenantModel):
    """One patient's program at one clinic, under one responsible doctor."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="care_plans", verbose_name=_("patient")
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    visit = models.ForeignKey(
        "records.Visit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("made in the visit"),
    )
    template = models.ForeignKey(
        CarePlanTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("from the template"),
    )
    title = models.CharField(_("title"), max_length=200)
    goal = models.TextField(_("goal"), blank=True)
    starts_on = models.DateField(_("starts on"))
    items = models.JSONField(_("items"), default=list)
    thresholds = models.JSONField(
        _("alert thresholds"),
        default=dict,
        blank=True,
        help_text=_('By LOINC code, e.g. {"8480-6": {"low": 90, "high": 140}}'),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=PlanStatus.choices, default=PlanStatus.ACTIVE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ended by"),
    )
    end_reason = models.CharField(_("why it was stopped"), max_length=300, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("care plan")
        verbose_name_plural = _("care plans")
        indexes = [models.Index(fields=["patient", "status"], name="careplans_plan_patient_idx")]


class CareStep(TenantModel):
    """One dated step of a plan: an appointment to book or a task to do, from ``due_on`` to ``window_days``
    later (an appointment may also be booked up to ``window_days`` earlier)."""

    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="steps", verbose_name=_("plan"))
    item = models.PositiveSmallIntegerField(_("item"))
    number = models.PositiveSmallIntegerField(_("number in its item"))
    of = models.PositiveSmallIntegerField(_("steps in its item"))
    kind = models.CharField(_("kind"), max_length=5, choices=StepKind.choices)
    task = models.CharField(_("task"), max_length=5, choices=TaskKind.choices, blank=True)
    title = models.CharField(_("title"), max_length=200)
    vital_kind = models.ForeignKey(
        "catalog.VitalSignType",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("vital sign"),
    )
    visit_type = models.CharField(_("visit type"), max_length=10, blank=True)
    service = models.ForeignKey(
        "directory.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("service"),
    )
    due_on = models.DateField(_("due on"))
    window_days = models.PositiveSmallIntegerField(_("days allowed around it"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=StepStatus.choices, default=StepStatus.OPEN)
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="care_steps",
        verbose_name=_("appointment"),
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("done by"),
    )
    missed_at = models.DateTimeField(_("missed"), null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("care plan step")
        verbose_name_plural = _("care plan steps")
        ordering = ["due_on", "item", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "item", "number"], name="careplans_one_step_per_number"),
            models.CheckConstraint(
                condition=Q(kind="task") | Q(task=""), name="careplans_only_tasks_have_a_task"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_on"], name="careplans_step_due_idx"),
        ]
