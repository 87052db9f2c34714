"""City names in the reader's language and UCUM codes as clinicians print them (core/places.py, core/units.py)."""

from __future__ import annotations

import pytest

from shifa.core import places, units


@pytest.mark.parametrize(
    ("typed", "arabic", "english"),
    [
        ("Amman", "عمّان", "Amman"),
        ("amman ", "عمّان", "Amman"),
        ("عمان", "عمّان", "Amman"),
        ("إربد", "إربد", "Irbid"),
        ("As-Salt", "السلط", "Salt"),
        ("Ma\u2019an", "معان", "Ma'an"),
    ],
)
def test_a_known_city_typed_either_way_reads_in_each_language(typed, arabic, english):
    assert places.city_name(typed, "ar") == arabic
    assert places.city_name(typed, "en") == english


def test_a_city_we_do_not_know_is_shown_as_typed():
    assert places.city_name("Umm Qais Village", "ar") == "Umm Qais Village"
    assert places.city_name("", "ar") == ""
    assert places.city_names("Nowhere") is None


def test_every_listed_spelling_names_one_city_only():
    seen: dict[str, str] = {}
    for english, arabic, others in places.CITIES:
        for name in (english, arabic, *others):
            key = places._key(name)
            assert seen.setdefault(key, english) == english, f"{name!r} names both {seen[key]} and {english}"


@pytest.mark.parametrize(
    ("code", "printed"),
    [
        ("mm[Hg]", "mmHg"),
        ("Cel", "°C"),
        ("/min", "/min"),
        ("kg/m2", "kg/m²"),
        ("10*3/uL", "10³/µL"),
        ("u[IU]/mL", "µIU/mL"),
        ("umol/L", "µmol/L"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m²"),
        ("U/g{Hb}", "U/g Hb"),
        ("mg/(24.h)", "mg/24 h"),
        ("{score}", ""),
        ("{INR}", ""),
        ("mg/dL", "mg/dL"),
        ("%", "%"),
        ("", ""),
        # free text typed with a lab result stays readable
        ("units", "units"),
        ("HbA1c", "HbA1c"),
    ],
)
def test_ucum_codes_print_as_clinicians_write_them(code, printed):
    assert units.symbol(code) == printed


def test_printing_is_stable_so_a_printed_unit_prints_the_same():
    for code in ("mm[Hg]", "Cel", "kg/m2", "10*3/uL", "umol/L", "mg/dL"):
        assert units.symbol(units.symbol(code)) == units.symbol(code)


def test_every_unit_in_the_catalogue_prints_without_ucum_syntax():
    import csv
    from pathlib import Path

    data = Path(units.__file__).resolve().parents[1] / "catalog" / "data"
    codes = {
        row["unit"]
        for name in ("vital_signs.csv", "lab_tests.csv")
        for row in csv.DictReader((data / name).open())
    }
    assert len(codes) > 20
    for code in codes:
        printed = units.symbol(code)
        assert not set(printed) & set("[]{}*"), (code, printed)


def test_units_follow_a_number_as_printed():
    assert units.after_number("/min") == "/min"
    assert units.after_number("%") == "%"
    assert units.after_number("mm[Hg]") == "\u00a0mmHg"
    assert units.after_number("{score}") == ""
