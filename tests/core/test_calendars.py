"""The Hijri (Umm al-Qura) date shown beside the Gregorian one (ADR 0026), and the template filter that shows it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.utils import translation

from shifa.core.calendars import hijri, hijri_language


@pytest.mark.parametrize(
    "day, english, arabic",
    [
        (dt.date(2024, 3, 11), "1 Ramadan 1445 AH", "1 رمضان 1445 هـ"),  # Ramadan 1445 began on 11 March 2024
        (dt.date(2024, 4, 10), "1 Shawwal 1445 AH", "1 شوال 1445 هـ"),  # Eid al-Fitr 1445
        (dt.date(2025, 6, 26), "1 Muharram 1447 AH", "1 محرم 1447 هـ"),  # Hijri new year 1447
        (dt.date(2026, 11, 26), "16 Jumada al-Akhirah 1448 AH", "16 جمادى الآخرة 1448 هـ"),
    ],
)
def test_known_days_in_both_languages(day, english, arabic):
    assert hijri(day, "en") == english
    assert hijri(day, "ar") == arabic


def test_the_day_before_a_month_is_the_last_of_the_previous_one():
    # Sha'ban 1445 began on 11 February 2024 and had 29 days in Umm al-Qura.
    assert hijri(dt.date(2024, 2, 11), "en") == "1 Sha'ban 1445 AH"
    assert hijri(dt.date(2024, 3, 10), "en") == "29 Sha'ban 1445 AH"


def test_digits_are_western_in_arabic_as_in_the_rest_of_the_arabic_pages():
    text = hijri(dt.date(2026, 11, 26), "ar")
    assert "1448" in text and not any("\u0660" <= c <= "\u0669" for c in text)


def test_outside_the_umm_al_qura_range_there_is_no_hijri_date():
    assert hijri(dt.date(1924, 8, 1), "en") == "1 Muharram 1343 AH"
    assert hijri(dt.date(2077, 11, 16), "en") == "30 Dhu al-Hijjah 1500 AH"
    assert hijri(dt.date(1924, 7, 31), "en") == ""
    assert hijri(dt.date(2077, 11, 17), "ar") == ""
    assert hijri(dt.date(1, 1, 1), "ar") == ""


def test_regional_and_unknown_languages():
    assert hijri_language("ar-jo") == "ar" and hijri_language("en-us") == "en"
    assert hijri_language("fr") == "en" and hijri_language(None) == "en"
    assert hijri(dt.date(2024, 3, 11), "AR-JO") == "1 رمضان 1445 هـ"


def test_a_datetime_counts_by_its_own_date():
    assert hijri(dt.datetime(2024, 3, 11, 23, 30), "en") == "1 Ramadan 1445 AH"


def _render(value, language: str, zone: str = "") -> str:
    source = "{% load shifa %}{{ value|hijri" + (f':"{zone}"' if zone else "") + " }}"
    with translation.override(language):
        return Template(source).render(Context({"value": value}))


def test_the_filter_wraps_the_date_for_bidi_and_screen_readers():
    assert _render(dt.date(2024, 3, 11), "ar") == '<bdi class="hijri" lang="ar">1 رمضان 1445 هـ</bdi>'
    assert _render(dt.date(2024, 3, 11), "en") == '<bdi class="hijri" lang="en">1 Ramadan 1445 AH</bdi>'


def test_the_filter_puts_an_aware_time_on_the_local_clock_first():
    # 22:30 UTC on 10 March 2024 is 01:30 on 11 March in Amman (UTC+3 all year since 2022): 1 Ramadan there.
    late = dt.datetime(2024, 3, 10, 22, 30, tzinfo=dt.UTC)
    assert "1 Ramadan 1445" in _render(late, "en", "Asia/Amman")
    assert "1 Ramadan 1445" in _render(late, "en")  # the clinic default zone is Amman
    assert "29 Sha&#x27;ban 1445" in _render(late, "en", "UTC")
    # A wall-clock (naive) datetime, as the views hand to templates, is already local.
    assert "29 Sha&#x27;ban 1445" in _render(dt.datetime(2024, 3, 10, 23, 59), "en")


def test_the_filter_is_empty_for_nothing_and_out_of_range():
    assert _render(None, "en") == ""
    assert _render("", "ar") == ""
    assert _render(dt.date(1900, 1, 1), "ar") == ""
