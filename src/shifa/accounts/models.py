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
    email = models.EmailField(_("email"), max_length=254, blank=True)
    email_verified_at = models.DateTimeField(_("email verified at"), null=True, blank=True)
    phone = models.CharField(
        _("phone number"), max_length=16, blank=True, help_text=_("E.164, e.g. +962791234567")
    )
    phone_verified_at = models.DateTimeField(_("phone verified at"), null=True, blank=True)
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
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="accounts_user_email_ci_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(email="") | ~models.Q(phone=""), name="accounts_user_email_or_phone"
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=~models.Q(phone=""), name="accounts_user_phone_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(phone="") | models.Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="accounts_user_phone_e164",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def phone_verified(self) -> bool:
        return self.phone_verified_at is not None

    @property
    def has_mfa(self) -> bool:
        """Whether a confirmed authenticator app guards this account."""
        device = getattr(self, "totp_device", None)  # the reverse accessor raises AttributeError when absent
        return device is not None and device.confirmed_at is not None

    # Django's auth machinery reads these; access itself is decided by shifa.access, never by them.
    @property
    def is_staff(self) -> bool:
        return False

    @property
    def is_superuser(self) -> bool:
        return False


class TokenFamily(BaseModel):
    """One sign-in of an API client (a device). Its refresh tokens rotate; revoking the family ends them all,
    and every access token minted for it stops working at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="token_families")
    name = models.CharField(_("device"), max_length=100, blank=True)
    mfa_verified = models.BooleanField(_("second factor passed"), default=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("revoked because"), max_length=40, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API sign-in")
        verbose_name_plural = _("API sign-ins")
        indexes = [models.Index(fields=["user", "revoked_at"])]


class RefreshToken(BaseModel):
    """A refresh token of a family; only its keyed digest is stored. Spent once used: presenting a spent one
    again means it was copied, so the whole family is revoked."""

    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="refresh_tokens")
    token_digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("refresh token")
        verbose_name_plural = _("refresh tokens")


class CodePurpose(models.TextChoices):
    SIGN_IN = "sign_in", _("Sign in")
    VERIFY_PHONE = "verify_phone", _("Verify a phone number")
    RESET_PASSWORD = "reset_password", _("Reset a password")


class OneTimeCode(BaseModel):
    """A six-digit code sent by SMS. Only its keyed digest is kept; it expires, allows a few attempts and is
    spent by its first correct use."""

    phone = models.CharField(_("phone number"), max_length=16)
    purpose = models.CharField(_("purpose"), max_length=20, choices=CodePurpose.choices)
    code_digest = models.CharField(max_length=64)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    consumed_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        indexes = [models.Index(fields=["phone", "purpose", "created_at"])]


class Provider(models.TextChoices):
    GOOGLE = "google", "Google"
    APPLE = "apple", "Apple"


class ExternalIdentity(BaseModel):
    """A Google or Apple account linked to a user (the provider's stable subject, never the email)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices)
    subject = models.CharField(_("subject"), max_length=255)
    email = models.EmailField(_("email"), max_length=254, blank=True)

    class Meta:
        verbose_name = _("linked identity")
        verbose_name_plural = _("linked identities")
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="accounts_identity_unique"),
        ]


class ProviderNonce(BaseModel):
    """A nonce we issued for a Google or Apple sign-in from the app: the ID token must carry it, and it works
    once, so an ID token obtained elsewhere (or replayed) cannot sign anyone in here."""

    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in nonce")
        verbose_name_plural = _("sign-in nonces")
        indexes = [models.Index(fields=["expires_at"])]


class TotpDevice(BaseModel):
    """A user's authenticator app. The shared secret is encrypted at rest; ``last_step`` refuses a code that
    was already used (replay)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret_encrypted = models.TextField()
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    last_step = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("authenticator app")
        verbose_name_plural = _("authenticator apps")


class RecoveryCode(BaseModel):
    """A single-use code for when the authenticator app is lost; only its keyed digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        verbose_name_plural = _("recovery codes")


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
