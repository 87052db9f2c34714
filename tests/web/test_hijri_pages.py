"""The patient sees the Hijri date beside the Gregorian one on their appointments, in Arabic and English (ADR 0026)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils.html import escape

from shifa.core import timezones
from shifa.core.calendars import hijri
from shifa.directory.actions import listings_refresh
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking

AMMAN = "Asia/Amman"


@pytest.fixture
def clinic(cast):
    clinic = open_for_booking(cast)
    listings_refresh(clinic_pk=clinic.pk)
    return clinic


def browser(user, language: str) -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def test_the_appointments_show_the_hijri_date_of_the_local_day(cast, clinic):
    day = timezones.to_local(timezones.now(), AMMAN).date() + dt.timedelta(days=2)
    starts = timezones.local_datetime(day, dt.time(10, 0), AMMAN)
    patient = browser(cast.patient_user, "en")
    held = patient.post(
        "/app/book",
        {
            "clinic": str(clinic.external_id),
            "doctor": str(clinic.doctor.external_id),
            "visit_type": "office",
            "starts_at": timezones.isoformat_z(starts),
        },
    )
    assert held.status_code == 302
    english, arabic = hijri(day, "en"), hijri(day, "ar")
    assert english and arabic and english.endswith(" AH") and arabic.endswith(" هـ")

    confirmation = patient.get(held["Location"]).content.decode()
    assert "Confirm your appointment" in confirmation
    assert f'<bdi class="hijri" lang="en">{escape(english)}</bdi>' in confirmation

    listing = patient.get("/app/appointments").content.decode()
    assert f'(<bdi class="hijri" lang="en">{escape(english)}</bdi>)' in listing

    listing_ar = browser(cast.patient_user, "ar").get("/app/appointments").content.decode()
    assert 'dir="rtl"' in listing_ar
    assert f'(<bdi class="hijri" lang="ar">{arabic}</bdi>)' in listing_ar
