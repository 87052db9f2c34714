"""The reference lists shipped with Shifa (CL-6): complete enough to work with, named in Arabic and English,
coded to the standards the integrations use (LOINC, UCUM, ATC, CVX), loaded idempotently."""

from __future__ import annotations

import re

import pytest

from shifa.catalog.actions import SHIPPED_LISTS, reference_list_load, vaccine_schedule_load
from shifa.catalog.models import DosageForm, LabTest, Medication, Vaccine, VaccineDose, VitalSignType

ARABIC = re.compile(r"[\u0600-\u06FF]")


def loinc_check_digit_ok(code: str) -> bool:
    """LOINC's check digit is the Luhn (mod 10) digit of the number before the dash."""
    number, check = code.split("-")
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10 == int(check)


@pytest.fixture
def shipped(db):
    for name in SHIPPED_LISTS:
        reference_list_load(name)
    vaccine_schedule_load()


def test_every_list_loads_and_loading_again_adds_nothing(shipped):
    for name in SHIPPED_LISTS:
        assert reference_list_load(name)["created"] == 0, name
    assert vaccine_schedule_load()["created"] == 0


def test_every_entry_is_named_in_arabic_and_english(shipped):
    for model in SHIPPED_LISTS.values():
        for entry in model.objects.all():
            assert entry.name_en.strip(), entry.code
            assert ARABIC.search(entry.name_ar), (model.__name__, entry.code)


def test_at_least_two_hundred_generics_with_their_forms_and_strengths(shipped):
    assert Medication.objects.count() >= 200
    for medication in Medication.objects.all():
        medication.full_clean()  # forms known, strengths given, ATC well formed
        assert set(medication.forms) <= set(DosageForm.values)
    paracetamol = Medication.objects.get(code="paracetamol")
    assert paracetamol.atc_code == "N02BE01" and "500 mg" in paracetamol.strengths
    assert Medication.objects.filter(code="metformin", forms__contains=["tablet"]).exists()


def test_vital_signs_carry_the_loinc_codes_and_ucum_units_hakeem_expects(shipped):
    expected = {
        "8480-6": "mm[Hg]",
        "8462-4": "mm[Hg]",
        "8867-4": "/min",
        "8310-5": "Cel",
        "59408-5": "%",
        "9279-1": "/min",
        "29463-7": "kg",
        "8302-2": "cm",
        "39156-5": "kg/m2",
        "2339-0": "mg/dL",
        "41653-7": "mg/dL",
    }
    units = dict(VitalSignType.objects.values_list("code", "unit"))
    for code, unit in expected.items():
        assert units[code] == unit, code
    for vital in VitalSignType.objects.all():
        vital.full_clean()  # normal range ordered and inside the accepted bounds
        assert loinc_check_digit_ok(vital.code), vital.code


def test_lab_tests_are_loinc_coded(shipped):
    assert LabTest.objects.count() >= 90
    for test in LabTest.objects.all():
        assert loinc_check_digit_ok(test.code), test.code
        test.full_clean()
    assert "HbA1c" in LabTest.objects.get(code="4548-4").name_en


def test_the_national_schedule_gives_each_child_dose_an_age(shipped):
    doses = VaccineDose.objects.select_related("vaccine")
    assert doses.count() >= 15
    assert doses.filter(age_days=0).exists()  # at birth
    for vaccine in Vaccine.objects.filter(schedule__isnull=False).distinct():
        ages = list(vaccine.schedule.order_by("dose").values_list("age_days", flat=True))
        assert ages == sorted(ages), vaccine.code
    for dose in doses:
        assert ARABIC.search(dose.label_ar)
