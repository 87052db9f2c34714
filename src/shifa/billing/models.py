"""Money of a clinic (PAY-4): invoices and the append-only ledger of every movement on them.

An invoice is a numbered header; what it costs, what the insurer covers, what was paid and refunded are ledger
entries. Neither is ever changed or deleted (database triggers refuse it): a mistake is corrected by a new entry.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel

KEPT = pgtrigger.Protect(name="kept", operation=pgtrigger.Update | pgtrigger.Delete)


class Invoice(TenantModel):
    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("appointment"),
    )
    #: The clinic's own number, by year: ``2026-000123``.
    number = models.CharField(_("number"), max_length=20)
    currency = models.CharField(_("currency"), max_length=3, default="JOD")
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("issued by")
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [models.UniqueConstraint(fields=["clinic", "number"], name="billing_invoice_number")]
        triggers = [KEPT]


class InvoiceCounter(TenantModel):
    """The last invoice number a clinic gave in a year (taken under a row lock)."""

    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["clinic", "year"], name="billing_one_counter_a_year")]


class EntryKind(models.TextChoices):
    CHARGE = "charge", _("Charge")
    DISCOUNT = "discount", _("Discount")
    INSURER_SHARE = "insurer_share", _("Insurer's share")
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")


class Method(models.TextChoices):
    NONE = "", _("Not a payment")
    CASH = "cash", _("Cash")
    CARD = "card", _("Card at the desk")
    ONLINE = "online", _("Online")
    PLAN = "plan", _("Included in the patient's plan")


class LedgerEntry(TenantModel):
    """One movement of money on an invoice, always a positive amount; its kind says which way it counts."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=3)
    method = models.CharField(_("method"), max_length=8, choices=Method.choices, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    #: An outside reference that makes posting idempotent (a payment gateway's transaction, a receipt number).
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_entry_positive"),
            models.CheckConstraint(
                condition=Q(kind__in=["payment", "refund"]) | Q(method=""), name="billing_method_of_payments"
            ),
            models.UniqueConstraint(
                fields=["clinic", "reference"], condition=~Q(reference=""), name="billing_reference_once"
            ),
        ]
        indexes = [models.Index(fields=["invoice", "id"], name="billing_entry_invoice")]
        triggers = [KEPT]


class PaymentKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")


class PaymentStatus(models.TextChoices):
    STARTED = "started", _("Started")
    PAGE = "page", _("Payment page open")
    PENDING = "pending", _("Pending")
    AUTHORISED = "authorised", _("Paid")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    FAILED = "failed", _("Failed")


#: Where nothing more will happen to an online payment (a sale once authorised stays authorised).
PAYMENT_FINAL = (
    PaymentStatus.AUTHORISED,
    PaymentStatus.DECLINED,
    PaymentStatus.CANCELLED,
    PaymentStatus.EXPIRED,
    PaymentStatus.FAILED,
)


class OnlinePayment(TenantModel):
    """A payment (or refund) of an invoice through PayTabs: its cart, its transaction and what PayTabs last said.

    Money counts only once the ledger has its entry: an authorised sale posts a payment whose reference is the
    transaction, so that however often and in whatever order PayTabs reports it, it is credited once.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="online_payments")
    kind = models.CharField(_("kind"), max_length=8, choices=PaymentKind.choices, default=PaymentKind.PAYMENT)
    #: Our cart id: ``inv-<invoice>-<n>`` (a refund's ends ``-r<n>``); PayTabs refuses a cart id twice.
    cart_id = models.CharField(_("cart"), max_length=64, unique=True)
    tran_ref = models.CharField(_("transaction"), max_length=64, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=3)
    status = models.CharField(
        _("status"), max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.STARTED
    )
    response_code = models.CharField(_("gateway code"), max_length=16, blank=True)
    response_message = models.CharField(_("gateway message"), max_length=200, blank=True)
    redirect_url = models.URLField(_("payment page"), max_length=500, blank=True)
    page_expires_at = models.DateTimeField(_("page expires"), null=True, blank=True)
    refund_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("refund of"),
    )
    entry = models.OneToOneField(
        LedgerEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("entry"),
    )
    #: A sale that came after its appointment's time was lost is given back in full.
    refund_due = models.BooleanField(_("to be refunded"), default=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("started by"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("online payment")
        verbose_name_plural = _("online payments")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_online_positive"),
            models.UniqueConstraint(
                fields=["tran_ref"], condition=~Q(tran_ref=""), name="billing_online_tran_ref_once"
            ),
            models.CheckConstraint(
                condition=Q(kind="payment", refund_of__isnull=True)
                | Q(kind="refund", refund_of__isnull=False),
                name="billing_refund_names_its_payment",
            ),
        ]
        indexes = [models.Index(fields=["status", "page_expires_at"], name="billing_online_open")]
