"""Institutions, clinics (the tenants) and who works where (ID-2, ID-3)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel, NamedInTwoLanguages


class TenantContextMissing(RuntimeError):
    """A tenant-owned table was queried without saying for which clinic."""


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """``Model.objects`` of a tenant-owned model: usable only through ``for_clinic(clinic)``."""

    def get_queryset(self):
        raise TenantContextMissing(
            f"{self.model.__name__} is owned by a clinic: use {self.model.__name__}.objects.for_clinic(clinic)"
        )

    def for_clinic(self, clinic: Clinic | int) -> TenantQuerySet:
        clinic_id = clinic if isinstance(clinic, int) else clinic.pk
        if clinic_id is None:
            raise TenantContextMissing("no clinic given")
        return super().get_queryset().filter(clinic_id=clinic_id)


class TenantModel(BaseModel):
    """Base of every tenant-owned table: carries ``clinic_id`` and refuses unscoped queries.

    ``unscoped`` exists for the platform's own cross-clinic work (platform console, jobs) and for Django's
    related-object machinery; policies decide when it may be used.
    """

    clinic = models.ForeignKey(
        "tenancy.Clinic", verbose_name=_("clinic"), on_delete=models.PROTECT, related_name="+"
    )

    unscoped = models.Manager()
    objects = TenantManager()

    class Meta:
        abstract = True
        default_manager_name = "unscoped"
        base_manager_name = "unscoped"


class Institution(BaseModel):
    """A group of clinics owned by a General Admin."""

    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("general admin"),
        on_delete=models.PROTECT,
        related_name="owned_institutions",
        null=True,
        blank=True,
        help_text=_("Empty until the invited General Admin accepts"),
    )

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")

    def __str__(self) -> str:
        return self.name_en


class ClinicStatus(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


class Clinic(NamedInTwoLanguages, BaseModel):
    """The tenant."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="clinics")
    slug = models.SlugField(_("short name"), max_length=80, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    city = models.CharField(_("city"), max_length=100)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Amman")
    status = models.CharField(
        _("status"), max_length=16, choices=ClinicStatus.choices, default=ClinicStatus.PENDING
    )

    class Meta:
        verbose_name = _("clinic")
        verbose_name_plural = _("clinics")

    def __str__(self) -> str:
        return self.name_en


class Membership(TenantModel):
    """A person's role in a clinic. One person may hold roles in several clinics."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    role = models.ForeignKey("access.Role", on_delete=models.PROTECT, related_name="memberships")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "user", "role"], name="tenancy_membership_unique_role"),
        ]


class Invitation(TenantModel):
    """A clinic admin's invitation for someone to join the clinic with a role. The link carries a secret of
    which only the keyed digest is stored; it expires and works once."""

    email = models.EmailField(_("email"), max_length=254)
    role = models.ForeignKey("access.Role", on_delete=models.PROTECT, related_name="+")
    token_digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires at"))
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("invited by")
    )
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")


class PlanPeriod(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    YEARLY = "yearly", _("Yearly")


class Entitlement(models.TextChoices):
    """What a plan includes (a plan's ``entitlements`` maps each it grants to true)."""

    VIDEO_VISITS = "video_visits", _("Video visits")
    HOME_VISITS = "home_visits", _("Home visits")
    ONLINE_PAYMENTS = "online_payments", _("Online payments")
    INSURANCE_BILLING = "insurance_billing", _("Insurance billing")
    HAKEEM_SYNC = "hakeem_sync", _("Sync with Hakeem")
    SMS_REMINDERS = "sms_reminders", _("SMS reminders")


class Plan(BaseModel):
    """A subscription plan clinics are licensed under (sold in the payments issue)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_ar = models.CharField(_("name (Arabic)"), max_length=100)
    price = models.DecimalField(_("price (JOD)"), max_digits=10, decimal_places=3)
    period = models.CharField(_("period"), max_length=10, choices=PlanPeriod.choices)
    seats = models.PositiveIntegerField(_("staff seats"))
    entitlements = models.JSONField(_("entitlements"), default=dict, blank=True)
    is_active = models.BooleanField(_("offered"), default=True)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")


class LicenceState(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRING = "expiring", _("Expiring")
    EXPIRED = "expired", _("Expired")
    SUSPENDED = "suspended", _("Suspended")


class Licence(TenantModel):
    """The clinic's licence to use Shifa: a plan, seats and a validity. Suspended or expired, it stops new
    bookings; existing records stay visible."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+", verbose_name=_("plan"))
    seats = models.PositiveIntegerField(_("staff seats"))
    starts_on = models.DateField(_("valid from"))
    ends_on = models.DateField(_("valid until"))
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    suspension_reason = models.CharField(_("reason for suspension"), max_length=300, blank=True)
    expiry_notified_on = models.DateField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        constraints = [models.UniqueConstraint(fields=["clinic"], name="tenancy_one_licence_per_clinic")]


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ClinicApplication(BaseModel):
    """A clinic asking to join Shifa, with its licence documents, until the platform decides."""

    institution_name_en = models.CharField(_("institution (English)"), max_length=200)
    institution_name_ar = models.CharField(_("institution (Arabic)"), max_length=200)
    clinic_name_en = models.CharField(_("clinic (English)"), max_length=200)
    clinic_name_ar = models.CharField(_("clinic (Arabic)"), max_length=200)
    slug = models.SlugField(_("short name"), max_length=80)
    city = models.CharField(_("city"), max_length=100)
    moh_licence_number = models.CharField(_("Ministry of Health licence number"), max_length=60)
    contact_name = models.CharField(_("contact person"), max_length=200)
    contact_email = models.EmailField(_("contact email"), max_length=254)
    contact_phone = models.CharField(_("contact phone"), max_length=16)
    documents = models.JSONField(_("licence documents"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    decision_reason = models.CharField(_("reason"), max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    clinic = models.OneToOneField(
        Clinic, null=True, blank=True, on_delete=models.PROTECT, related_name="application"
    )

    class Meta:
        verbose_name = _("clinic application")
        verbose_name_plural = _("clinic applications")
