"""Exact money: ``Decimal`` amounts quantized to the currency's minor unit (JOD has three places).

Never float. Rounding is half-up, as Jordanian invoices are written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol

DEFAULT_CURRENCY = "JOD"
SUPPORTED_CURRENCIES = frozenset({"JOD", "USD", "EUR", "SAR", "AED", "EGP", "KWD", "BHD", "OMR", "QAR"})


#: Put between a currency written in letters and the number it touches (CLDR's ``currencySpacing``).
NO_BREAK_SPACE = "\u00a0"


class MoneyError(ValueError):
    """An amount or currency that is not valid money."""


def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


def _babel_locale(language: str) -> str:
    """Arabic money as written in Jordan (``د.أ.``); other languages as they are."""
    return {"ar": "ar_JO"}.get(language, language)


def _lettered(char: str) -> bool:
    """Whether a currency's edge character asks for a space from a digit: CLDR's ``[[:^S:]&[:^Z:]]``, i.e. a
    letter or mark (``JOD``, ``د.أ``), not a sign such as ``$`` or ``€``, nor a space already there."""
    return not unicodedata.category(char).startswith(("S", "Z"))


def _digit(text: str, index: int) -> bool:
    return 0 <= index < len(text) and unicodedata.category(text[index]) == "Nd"


def _spaced(text: str, symbol: str) -> str:
    """``text`` with a no-break space wherever ``symbol`` written in letters touches a digit: babel's patterns
    (``¤#,##0.00`` in English) leave ``JOD12.500`` joined, where CLDR's currency spacing writes ``JOD 12.500``."""
    start = text.find(symbol) if symbol else -1
    if start < 0:
        return text
    end = start + len(symbol)
    after = NO_BREAK_SPACE if _digit(text, end) and _lettered(symbol[-1]) else ""
    before = NO_BREAK_SPACE if _digit(text, start - 1) and _lettered(symbol[0]) else ""
    return text[:start] + before + symbol + after + text[end:]


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
        """The amount with its currency as ``locale`` writes money, to the currency's own places: ``JOD 12.500``
        and ``SAR 12.50`` in English (a no-break space between a currency code and the number),
        ``12.500 د.أ.`` in Arabic (Jordan's symbol; between the right-to-left marks of its pattern)."""
        babel_locale = _babel_locale(locale)
        text = format_currency(self.amount, self.currency, locale=babel_locale)
        return _spaced(text, get_currency_symbol(self.currency, babel_locale))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
