"""What the PayTabs simulator remembers: the transactions it was asked for and the callbacks it owes.

These are PayTabs' records, not a clinic's: no ``clinic_id``. Amounts are exact JOD (three decimals).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from shifa.core.models import BaseModel


class Status(models.TextChoices):
    """``payment_result.response_status``, plus the state of a page nobody has acted on yet."""

    PAGE = "page", "pending page"
    AUTHORISED = "A", "authorised"
    ON_HOLD = "H", "on hold"
    PENDING = "P", "pending"
    VOIDED = "V", "voided"
    ERROR = "E", "error"
    DECLINED = "D", "declined"
    EXPIRED = "X", "expired"
    CANCELLED = "C", "cancelled"


class SimTransaction(BaseModel):
    tran_ref = models.CharField(max_length=32, unique=True)
    profile_id = models.BigIntegerField()
    cart_id = models.CharField(max_length=64)
    #: ``sale``, ``auth`` or ``refund``.
    tran_type = models.CharField(max_length=8)
    #: ``ecom`` or ``recurring``.
    tran_class = models.CharField(max_length=10)
    amount = models.DecimalField(max_digits=12, decimal_places=3)
    currency = models.CharField(max_length=3, default="JOD")
    description = models.CharField(max_length=128)
    callback_url = models.CharField(max_length=500, blank=True)
    return_url = models.CharField(max_length=500, blank=True)
    customer_details = models.JSONField(default=dict, blank=True)
    user_defined = models.JSONField(default=dict, blank=True)
    #: ``en`` or ``ar``: the language of the hosted page.
    language = models.CharField(max_length=2, default="en")
    tokenise = models.BooleanField(default=False)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.PAGE)
    response_code = models.CharField(max_length=16, blank=True)
    response_message = models.CharField(max_length=100, blank=True)
    acquirer_rrn = models.CharField(max_length=16, blank=True)
    #: A saved card: made on approval of a tokenised page, repeated on its recurring payments.
    token = models.CharField(max_length=64, blank=True, db_index=True)
    #: The card as PayTabs describes it (``Visa``, ``4111 11## #### 1111``); the number itself is never kept.
    card_scheme = models.CharField(max_length=20, blank=True)
    payment_description = models.CharField(max_length=32, blank=True)
    #: A refund's sale, or a recurring payment's first (tokenised) sale.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    #: When the hosted page stops taking a choice (only pages have one).
    expires_at = models.DateTimeField(null=True, blank=True)
    #: When the outcome was decided (``payment_result.transaction_time``).
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # "cart_id … unique per payment — a repeat gets Duplicate Request" (refunds name their sale's cart).
            models.UniqueConstraint(
                fields=["profile_id", "cart_id"],
                condition=Q(tran_type__in=["sale", "auth"]),
                name="sim_paytabs_one_payment_per_cart",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="sim_paytabs_page_expiry")]

    def __str__(self) -> str:
        return self.tran_ref


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"


class SimDelivery(BaseModel):
    """One callback (IPN) owed to the merchant: the body is fixed when the event happens and signed when sent;
    it is sent again until the merchant answers HTTP 200, at most ``MAX_ATTEMPTS`` times."""

    transaction = models.ForeignKey(SimTransaction, on_delete=models.PROTECT, related_name="deliveries")
    url = models.CharField(max_length=500)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.transaction_id} → {self.url}"
