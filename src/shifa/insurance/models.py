"""Insurance (PAY-2): the insurer's share of an invoice, the insurer's pre-approval where the clinic's terms need
one, and the claims a clinic sends each insurer for the shares it is owed.

The money itself stays in the billing ledger: a coverage posts one ``insurer_share`` entry (reference
``cover-<invoice id>``) when it may, and a claim only lists those shares. See docs/decisions/0020-insurance-claims.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel


class CoverageStatus(models.TextChoices):
    POSTED = "posted", _("Insurer's share posted")
    AWAITING_APPROVAL = "awaiting_approval", _("Waiting for the insurer's approval")
    DENIED = "denied", _("Refused by the insurer")


class Coverage(TenantModel):
    """How an invoice splits between the patient and their insurer, by the clinic's terms when it was applied."""

    invoice = models.OneToOneField(
        "billing.Invoice", on_delete=models.PROTECT, related_name="coverage", verbose_name=_("invoice")
    )
    insurer = models.ForeignKey(
        "catalog.InsuranceCompany", on_delete=models.PROTECT, related_name="+", verbose_name=_("insurer")
    )
    service = models.ForeignKey(
        "directory.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("service"),
    )
    #: The patient's number on the insurer's card (member or policy number), as the insurer writes it.
    member_number = models.CharField(_("member number"), max_length=40, blank=True)
    #: The day of the visit at the clinic (the invoice's day when it has no appointment): what claims group by.
    service_date = models.DateField(_("date of service"))
    base_amount = models.DecimalField(_("amount billed"), max_digits=12, decimal_places=3)
    copay_percent = models.DecimalField(_("patient's share (%)"), max_digits=5, decimal_places=2)
    insurer_amount = models.DecimalField(_("insurer's share"), max_digits=12, decimal_places=3)
    status = models.CharField(_("status"), max_length=20, choices=CoverageStatus.choices)
    #: The ledger entry of the insurer's share once posted.
    entry = models.OneToOneField(
        "billing.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger entry"),
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("applied by"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("insurance coverage")
        verbose_name_plural = _("insurance coverages")
        constraints = [
            models.CheckConstraint(
                condition=Q(insurer_amount__gt=0) & Q(insurer_amount__lte=models.F("base_amount")),
                name="insurance_share_within_bill",
            ),
            models.CheckConstraint(
                condition=Q(copay_percent__gte=0, copay_percent__lte=100), name="insurance_copay_range"
            ),
            models.CheckConstraint(
                condition=Q(status="posted", entry__isnull=False)
                | (~Q(status="posted") & Q(entry__isnull=True)),
                name="insurance_posted_has_entry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["clinic", "insurer", "status", "service_date"], name="insurance_cov_claimable"
            )
        ]


class PreApprovalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")


class PreApproval(TenantModel):
    """The insurer's prior approval of a covered bill, where the clinic's terms with that insurer need one. Until
    it is approved the insurer's share is not posted: the patient owes the whole bill (and may pay it)."""

    coverage = models.OneToOneField(
        Coverage, on_delete=models.PROTECT, related_name="pre_approval", verbose_name=_("coverage")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=PreApprovalStatus.choices, default=PreApprovalStatus.REQUESTED
    )
    approval_number = models.CharField(_("approval number"), max_length=60, blank=True)
    #: What the insurer approved, when less than the share by the clinic's terms (empty: that share).
    approved_amount = models.DecimalField(
        _("amount approved"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    reason = models.CharField(_("reason given"), max_length=300, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    decided_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("pre-approval")
        verbose_name_plural = _("pre-approvals")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="approved") | ~Q(approval_number=""), name="insurance_approval_has_number"
            ),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True) | Q(approved_amount__gt=0),
                name="insurance_approved_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "status", "created_at"], name="insurance_preapproval_queue")
        ]


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    PAID = "paid", _("Paid")


#: The only moves a claim makes, always forward.
CLAIM_MOVES = {
    ClaimStatus.DRAFT: {ClaimStatus.SUBMITTED},
    ClaimStatus.SUBMITTED: {ClaimStatus.APPROVED, ClaimStatus.REJECTED},
    ClaimStatus.APPROVED: {ClaimStatus.PAID},
    ClaimStatus.REJECTED: set(),
    ClaimStatus.PAID: set(),
}


class ClaimCounter(TenantModel):
    """The last claim number a clinic gave in a year (taken under a row lock)."""

    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["clinic", "year"], name="insurance_one_counter_a_year")
        ]


class Claim(TenantModel):
    """A batch of insurer's shares a clinic claims from one insurer for one period of service dates."""

    insurer = models.ForeignKey(
        "catalog.InsuranceCompany", on_delete=models.PROTECT, related_name="+", verbose_name=_("insurer")
    )
    #: The clinic's own number, by year: ``2026-0012``.
    number = models.CharField(_("number"), max_length=20)
    period_start = models.DateField(_("services from"))
    period_end = models.DateField(_("services until"))
    status = models.CharField(
        _("status"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT
    )
    #: The total of the lines, fixed when the claim is submitted.
    claimed_amount = models.DecimalField(
        _("amount claimed"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    approved_amount = models.DecimalField(
        _("amount approved"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    rejection_reason = models.CharField(_("reason for rejection"), max_length=500, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=100, blank=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decided_at = models.DateTimeField(_("answered"), null=True, blank=True)
    paid_at = models.DateTimeField(_("payment recorded"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("prepared by")
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "number"], name="insurance_claim_number"),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="insurance_claim_period"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(claimed_amount__gt=0), name="insurance_claim_amount"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "paid"])
                | (Q(approved_amount__gt=0) & Q(approved_amount__lte=models.F("claimed_amount"))),
                name="insurance_claim_approved_within",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""), name="insurance_claim_rejected_why"
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | (~Q(payment_reference="") & Q(paid_on__isnull=False)),
                name="insurance_claim_paid_how",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "status", "-id"], name="insurance_claim_by_status")]

    def __str__(self) -> str:
        return self.number


class ClaimLine(TenantModel):
    """One invoice's insurer's share in a claim. A share is in at most one claim at a time (database
    constraint); a rejected claim releases its shares so that they can be claimed again."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="lines", verbose_name=_("claim"))
    coverage = models.ForeignKey(
        Coverage, on_delete=models.PROTECT, related_name="claim_lines", verbose_name=_("coverage")
    )
    amount = models.DecimalField(_("amount claimed"), max_digits=12, decimal_places=3)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("claim line")
        verbose_name_plural = _("claim lines")
        constraints = [
            models.UniqueConstraint(
                fields=["coverage"],
                condition=Q(released_at__isnull=True),
                name="insurance_share_claimed_once",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="insurance_line_positive"),
        ]
