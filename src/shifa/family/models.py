"""Family Doctor (TM-4): a subscriber chooses a doctor listed on Shifa, who accepts (or declines); the doctor's
clinic then reads the patient's shared record through the consent mechanism (``records.Grant``) and the two talk
in the patient's conversation with that clinic (``telehealth.Conversation``).

See docs/decisions/0020-insurance-claims.md (part 2) for why access follows the grant and how a lapsed
subscription pauses it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel


class FamilyStatus(models.TextChoices):
    REQUESTED = "requested", _("Waiting for the doctor's answer")
    ACTIVE = "active", _("Family doctor")
    SUSPENDED = "suspended", _("Paused: the subscription has lapsed")
    DECLINED = "declined", _("Declined by the doctor")
    WITHDRAWN = "withdrawn", _("Request withdrawn")
    ENDED = "ended", _("Ended")


#: The statuses that hold the patient's one family doctor (or request for one).
OPEN = (FamilyStatus.REQUESTED, FamilyStatus.ACTIVE, FamilyStatus.SUSPENDED)


class FamilyDoctor(TenantModel):
    """A patient's family doctor at one clinic (the ``clinic``), from the patient's request to its end."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    #: Who asked (the patient, or the guardian of a dependant): asking is their consent to share the record with
    #: the doctor's clinic once the doctor accepts.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("asked by")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=FamilyStatus.choices, default=FamilyStatus.REQUESTED
    )
    note = models.CharField(_("message to the doctor"), max_length=300, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    decline_reason = models.CharField(_("why the doctor declined"), max_length=300, blank=True)
    suspended_at = models.DateTimeField(_("paused"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ended by"),
    )
    #: The sharing the doctor's clinic reads the record through, while the relationship is active.
    grant = models.ForeignKey(
        "records.Grant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("sharing"),
    )
    #: Whether that sharing was made (or extended) for this relationship, and so ends with it; a sharing without
    #: end the patient had already given the clinic is theirs and stays.
    owns_grant = models.BooleanField(default=False)
    conversation = models.ForeignKey(
        "telehealth.Conversation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("conversation"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("family doctor")
        verbose_name_plural = _("family doctors")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["requested", "active", "suspended"]),
                name="family_one_doctor_at_a_time",
                violation_error_message=_("The patient already has a family doctor (or a request for one)."),
            )
        ]
        indexes = [models.Index(fields=["clinic", "doctor", "status"], name="family_doctor_patients")]
