from decimal import Decimal

import pytest

from shifa.core.money import Money, MoneyError


def test_jod_has_three_places_and_rounds_half_up():
    assert Money("12.5").amount == Decimal("12.500")
    assert Money("0.0005").amount == Decimal("0.001")
    assert Money("0.0004").amount == Decimal("0.000")
    assert Money("10", "USD").amount == Decimal("10.00")


def test_float_is_refused():
    with pytest.raises(MoneyError):
        Money(1.1)
    with pytest.raises(MoneyError):
        Money("1") * 1.5


def test_arithmetic_stays_exact_and_in_one_currency():
    assert Money("0.100") + Money("0.200") == Money("0.300")
    assert Money("10.000") - Money("2.250") == Money("7.750")
    with pytest.raises(MoneyError):
        Money("1", "JOD") + Money("1", "USD")


def test_percent_and_allocate_keep_every_fils():
    total = Money("10.000")
    assert total.percent(20) == Money("2.000")
    parts = total.allocate(1, 1, 1)
    assert sum((p.amount for p in parts), Decimal(0)) == Decimal("10.000")
    assert parts == [Money("3.334"), Money("3.333"), Money("3.333")]


def test_invalid_amounts_and_currencies_are_refused():
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(MoneyError):
            Money(bad)
    with pytest.raises(MoneyError):
        Money("1", "XXX")


def test_api_shape_and_formatting():
    assert Money("12.5").as_api() == {"amount": "12.500", "currency": "JOD"}
    assert "12.500" in Money("12.5").format("en")


NBSP, RLM = "\u00a0", "\u200f"


def test_english_puts_a_no_break_space_between_a_currency_code_and_the_number():
    assert Money("12.5").format("en") == f"JOD{NBSP}12.500"  # babel alone writes "JOD12.500"
    assert Money("16000").format("en") == f"JOD{NBSP}16,000.000"
    assert Money("-3.25").format("en") == f"-JOD{NBSP}3.250"
    assert Money("12.5", "SAR").format("en") == f"SAR{NBSP}12.50"  # each currency keeps its own places
    assert Money("12.5", "KWD").format("en") == f"KWD{NBSP}12.500"
    # A sign needs no space; a pattern that already has one gets no second one.
    assert Money("12.5", "USD").format("en") == "$12.50"
    assert Money("12.5", "EUR").format("en") == "€12.50"
    assert Money("12.5").format("nl") == f"JOD{NBSP}12,500"
    assert Money("12.5").format("fr") == f"12,500{NBSP}JOD"
    assert Money("12.5").format("tr") == f"JOD{NBSP}12,500"  # another locale whose pattern is ¤#,##0.00


def test_arabic_is_written_as_in_jordan_with_its_marks():
    assert Money("16000").format("ar") == f"{RLM}16,000.000{NBSP}د.أ.{RLM}"
    assert Money("12.5", "SAR").format("ar") == f"{RLM}12.50{NBSP}ر.س.{RLM}"
    assert Money("-1").format("ar") == f"{RLM}-1.000{NBSP}د.أ.{RLM}"
