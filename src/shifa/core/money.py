"""Exact money: ``Decimal`` amounts quantized to the currency's minor unit (JOD has three places).

Never float. Rounding is half-up, as Jordanian invoices are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

DEFAULT_CURRENCY = "JOD"
SUPPORTED_CURRENCIES = frozenset({"JOD", "USD", "EUR", "SAR", "AED", "EGP", "KWD", "BHD", "OMR", "QAR"})


class MoneyError(ValueError):
    """An amount or currency that is not valid money."""


def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if self.currency not in SUPPORTED_CURRENCIES:
            raise MoneyError(f"unsupported currency {self.currency!r}")
        if isinstance(self.amount, float):
            raise MoneyError("money is never a float; pass a Decimal or a string")
        try:
            amount = Decimal(self.amount)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise MoneyError(f"not an amount: {self.amount!r}") from exc
        if not amount.is_finite():
            raise MoneyError("amount must be finite")
        object.__setattr__(self, "amount", amount.quantize(_exponent(self.currency), rounding=ROUND_HALF_UP))

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("money only combines with money")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise MoneyError("multiply money by a Decimal or an int, never a float")
        return Money(self.amount * Decimal(factor), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def percent(self, rate: Decimal | int) -> Money:
        """``rate`` percent of this amount, rounded half-up to the minor unit."""
        return self * (Decimal(rate) / Decimal(100))

    def allocate(self, *ratios: int) -> list[Money]:
        """Split into parts proportional to ``ratios`` whose sum is exactly this amount."""
        if not ratios or any(r < 0 for r in ratios) or sum(ratios) == 0:
            raise MoneyError("ratios must be non-negative and not all zero")
        unit = _exponent(self.currency)
        units = int(self.amount / unit)
        total = sum(ratios)
        parts = [units * r // total for r in ratios]
        for i in range(units - sum(parts)):
            parts[i % len(parts)] += 1
        return [Money(Decimal(p) * unit, self.currency) for p in parts]

    def as_api(self) -> dict[str, str]:
        """The API shape: ``{"amount": "12.500", "currency": "JOD"}``."""
        return {"amount": str(self.amount), "currency": self.currency}

    def format(self, locale: str = "en") -> str:
        return format_currency(self.amount, self.currency, locale={"ar": "ar_JO"}.get(locale, locale))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
