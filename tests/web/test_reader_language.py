"""Names, cities, zones and units on pages follow the reader's language (templatetags/shifa.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.utils import translation


def _render(source: str, language: str, **context) -> str:
    with translation.override(language):
        return Template("{% load shifa %}" + source).render(Context(context))


@pytest.mark.parametrize(("language", "shown"), [("ar", "عيادة شفاء إربد"), ("en", "Shifa Irbid Clinic")])
def test_a_thing_named_in_two_languages_shows_the_readers_name(language, shown):
    clinic = SimpleNamespace(name_ar="عيادة شفاء إربد", name_en="Shifa Irbid Clinic")
    assert _render("{{ clinic|named }}", language, clinic=clinic) == shown


def test_a_blank_name_falls_back_to_the_other_language_and_dicts_work_too():
    assert _render("{{ c|named }}", "ar", c=SimpleNamespace(name_ar="", name_en="Lab")) == "Lab"
    row = {"clinic_name_ar": "عيادة", "clinic_name_en": "Clinic"}
    assert _render('{{ row|named:"clinic_name" }}', "ar", row=row) == "عيادة"
    assert _render('{{ row|named:"clinic_name" }}', "en", row=row) == "Clinic"
    assert _render("{{ missing|named }}", "en") == ""


def test_cities_zones_and_units_follow_the_reader():
    source = "{{ city|city }} · {{ zone|zone_label }} · {{ unit|unit }}"
    values = {"city": "Irbid", "zone": "Asia/Amman", "unit": "mm[Hg]"}
    assert _render(source, "ar", **values) == "إربد · توقيت الأردن · mmHg"
    assert _render(source, "en", **values) == "Irbid · Jordan Time · mmHg"


def test_a_patient_is_greeted_by_the_name_they_gave_in_the_readers_language():
    from shifa.records.models import Patient

    patient = Patient(full_name="Ahmad Ali", full_name_ar="أحمد علي")
    assert _render("{{ p|named }}", "ar", p=patient) == "أحمد علي"
    assert _render("{{ p|named }}", "en", p=patient) == "Ahmad Ali"
    assert _render("{{ p|named }}", "ar", p=Patient(full_name="Sara Haddad")) == "Sara Haddad"


def test_lists_are_joined_with_the_readers_comma():
    assert _render("{{ names|join_list }}", "ar", names=["أطفال", "جلدية"]) == "أطفال، جلدية"
    assert (
        _render("{{ names|join_list }}", "en", names=["Paediatrics", "Dermatology"])
        == "Paediatrics, Dermatology"
    )
