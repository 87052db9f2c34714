"""What the Google Play simulator remembers: purchases of subscriptions and the access tokens it issued.
Google's records, not a clinic's: no ``clinic_id``."""

from __future__ import annotations

from django.db import models

from shifa.core.models import BaseModel

#: ``subscriptionState`` values of ``SubscriptionPurchaseV2``.
STATES = (
    "SUBSCRIPTION_STATE_PENDING",
    "SUBSCRIPTION_STATE_ACTIVE",
    "SUBSCRIPTION_STATE_PAUSED",
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
    "SUBSCRIPTION_STATE_ON_HOLD",
    "SUBSCRIPTION_STATE_CANCELED",
    "SUBSCRIPTION_STATE_EXPIRED",
    "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
)


class SimPurchase(BaseModel):
    package_name = models.CharField(max_length=200)
    purchase_token = models.CharField(max_length=512, unique=True)
    product_id = models.CharField(max_length=100)
    state = models.CharField(max_length=48, choices=[(s, s) for s in STATES])
    expiry_time = models.DateTimeField()
    auto_renew = models.BooleanField(default=True)
    account_id = models.CharField(max_length=100, blank=True)
    acknowledged = models.BooleanField(default=False)
    linked_purchase_token = models.CharField(max_length=512, blank=True)
    order_number = models.PositiveIntegerField(default=0)


class SimAccessToken(BaseModel):
    token = models.CharField(max_length=100, unique=True)
    client_email = models.CharField(max_length=200)
    expires_at = models.DateTimeField()
