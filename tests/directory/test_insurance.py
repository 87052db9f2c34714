"""Insurance partners: which insurers from the platform list the clinic accepts, on what terms (CL-4)."""

from __future__ import annotations

import pytest

from shifa.catalog.actions import reference_list_load
from shifa.catalog.models import InsuranceCompany
from shifa.directory.models import InsurancePartner


@pytest.fixture
def insurers(db):
    reference_list_load("insurers")


def url(cast):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}/insurance-partners"


def test_the_platform_list_holds_jordans_insurers_in_both_languages(insurers):
    jic = InsuranceCompany.objects.get(code="jic")
    assert jic.name_ar == "شركة التأمين الأردنية" and jic.kind == "insurer"
    assert InsuranceCompany.objects.filter(kind="tpa").exists()
    assert reference_list_load("insurers")["created"] == 0


def test_a_clinic_accepts_an_insurer_with_copay_covered_services_and_pre_approval(cast, api, insurers):
    admin = api(cast.staff_a["clinic_admin"])
    service = admin.post(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/services",
        {"name_ar": "كشف", "name_en": "Consultation", "prices": [{"visit_type": "office", "amount": "20"}]},
    ).json()
    body = {
        "insurer": "jic",
        "copay_percent": "20",
        "covered_services": [service["id"]],
        "pre_approval_required": True,
    }
    saved = admin.put(url(cast), body)
    assert saved.status_code == 200
    assert saved.json()["copay_percent"] == "20.00" and saved.json()["covered_services"] == [service["id"]]
    changed = admin.put(url(cast), {**body, "copay_percent": "12.5", "covered_services": []})
    assert changed.json()["copay_percent"] == "12.50" and changed.json()["covered_services"] == []
    assert InsurancePartner.objects.for_clinic(cast.clinic_a).count() == 1
    assert (
        api(cast.staff_a["secretary"]).get(url(cast)).json()[0]["insurer_name_ar"] == "شركة التأمين الأردنية"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"insurer": "nobody", "copay_percent": "20"}, "insurer"),
        ({"insurer": "jic", "copay_percent": "120"}, "copay_percent"),
        ({"insurer": "jic", "copay_percent": "-5"}, "copay_percent"),
        ({"insurer": "jic", "copay_percent": "10.125"}, "copay_percent"),
        (
            {
                "insurer": "jic",
                "copay_percent": "20",
                "covered_services": ["00000000-0000-0000-0000-000000000000"],
            },
            "covered_services",
        ),
    ],
)
def test_bad_terms_are_refused(cast, api, insurers, body, field):
    response = api(cast.staff_a["clinic_admin"]).put(url(cast), body)
    assert response.status_code == 422 and field in {e["field"] for e in response.json()["errors"]}
    assert not InsurancePartner.objects.for_clinic(cast.clinic_a).exists()


def test_another_clinics_services_cannot_be_covered_and_others_cannot_change_terms(cast, api, insurers):
    theirs = api(cast.general_admin)  # owns clinic A only
    body = {"insurer": "jic", "copay_percent": "20"}
    assert (
        theirs.put(f"/api/v1/clinics/{cast.clinic_b.external_id}/insurance-partners", body).status_code == 404
    )
    assert api(cast.staff_a["nurse"]).put(url(cast), body).status_code == 403
