"""Services and prices per clinic and per doctor, by visit type, in JOD to three places (CL-2)."""

from __future__ import annotations

from decimal import Decimal

from shifa.directory.models import Price, Service, VisitType
from shifa.directory.queries import price_for


def url(cast, suffix=""):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}/services{suffix}"


def consultation(cast, prices):
    return {"name_ar": "كشف عام", "name_en": "General consultation", "prices": prices}


def test_a_service_with_prices_for_every_visit_type_and_a_doctors_own(cast, api):
    doctor = cast.staff_a["doctor"]
    prices = [
        {"visit_type": "office", "amount": "20"},
        {"visit_type": "video", "amount": "15.500"},
        {"visit_type": "home", "amount": "35.250"},
        {"visit_type": "office", "amount": "25.000", "doctor_id": str(doctor.external_id)},
    ]
    created = api(cast.staff_a["clinic_admin"]).post(url(cast), consultation(cast, prices))
    assert created.status_code == 201
    body = created.json()
    assert {(p["visit_type"], p["amount"]) for p in body["prices"]} >= {
        ("office", "20.000"),
        ("video", "15.500"),
        ("home", "35.250"),
    }
    service = Service.objects.for_clinic(cast.clinic_a).get()
    assert price_for(
        clinic=cast.clinic_a, service=service, visit_type=VisitType.OFFICE, doctor=doctor
    ).amount == Decimal("25.000")
    other_doctor = cast.staff_a["assistant_doctor"]
    assert price_for(
        clinic=cast.clinic_a, service=service, visit_type="office", doctor=other_doctor
    ).amount == Decimal("20.000")
    assert api(cast.staff_a["secretary"]).get(url(cast)).json()[0]["name_en"] == "General consultation"


def test_prices_are_replaced_whole_on_change(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    service_id = admin.post(url(cast), consultation(cast, [{"visit_type": "office", "amount": "20"}])).json()[
        "id"
    ]
    changed = admin.put(
        url(cast, f"/{service_id}"), consultation(cast, [{"visit_type": "video", "amount": "12.750"}])
    )
    assert changed.status_code == 200
    assert [(p["visit_type"], p["amount"]) for p in changed.json()["prices"]] == [("video", "12.750")]
    assert Price.objects.for_clinic(cast.clinic_a).count() == 1


def test_bad_prices_are_refused_with_field_errors_and_nothing_is_written(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    cases = [
        ([{"visit_type": "office", "amount": "20.0005"}], "too_precise"),
        ([{"visit_type": "office", "amount": "-1"}], "out_of_range"),
        ([{"visit_type": "office", "amount": "twenty"}], "invalid"),
        ([{"visit_type": "teleport", "amount": "1"}], "invalid_choice"),
        ([{"visit_type": "office", "amount": "1"}, {"visit_type": "office", "amount": "2"}], "duplicate"),
        (
            [{"visit_type": "office", "amount": "1", "doctor_id": str(cast.staff_a["nurse"].external_id)}],
            "not_a_doctor",
        ),
        (
            [{"visit_type": "office", "amount": "1", "doctor_id": str(cast.doctor_b.external_id)}],
            "not_a_doctor",
        ),
    ]
    for prices, code in cases:
        response = admin.post(url(cast), consultation(cast, prices))
        assert response.status_code == 422, (prices, response.content)
        assert code in {e["code"] for e in response.json()["errors"]}, (prices, response.json())
    assert not Service.objects.for_clinic(cast.clinic_a).exists()


def test_only_the_clinics_admins_set_prices_and_only_in_their_clinic(cast, api):
    body = consultation(cast, [{"visit_type": "office", "amount": "20"}])
    for role in ("secretary", "nurse", "doctor"):
        assert api(cast.staff_a[role]).post(url(cast), body).status_code == 403
    other = f"/api/v1/clinics/{cast.clinic_b.external_id}/services"
    assert api(cast.staff_a["clinic_admin"]).post(other, body).status_code == 404
    service_id = api(cast.staff_a["clinic_admin"]).post(url(cast), body).json()["id"]
    assert api(cast.doctor_b).get(f"/api/v1/clinics/{cast.clinic_b.external_id}/services").json() == []
    other_put = f"/api/v1/clinics/{cast.clinic_b.external_id}/services/{service_id}"
    assert api(cast.general_admin).put(other_put, body).status_code == 404
