"""The structured audit table (EHR-4). Rows are written only by the database trigger ``shifa_audit_write``
and can be neither updated nor deleted."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Operation(models.TextChoices):
    INSERT = "INSERT", _("Created")
    UPDATE = "UPDATE", _("Changed")
    DELETE = "DELETE", _("Deleted")
    TRUNCATE = "TRUNCATE", _("Emptied")


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    table_name = models.CharField(_("table"), max_length=100)
    entity_id = models.CharField(_("entity id"), max_length=64)
    entity_external_id = models.UUIDField(_("entity public id"), null=True)
    operation = models.CharField(_("operation"), max_length=8, choices=Operation.choices)
    before = models.JSONField(_("before"), null=True)
    after = models.JSONField(_("after"), null=True)
    changed_fields = models.JSONField(_("changed fields"), null=True)
    actor_id = models.BigIntegerField(_("actor"), null=True)
    clinic_id = models.BigIntegerField(_("clinic"), null=True, db_index=True)
    request_id = models.CharField(_("request id"), max_length=128, blank=True, default="")
    source = models.CharField(_("source"), max_length=100, blank=True, default="")
    transaction_id = models.BigIntegerField(_("transaction"))

    class Meta:
        db_table = "audit_event"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["table_name", "entity_id", "occurred_at"], name="audit_entity_idx"),
            models.Index(fields=["entity_external_id"], name="audit_external_idx"),
            # rows written by jobs and the system have no request and no actor: they need no entry here
            models.Index(fields=["request_id"], name="audit_request_idx", condition=~models.Q(request_id="")),
            models.Index(
                fields=["actor_id"], name="audit_actor_idx", condition=models.Q(actor_id__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.table_name}:{self.entity_id}"


class ReadScope(models.TextChoices):
    CHART = "chart", _("Chart")
    VISIT = "visit", _("Visit")
    RESULT = "result", _("Result")
    DOCUMENT = "document", _("Document")


class RecordRead(models.Model):
    """One read of a patient's clinical content by someone other than the patient (ID-5): who, for which clinic,
    in which role, when, and what. The patient sees these in the app. Append-only, like the audit table."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(_("time"))
    patient = models.ForeignKey("records.Patient", on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey("tenancy.Clinic", null=True, on_delete=models.PROTECT, related_name="+")
    reader = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("role"), max_length=40)
    scope = models.CharField(_("what was read"), max_length=10, choices=ReadScope.choices)
    subject = models.UUIDField(_("which"), null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        db_table = "audit_record_read"
        verbose_name = _("record read")
        verbose_name_plural = _("record reads")
        indexes = [models.Index(fields=["patient", "-occurred_at"], name="audit_read_patient_idx")]

    def __str__(self) -> str:
        return f"{self.scope} of patient {self.patient_id} by {self.reader_id}"
