"""Family Doctor pages: the patient finds a listed doctor and asks; the doctor accepts in the clinic console; the
patient then has a link to write to them and can end it."""

from __future__ import annotations

import pytest
from django.test import Client

from shifa.access import entitlements
from shifa.family.models import FamilyDoctor
from tests.conftest import sign_in_page
from tests.family.support import listed


def browser(user, language="en") -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


@pytest.fixture
def subscribed(cast, monkeypatch):
    monkeypatch.setattr(entitlements, "has_entitlement", lambda patient, code: patient.pk == cast.patient.pk)
    return listed(cast.clinic_a, cast.staff_a["doctor"])


@pytest.mark.parametrize("language", ["en", "ar"])
def test_choose_a_doctor_who_accepts_then_write_and_end(cast, subscribed, language):
    doctor = cast.staff_a["doctor"]
    patient = browser(cast.patient_user, language)

    found = patient.get("/app/family-doctor", {"q": doctor.full_name.split()[0]})
    assert found.status_code == 200 and f'data-doctor="{doctor.external_id}"' in found.content.decode()
    asked = patient.post(
        "/app/family-doctor",
        {
            "step": "request",
            "clinic_id": cast.clinic_a.external_id,
            "doctor_id": doctor.external_id,
            "note": "Hi",
        },
    )
    assert asked.status_code == 302
    relation = FamilyDoctor.unscoped.get(patient=cast.patient)

    console = browser(doctor, language)
    queue = console.get(f"/clinic/{cast.clinic_a.external_id}/family-doctor")
    assert f'data-request="{relation.external_id}"' in queue.content.decode()
    accepted = console.post(
        f"/clinic/{cast.clinic_a.external_id}/family-doctor",
        {"step": "accept", "family_id": relation.external_id},
    )
    assert accepted.status_code == 302
    relation.refresh_from_db()
    assert relation.status == "active"
    assert f'data-family="{relation.external_id}"' in console.get(accepted["Location"]).content.decode()

    mine = patient.get("/app/family-doctor").content.decode()
    assert f"/app/messages/{relation.conversation.external_id}" in mine
    assert patient.post("/app/family-doctor", {"step": "end"}).status_code == 302
    relation.refresh_from_db()
    assert relation.status == "ended"


def test_a_patient_without_a_subscription_is_told_so(cast, monkeypatch):
    listed(cast.clinic_a, cast.staff_a["doctor"])
    patient = browser(cast.patient_user)

    shown = patient.get("/app/family-doctor").content.decode()
    refused = patient.post(
        "/app/family-doctor",
        {
            "step": "request",
            "clinic_id": cast.clinic_a.external_id,
            "doctor_id": cast.staff_a["doctor"].external_id,
        },
    )

    assert "data-not-entitled" in shown
    assert refused.status_code == 403 and not FamilyDoctor.unscoped.exists()


def test_only_doctors_open_the_family_patients_page(cast):
    assert (
        browser(cast.staff_a["secretary"])
        .get(f"/clinic/{cast.clinic_a.external_id}/family-doctor")
        .status_code
        == 403
    )
    assert (
        browser(cast.staff_a["doctor"]).get(f"/clinic/{cast.clinic_a.external_id}/family-doctor").status_code
        == 200
    )


def test_declining_from_the_console(cast, subscribed):
    patient = browser(cast.patient_user)
    patient.post(
        "/app/family-doctor",
        {
            "step": "request",
            "clinic_id": cast.clinic_a.external_id,
            "doctor_id": cast.staff_a["doctor"].external_id,
        },
    )
    relation = FamilyDoctor.unscoped.get(patient=cast.patient)

    browser(cast.staff_a["doctor"]).post(
        f"/clinic/{cast.clinic_a.external_id}/family-doctor",
        {"step": "decline", "family_id": relation.external_id, "reason": "Not taking new patients"},
    )

    assert "Not taking new patients" in patient.get("/app/family-doctor").content.decode()
