"""People who sign in: patients, clinic staff and platform admins share one user model (completed by ID-1/ID-6)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel


class Language(models.TextChoices):
    ARABIC = "ar", _("Arabic")
    ENGLISH = "en", _("English")


class User(BaseModel, AbstractBaseUser):
    email = models.EmailField(_("email"), max_length=254)
    phone = models.CharField(
        _("phone number"), max_length=16, blank=True, help_text=_("E.164, e.g. +962791234567")
    )
    full_name = models.CharField(_("full name"), max_length=200)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.ARABIC
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Amman")
    is_active = models.BooleanField(_("active"), default=True)
    is_platform_admin = models.BooleanField(_("platform super admin"), default=False)

    objects = BaseUserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.UniqueConstraint(
                fields=["phone"], condition=~models.Q(phone=""), name="accounts_user_phone_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(phone="") | models.Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="accounts_user_phone_e164",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    # Django's auth machinery reads these; access itself is decided by shifa.access, never by them.
    @property
    def is_staff(self) -> bool:
        return False

    @property
    def is_superuser(self) -> bool:
        return False


class ApiToken(BaseModel):
    """An opaque bearer token for the API; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        indexes = [models.Index(fields=["user", "expires_at"])]


class SignInThrottle(BaseModel):
    """Failed sign-in attempts for one account or one client address, and the lock they have earned.

    ``key`` is ``account:<sha256 of the email>`` or ``address:<ip>``: no email is stored in clear here.
    """

    key = models.CharField(max_length=100, unique=True)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in throttle")
        verbose_name_plural = _("sign-in throttles")
