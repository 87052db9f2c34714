"""The patient record (EHR-1). This first part holds the patient's identity; the chart grows with EHR issues."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    UNKNOWN = "unknown", _("Unknown")


class Patient(BaseModel):
    """One patient across the platform; linked to the user who signs in as that patient, if any."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="patient"
    )
    full_name = models.CharField(_("full name"), max_length=200)
    full_name_ar = models.CharField(_("full name (Arabic)"), max_length=200, blank=True)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(_("phone number"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")

    def __str__(self) -> str:
        return self.full_name
