"""The one rule for what an insurer pays of a clinic's bill (CL-4, PAY-2): used by the estimate a patient sees
before booking (``queries.estimate``) and by the insurer's share posted on an invoice (``shifa.insurance``).

* The clinic must accept the insurer (an active partnership with an active insurer).
* The service must be covered: a partnership that lists no services covers them all; a bill that names no
  service is covered only by such a partnership.
* The patient pays the co-pay percentage of the amount, rounded half up to the fils; the insurer the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

FILS = Decimal("0.001")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Terms:
    """What the clinic's partnership with an insurer says about one service."""

    partner: object  # directory.InsurancePartner
    covered: bool

    @property
    def insurer(self):
        return self.partner.insurer

    @property
    def copay_percent(self) -> Decimal:
        return self.partner.copay_percent

    @property
    def pre_approval_required(self) -> bool:
        return self.partner.pre_approval_required


def partner_for(*, clinic, insurer_code: str | None = None, insurer=None):
    """The clinic's active partnership with the insurer (by code or instance), or None."""
    from .models import InsurancePartner

    if not insurer_code and insurer is None:
        return None
    qs = (
        InsurancePartner.objects.for_clinic(clinic)
        .select_related("insurer")
        .prefetch_related("covered_services")
        .filter(is_active=True, insurer__is_active=True)
    )
    qs = qs.filter(insurer=insurer) if insurer is not None else qs.filter(insurer__code=insurer_code)
    return qs.first()


def terms_for(*, clinic, service=None, insurer_code: str | None = None, insurer=None) -> Terms | None:
    """The terms for ``service`` (None: a bill naming no service) with the clinic's partner, or None when the
    clinic does not accept that insurer."""
    partner = partner_for(clinic=clinic, insurer_code=insurer_code, insurer=insurer)
    if partner is None:
        return None
    listed = list(partner.covered_services.all())
    covered = not listed or (service is not None and service in listed)
    return Terms(partner=partner, covered=covered)


def split(amount: Decimal, copay_percent: Decimal) -> tuple[Decimal, Decimal]:
    """(patient's share, insurer's share) of ``amount`` JOD at ``copay_percent``: exact, and adding up."""
    patient = (amount * copay_percent / HUNDRED).quantize(FILS, ROUND_HALF_UP)
    return patient, amount - patient
