"""Notifications (one per event and recipient), their deliveries per channel, preferences, push subscriptions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.fields import EncryptedTextField
from shifa.core.models import BaseModel


class Notification(BaseModel):
    """What one person was told, once: the in-app entry, and the source of every channel's delivery.

    ``idempotency_key`` (unique per recipient) makes notifying twice for the same event a no-op.
    """

    # no index of its own: (recipient, idempotency_key) and (recipient, read_at) lead with it
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    clinic = models.ForeignKey(
        "tenancy.Clinic", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=60)
    category = models.CharField(_("category"), max_length=20)
    idempotency_key = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=2)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "idempotency_key"], name="notifications_once_per_key"
            )
        ]
        indexes = [models.Index(fields=["recipient", "read_at"])]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    DEFERRED = "deferred", _("Held for quiet hours")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent")


class Delivery(BaseModel):
    """One channel's delivery of a notification, with its status and attempts. The key goes to the provider
    (where it takes one) and is checked before every attempt, so a retry never sends twice."""

    # no index of its own: the unique (notification, channel) leads with it
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=10)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="notifications_one_delivery_per_channel"
            )
        ]

    @property
    def key(self) -> str:
        """The idempotency key handed to the provider."""
        return f"shifa-{self.external_id.hex}"


class Preference(BaseModel):
    """A person's choice of channels and quiet hours (in their own time zone)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    push = models.BooleanField(_("push notifications"), default=True)
    email = models.BooleanField(_("email"), default=True)
    sms = models.BooleanField(_("text messages"), default=True)
    marketing = models.BooleanField(_("news and offers"), default=False)
    quiet_from = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_until = models.TimeField(_("quiet hours until"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")


class PushSubscription(BaseModel):
    """A browser's Web Push subscription (from its service worker). ``p256dh`` is the browser's public key;
    ``auth`` is the secret it shares with us to authenticate what we send, so it is encrypted (shifa.core.keys)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = EncryptedTextField()
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")
