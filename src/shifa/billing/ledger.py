"""What an invoice's ledger entries add up to (pure: no database)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal("0.000")


@dataclass(frozen=True)
class Totals:
    charged: Decimal = ZERO
    discounted: Decimal = ZERO
    insurer: Decimal = ZERO
    paid: Decimal = ZERO
    refunded: Decimal = ZERO

    @property
    def patient_share(self) -> Decimal:
        """What the patient owes in all: charges less discounts and the insurer's share."""
        return self.charged - self.discounted - self.insurer

    @property
    def net_paid(self) -> Decimal:
        return self.paid - self.refunded

    @property
    def due(self) -> Decimal:
        """What the patient still has to pay (negative: the clinic owes a refund)."""
        return self.patient_share - self.net_paid


FIELDS = {
    "charge": "charged",
    "discount": "discounted",
    "insurer_share": "insurer",
    "payment": "paid",
    "refund": "refunded",
}


def totals(entries: Iterable[tuple[str, Decimal]]) -> Totals:
    """The totals of (kind, amount) pairs."""
    sums = dict.fromkeys(FIELDS.values(), ZERO)
    for kind, amount in entries:
        sums[FIELDS[kind]] += amount
    return Totals(**sums)


def refusal(current: Totals, kind: str, amount: Decimal) -> str | None:
    """Why posting ``amount`` of ``kind`` would break the invoice (a code), or None when it may be posted:
    reductions never exceed the charges, payments never exceed what is due, refunds never exceed what was paid."""
    if kind in ("discount", "insurer_share") and amount > current.patient_share:
        return "exceeds_patient_share"
    if kind == "payment" and amount > current.due:
        return "exceeds_due"
    if kind == "refund" and amount > current.net_paid:
        return "exceeds_paid"
    return None
