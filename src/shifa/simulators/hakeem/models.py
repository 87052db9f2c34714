"""What the Hakeem simulator remembers: the FHIR resources it was sent (every version of each) and the switch
that makes it fail or answer slowly. Hakeem's records, not a clinic's: no ``clinic_id``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel


class SimResource(BaseModel):
    """The current version of one resource, with what searches need pulled out of its JSON."""

    resource_type = models.CharField(max_length=40)
    #: The server-assigned (or, on update-as-create, client-chosen) logical id.
    fhir_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField(default=1)
    #: The resource as stored: ``id`` and ``meta.versionId``/``meta.lastUpdated`` filled in, conditional
    #: references replaced by the ids they matched.
    content = models.JSONField()
    #: ``"<system>|<value>"`` of each ``identifier``, for searches and conditional interactions.
    identifiers = models.JSONField(default=list, blank=True)
    #: ``Patient/<id>`` the resource is about (its own reference for a Patient), for ``patient=`` and
    #: ``$everything``.
    subject = models.CharField(max_length=120, blank=True, db_index=True)
    last_updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource_type", "fhir_id"], name="sim_hakeem_one_logical_id"),
        ]
        indexes = [
            models.Index(fields=["resource_type", "last_updated"], name="sim_hakeem_type_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.fhir_id}"


class SimResourceVersion(BaseModel):
    """Every version ever stored, the current one included (``_history``)."""

    resource = models.ForeignKey(SimResource, on_delete=models.CASCADE, related_name="versions")
    version_id = models.PositiveIntegerField()
    content = models.JSONField()
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource", "version_id"], name="sim_hakeem_one_row_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.resource}/_history/{self.version_id}"


class SwitchMode(models.TextChoices):
    NORMAL = "normal", _("normal")
    DOWN = "down", _("down (503)")
    ERROR = "error", _("error (500)")
    SLOW = "slow", _("slow")


class SimSwitch(BaseModel):
    """One row: how the FHIR endpoints behave right now."""

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    mode = models.CharField(max_length=8, choices=SwitchMode.choices, default=SwitchMode.NORMAL)
    #: How long a ``slow`` answer waits before it is given (seconds).
    delay_seconds = models.DecimalField(max_digits=6, decimal_places=3, default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(singleton=1), name="sim_hakeem_switch_singleton"),
        ]

    def __str__(self) -> str:
        return self.mode
