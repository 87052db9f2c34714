"""ICD-9-CM: all 14,567 codes of CMS version 32, shown with their dot, found by code or by words (CL-6)."""

from __future__ import annotations

import pytest

from shifa.catalog.actions import icd9_load
from shifa.catalog.models import Diagnosis, display_code
from shifa.catalog.queries import diagnosis_search


@pytest.fixture(scope="module")
def icd9(django_db_setup, django_db_blocker):
    """The codes, as every database holds them (tests/conftest.py loads the reference data; loading is idempotent)."""
    with django_db_blocker.unblock():
        icd9_load()


def test_the_table_holds_every_code_once_and_loading_again_changes_nothing(db, icd9):
    assert Diagnosis.objects.count() == 14567
    assert icd9_load() == {"created": 0, "updated": 0, "total": 14567}


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("0010", "001.0"),
        ("25000", "250.00"),
        ("V1043", "V10.43"),
        ("E8000", "E800.0"),
        ("042", "042"),
        ("V01", "V01"),
    ],
)
def test_codes_are_shown_with_their_dot(code, shown):
    assert display_code(code) == shown


def test_diabetes_ranks_250_first(db, icd9):
    results = diagnosis_search("diabetes")
    assert results[0].display_code == "250.00"
    assert all(r.display_code.startswith("250.") for r in results[:10])


def test_a_misspelt_word_still_finds_essential_hypertension(db, icd9):
    codes = [r.display_code for r in diagnosis_search("hypertnsion")]
    assert {"401.0", "401.1", "401.9"} <= set(codes[:10]), codes


def test_search_by_code_prefix_with_or_without_the_dot(db, icd9):
    assert [r.display_code for r in diagnosis_search("250.0")][:4] == ["250.00", "250.01", "250.02", "250.03"]
    assert diagnosis_search("2500")[0].display_code == "250.00"
    assert diagnosis_search("v10.4")[0].display_code.startswith("V10.4")
    assert diagnosis_search("E800")[0].display_code == "E800.0"


def test_several_words_must_all_match_and_nonsense_finds_nothing(db, icd9):
    results = diagnosis_search("diabetes ketoacidosis")
    assert results and all("ketoacidosis" in r.title.lower() for r in results)
    assert diagnosis_search("zzzqqq") == []
    assert diagnosis_search("   ") == []


def test_staff_search_through_the_api_and_patients_cannot(cast, api, icd9):
    found = api(cast.staff_a["doctor"]).get("/api/v1/reference/diagnoses?q=diabetes&limit=3").json()
    assert found[0]["code"] == "250.00" and len(found) == 3
    assert api(cast.staff_a["doctor"]).get("/api/v1/reference/diagnoses?q=").status_code == 422
    assert api(cast.patient_user).get("/api/v1/reference/diagnoses?q=diabetes").status_code == 403
