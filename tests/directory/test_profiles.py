"""Doctor profiles: specialties from the platform list, languages, gender, bio in both languages, consultation
length per visit type offered, on duty for urgent video (CL-5)."""

from __future__ import annotations

import pytest

from shifa.catalog.actions import reference_list_load
from shifa.catalog.models import Specialty


@pytest.fixture
def specialties(db):
    reference_list_load("specialties")


def url(cast, doctor):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}/doctors/{doctor.external_id}/profile"


PROFILE = {
    "gender": "female",
    "specialties": ["pediatrics", "neonatology"],
    "qualifications": "MD, Jordan University; Jordanian Board of Pediatrics",
    "languages": ["ar", "en"],
    "bio_ar": "طبيبة أطفال بخبرة عشر سنوات.",
    "bio_en": "Pediatrician with ten years of practice.",
    "minutes": {"office": 20, "video": 15},
    "on_duty": True,
}


def test_the_specialty_list_is_in_both_languages(specialties):
    assert Specialty.objects.get(code="pediatrics").name_ar == "طب الأطفال"
    assert reference_list_load("specialties")["created"] == 0


def test_a_profile_lists_what_the_doctor_offers(cast, api, specialties):
    saved = api(cast.staff_a["clinic_admin"]).put(url(cast, cast.staff_a["doctor"]), PROFILE)
    assert saved.status_code == 200
    body = saved.json()
    assert body["specialties"] == ["neonatology", "pediatrics"] and body["visit_types"] == ["office", "video"]
    again = api(cast.staff_a["clinic_admin"]).put(
        url(cast, cast.staff_a["doctor"]), {**PROFILE, "minutes": {"home": 45}, "on_duty": False}
    )
    assert again.json()["visit_types"] == ["home"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"specialties": ["astrology"]}, "specialties"),
        ({"specialties": []}, "specialties"),
        ({"languages": ["klingon"]}, "languages"),
        ({"gender": "other"}, "gender"),
        ({"minutes": {"office": 2}}, "minutes.office"),
        ({"minutes": {}}, "minutes"),
        ({"minutes": {"office": 20}, "on_duty": True}, "on_duty"),
    ],
)
def test_bad_profiles_are_refused(cast, api, specialties, change, field):
    response = api(cast.staff_a["clinic_admin"]).put(url(cast, cast.staff_a["doctor"]), {**PROFILE, **change})
    assert response.status_code == 422 and field in {e["field"] for e in response.json()["errors"]}


def test_only_doctors_of_the_clinic_have_profiles_and_only_admins_write_them(cast, api, specialties):
    admin = api(cast.staff_a["clinic_admin"])
    assert admin.put(url(cast, cast.staff_a["nurse"]), PROFILE).json()["errors"][0]["field"] == "doctor"
    assert admin.put(url(cast, cast.doctor_b), PROFILE).status_code == 422
    assert api(cast.staff_a["doctor"]).put(url(cast, cast.staff_a["doctor"]), PROFILE).status_code == 403


def test_the_clinic_profile_with_address_location_languages_and_facilities(cast, api):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/profile"
    body = {
        "address_ar": "شارع مكة، عمّان",
        "address_en": "Mecca Street, Amman",
        "latitude": 31.9707,
        "longitude": 35.8475,
        "phone": "06 555 1234",
        "languages": ["ar", "en"],
        "facilities": ["parking", "wheelchair"],
    }
    saved = api(cast.staff_a["clinic_admin"]).put(url, body)
    assert saved.status_code == 200 and saved.json()["phone"] == "+96265551234"
    assert saved.json()["facilities"] == ["parking", "wheelchair"]
    for change, field in [
        ({"latitude": 95}, "latitude"),
        ({"facilities": ["helipad"]}, "facilities"),
        ({"address_en": " "}, "address_en"),
    ]:
        response = api(cast.staff_a["clinic_admin"]).put(url, {**body, **change})
        assert response.status_code == 422 and field in {e["field"] for e in response.json()["errors"]}
    assert api(cast.staff_a["secretary"]).put(url, body).status_code == 403
