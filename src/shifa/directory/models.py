"""What a clinic offers and for how much: services, and their prices per visit type, clinic-wide or for one
doctor (CL-2). Prices are JOD with three decimals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel


class VisitType(models.TextChoices):
    OFFICE = "office", _("At the clinic")
    VIDEO = "video", _("Video")
    HOME = "home", _("Home visit")


class Service(TenantModel):
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    is_active = models.BooleanField(_("offered"), default=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("service")
        verbose_name_plural = _("services")

    def display_name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en


class Price(TenantModel):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="prices")
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("doctor"),
        help_text=_("Empty: the clinic's price for every doctor"),
    )
    visit_type = models.CharField(_("visit type"), max_length=10, choices=VisitType.choices)
    amount = models.DecimalField(_("price (JOD)"), max_digits=10, decimal_places=3)

    class Meta(TenantModel.Meta):
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(
                fields=["service", "visit_type"],
                condition=models.Q(doctor__isnull=True),
                name="directory_one_clinic_price",
            ),
            models.UniqueConstraint(
                fields=["service", "doctor", "visit_type"],
                condition=models.Q(doctor__isnull=False),
                name="directory_one_doctor_price",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="directory_price_not_negative"),
        ]
