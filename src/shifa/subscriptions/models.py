"""Patients' subscriptions (PAY-3): plans defined by the platform, each patient's subscriptions bought through the
App Store, Google Play or PayTabs, the append-only history of their states and the messages that caused them, the
included video visits used, and the platform's ledger of subscription money.

These are platform tables (no clinic): a subscription belongs to a patient across every clinic, and its money is the
platform's revenue, never a clinic's invoice.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.core.fields import EncryptedTextField
from shifa.core.models import BaseModel, NamedInTwoLanguages

from .states import Snapshot, State

#: Rows that are history: never changed, never deleted (the database refuses it).
KEPT = pgtrigger.Protect(name="kept", operation=pgtrigger.Update | pgtrigger.Delete)


class Period(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    YEARLY = "yearly", _("Yearly")


class Plan(NamedInTwoLanguages, BaseModel):
    """A subscription plan patients can buy. A plan someone ever subscribed to is retired, never deleted."""

    name_en = models.CharField(_("name (English)"), max_length=100)
    name_ar = models.CharField(_("name (Arabic)"), max_length=100)
    price = models.DecimalField(_("price (JOD)"), max_digits=10, decimal_places=3)
    period = models.CharField(_("period"), max_length=10, choices=Period.choices)
    family_doctor = models.BooleanField(_("family doctor"), default=False)
    priority_urgent_care = models.BooleanField(_("priority in Treat Me Now"), default=False)
    included_video_visits = models.PositiveIntegerField(_("video visits included each period"), default=0)
    app_store_product_id = models.CharField(_("App Store product id"), max_length=100, blank=True)
    google_play_product_id = models.CharField(_("Google Play product id"), max_length=100, blank=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscription plan")
        verbose_name_plural = _("subscription plans")
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="subscriptions_plan_price_positive"),
            models.UniqueConstraint(
                fields=["app_store_product_id"],
                condition=~Q(app_store_product_id=""),
                name="subscriptions_one_plan_per_app_store_product",
            ),
            models.UniqueConstraint(
                fields=["google_play_product_id"],
                condition=~Q(google_play_product_id=""),
                name="subscriptions_one_plan_per_google_play_product",
            ),
        ]

    def __str__(self) -> str:
        return self.name_en

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class StoreAccount(BaseModel):
    """The UUID we give a patient's app to pass to the stores with a purchase (the App Store's ``appAccountToken``,
    Google Play's ``obfuscatedExternalAccountId``), so that a store's notice names whose purchase it is."""

    patient = models.OneToOneField("records.Patient", on_delete=models.PROTECT, related_name="+")
    app_account_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        verbose_name = _("store account")


class Source(models.TextChoices):
    APP_STORE = "app_store", _("App Store")
    GOOGLE_PLAY = "google_play", _("Google Play")
    PAYTABS = "paytabs", _("Card (PayTabs)")


#: How each state is named to people.
STATE_LABELS = {
    State.PENDING: _("Waiting for the first payment"),
    State.ACTIVE: _("Active"),
    State.GRACE: _("Payment problem: grace period"),
    State.ON_HOLD: _("On hold: the payment failed"),
    State.EXPIRED: _("Ended"),
    State.REVOKED: _("Taken back by the store"),
    State.REFUNDED: _("Refunded"),
}


class Subscription(BaseModel):
    """A patient's subscription to a plan, bought at one source. A guardian's subscription covers their
    dependants. ``state``, ``current_period_end``, ``grace_until``, ``auto_renew`` and ``as_of`` are the state
    machine's snapshot (``states.py``); only ``actions.apply`` changes them, and every change leaves an event."""

    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("subscriber")
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("plan")
    )
    source = models.CharField(_("bought through"), max_length=12, choices=Source.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=[(k.value, v) for k, v in STATE_LABELS.items()]
    )
    current_period_start = models.DateTimeField(_("period started"), null=True, blank=True)
    current_period_end = models.DateTimeField(_("paid until"), null=True, blank=True)
    grace_until = models.DateTimeField(_("grace period until"), null=True, blank=True)
    auto_renew = models.BooleanField(_("renews automatically"), default=True)
    as_of = models.DateTimeField(null=True, blank=True, help_text="When the latest event applied happened")
    #: App Store: the subscription's ``originalTransactionId``.
    original_transaction_id = models.CharField(max_length=64, blank=True)
    #: Google Play: the purchase token.
    purchase_token = models.CharField(max_length=512, blank=True)
    #: PayTabs: the saved card's token (secret: encrypted) and the first payment's ``tran_ref``.
    paytabs_token = EncryptedTextField(blank=True)
    first_tran_ref = models.CharField(max_length=64, blank=True)
    #: PayTabs: when the first period started (periods are counted from here), how many periods are paid, how
    #: many hosted pages were opened for the first payment, and the tries at charging the next period.
    anchor = models.DateTimeField(null=True, blank=True)
    paid_periods = models.PositiveIntegerField(default=0)
    page_attempts = models.PositiveIntegerField(default=0)
    renewal_tries = models.PositiveIntegerField(default=0)
    next_charge_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["original_transaction_id"],
                condition=Q(source="app_store"),
                name="subscriptions_one_per_app_store_original_transaction",
            ),
            models.UniqueConstraint(
                fields=["purchase_token"],
                condition=Q(source="google_play"),
                name="subscriptions_one_per_google_play_token",
            ),
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in State]), name="subscriptions_known_state"
            ),
            models.CheckConstraint(
                condition=~Q(state="active") | Q(current_period_end__isnull=False),
                name="subscriptions_active_has_period_end",
            ),
            models.CheckConstraint(
                condition=(Q(state="grace") & Q(grace_until__isnull=False))
                | (~Q(state="grace") & Q(grace_until__isnull=True)),
                name="subscriptions_grace_has_end",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "state"], name="subscriptions_patient_state"),
            models.Index(fields=["source", "state", "next_charge_at"], name="subscriptions_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.state}"

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(
            state=State(self.state),
            period_end=self.current_period_end,
            grace_until=self.grace_until,
            auto_renew=self.auto_renew,
            as_of=self.as_of,
        )


class Message(BaseModel):
    """A message from a source that we processed once (App Store ``notificationUUID``, Pub/Sub ``messageId``,
    a PayTabs transaction in one status): a repeat is recognised here and changes nothing."""

    source = models.CharField(max_length=12, choices=Source.choices)
    message_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=100, blank=True, help_text="Notification type (and subtype)")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    outcome = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="subscriptions_message_once")
        ]
        triggers = [KEPT]


class SubscriptionEvent(BaseModel):
    """One step of a subscription's history (append-only): what happened, the state before and after, and the
    message that caused it."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="events")
    event = models.CharField(max_length=60)
    from_state = models.CharField(max_length=10)
    to_state = models.CharField(max_length=10)
    period_end = models.DateTimeField(null=True, blank=True)
    auto_renew = models.BooleanField()
    occurred_at = models.DateTimeField()
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        triggers = [KEPT]
        indexes = [models.Index(fields=["subscription", "id"], name="subscriptions_event_history")]


class VideoVisitUse(BaseModel):
    """One included video visit taken from a subscription for an appointment (of the subscriber or a dependant);
    given back (``returned_at``) when the appointment is cancelled."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="video_visit_uses")
    appointment = models.ForeignKey("scheduling.Appointment", on_delete=models.PROTECT, related_name="+")
    used_at = models.DateTimeField()
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(returned_at__isnull=True),
                name="subscriptions_one_use_per_appointment",
            )
        ]
        indexes = [models.Index(fields=["subscription", "used_at"], name="subscriptions_uses_in_period")]


class PaymentKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")


class Payment(BaseModel):
    """The platform's ledger of subscription money (append-only): each payment and refund, positive amounts in
    exact JOD; the platform's revenue is the payments less the refunds."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(_("kind"), max_length=8, choices=PaymentKind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=3)
    currency = models.CharField(_("currency"), max_length=3, default="JOD")
    source = models.CharField(max_length=12, choices=Source.choices)
    #: The source's transaction reference (PayTabs ``tran_ref``): a transaction is recorded once.
    reference = models.CharField(max_length=100)
    period = models.PositiveIntegerField(
        null=True, blank=True, help_text="Which period it paid (1 = the first)"
    )

    class Meta:
        verbose_name = _("subscription payment")
        verbose_name_plural = _("subscription payments")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="subscriptions_payment_positive"),
            models.UniqueConstraint(fields=["source", "reference"], name="subscriptions_payment_once"),
        ]
        triggers = [KEPT]
