"""What we owe Hakeem and what it told us (HK-1 … HK-3).

``SyncRecord`` is the outbox: one row per resource a clinic sends (a patient, a visit, each diagnosis, line, order,
referral, vital sign, care plan, third-party order's Task), keyed on our identifier so that every resend and every
amendment lands on the same resource. ``ThirdPartyOrder`` follows an order fulfilled at a Hakeem facility.
``HistoryImport`` is one import of a patient's history from Hakeem, made with their consent.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel


class Kind(models.TextChoices):
    PATIENT = "patient", _("Patient")
    APPOINTMENT = "appointment", _("Appointment")
    VISIT = "visit", _("Visit")
    DIAGNOSIS = "diagnosis", _("Diagnosis")
    CONDITION = "condition", _("Chronic condition")
    PRESCRIPTION = "prescription", _("Prescription line")
    ORDER = "order", _("Order")
    REFERRAL = "referral", _("Referral")
    VITAL = "vital", _("Vital signs")
    CARE_PLAN = "care_plan", _("Care plan")
    ORDER_TASK = "order_task", _("Third-party order")
    PRESCRIPTION_TASK = "prescription_task", _("Third-party prescription")


#: The FHIR resource each kind is sent as.
RESOURCE_TYPES = {
    Kind.PATIENT: "Patient",
    Kind.APPOINTMENT: "Appointment",
    Kind.VISIT: "Encounter",
    Kind.DIAGNOSIS: "Condition",
    Kind.CONDITION: "Condition",
    Kind.PRESCRIPTION: "MedicationRequest",
    Kind.ORDER: "ServiceRequest",
    Kind.REFERRAL: "ServiceRequest",
    Kind.VITAL: "Observation",
    Kind.CARE_PLAN: "CarePlan",
    Kind.ORDER_TASK: "Task",
    Kind.PRESCRIPTION_TASK: "Task",
}


class SyncState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged by Hakeem")
    FAILED = "failed", _("Failed, will be retried")


class SyncRecord(TenantModel):
    """One resource a clinic owes Hakeem, and how sending it went.

    ``version`` counts the times the record was queued (an amendment queues it again); ``sent_version`` is the
    version Hakeem acknowledged. ``attempts`` counts the failed tries since the last acknowledgement; the next one
    waits an exponentially longer, jittered time (``next_attempt_at``)."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    kind = models.CharField(_("record"), max_length=20, choices=Kind.choices)
    #: Our identifier's value (``https://shifa.jo/fhir/id/<kind>|<key>``): the external id of the row, or of the
    #: row it descends from (a visit's original, a diagnosis' lineage).
    key = models.UUIDField(_("identifier"))
    resource_type = models.CharField(_("FHIR resource"), max_length=24)
    state = models.CharField(_("state"), max_length=12, choices=SyncState.choices, default=SyncState.PENDING)
    version = models.PositiveIntegerField(default=1)
    sent_version = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    #: The resource on Hakeem (``Condition/123``) and its version there.
    remote_id = models.CharField(_("Hakeem id"), max_length=120, blank=True)
    remote_version = models.CharField(max_length=40, blank=True)
    #: A patient Hakeem held already (found by national ID): we refer to its record and leave their identity to
    #: Hakeem's registry.
    matched = models.BooleanField(default=False)

    class Meta(TenantModel.Meta):
        verbose_name = _("Hakeem record")
        verbose_name_plural = _("Hakeem records")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "key"], name="hakeem_one_record_per_identifier"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="hakeem_sync_due_idx"),
            models.Index(fields=["clinic", "state"], name="hakeem_sync_clinic_idx"),
            models.Index(fields=["patient", "clinic"], name="hakeem_sync_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} {self.key}"


class TaskStatus(models.TextChoices):
    """FHIR task-status codes of a third-party order's Task, as the Hakeem facility reports them."""

    REQUESTED = "requested", _("Requested")
    RECEIVED = "received", _("Received by the facility")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected by the facility")
    IN_PROGRESS = "in-progress", _("In progress")
    ON_HOLD = "on-hold", _("On hold")
    COMPLETED = "completed", _("Fulfilled")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Could not be fulfilled")


#: Statuses after which a Task does not change any more (no need to ask again).
FINAL_TASK_STATUSES = {TaskStatus.REJECTED, TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED}


class ThirdPartyOrder(TenantModel):
    """An order (lab test, imaging study) or prescription line of a committed visit, to be fulfilled at a Hakeem
    facility; its status follows the Task Hakeem keeps for it."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    visit = models.ForeignKey(
        "records.Visit", on_delete=models.PROTECT, related_name="+", verbose_name=_("visit")
    )
    kind = models.CharField(
        _("record"),
        max_length=20,
        choices=[
            (Kind.ORDER_TASK, Kind.ORDER_TASK.label),
            (Kind.PRESCRIPTION_TASK, Kind.PRESCRIPTION_TASK.label),
        ],
    )
    #: The lineage of the order or prescription line (the key of its ServiceRequest / MedicationRequest).
    key = models.UUIDField()
    facility = models.ForeignKey(
        "catalog.Facility", on_delete=models.PROTECT, related_name="+", verbose_name=_("facility")
    )
    description = models.CharField(_("order"), max_length=300)
    status = models.CharField(
        _("status"), max_length=12, choices=TaskStatus.choices, default=TaskStatus.REQUESTED
    )
    business_status = models.CharField(_("facility's note"), max_length=300, blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    #: When we last asked Hakeem about it.
    checked_at = models.DateTimeField(null=True, blank=True)
    #: Withdrawn by an amendment of the visit.
    withdrawn = models.BooleanField(default=False)

    class Meta(TenantModel.Meta):
        verbose_name = _("third-party order")
        verbose_name_plural = _("third-party orders")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "kind", "key"], name="hakeem_one_tpo_per_order"),
        ]
        indexes = [models.Index(fields=["status", "checked_at"], name="hakeem_tpo_open_idx")]


class ImportState(models.TextChoices):
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class ImportStep(models.TextChoices):
    """How far a running import is; empty while its job waits for the worker."""

    FINDING = "finding", _("Finding the patient on Hakeem")
    READING = "reading", _("Reading their history")
    FILING = "filing", _("Filing it into the record")


class HistoryImport(TenantModel):
    """One import of a patient's history from Hakeem by national ID (HK-3), with the patient's consent."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    #: How the patient consented: in the app themselves, or in person to the clinic's staff member.
    consent = models.CharField(_("consent"), max_length=12)
    consented_at = models.DateTimeField(_("consented"))
    state = models.CharField(
        _("state"), max_length=8, choices=ImportState.choices, default=ImportState.RUNNING
    )
    #: What was filed, per kind, and what was left out (already there, not in our catalog).
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    #: While it runs: its step, and in the filing step how many of the ``total`` resources it went through.
    step = models.CharField(_("step"), max_length=8, choices=ImportStep.choices, blank=True)
    done = models.PositiveIntegerField(_("done"), default=0)
    total = models.PositiveIntegerField(_("total"), default=0)

    class Meta(TenantModel.Meta):
        verbose_name = _("Hakeem history import")
        verbose_name_plural = _("Hakeem history imports")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(state="running"), name="hakeem_one_running_import"
            ),
        ]
