"""Clinic and staff reads: shapes, filters, pagination and a bounded number of queries."""

from __future__ import annotations

from shifa.access.models import Role
from tests.factories import ClinicFactory, MembershipFactory


def test_clinic_profile_is_bilingual(cast, api):
    body = api(cast.staff_a["nurse"]).get(f"/api/v1/clinics/{cast.clinic_a.external_id}").json()
    assert body["id"] == str(cast.clinic_a.external_id)
    assert body["name"] == {"ar": "عيادة أ", "en": "Clinic A"}
    assert body["zone"] == "Asia/Amman"
    assert "pk" not in body and "institution_id" not in body


def test_members_page_through_with_a_cursor(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    base = f"/api/v1/clinics/{cast.clinic_a.external_id}/members"
    first = admin.get(f"{base}?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [m["id"] for m in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = admin.get(f"{base}?limit=2&cursor={cursor}").json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == len(cast.staff_a)


def test_members_filter_by_role(cast, api):
    body = api(cast.staff_a["clinic_admin"]).get(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/members?role=nurse"
    )
    assert [m["user"]["email"] for m in body.json()["items"]] == [cast.staff_a["nurse"].email]


def test_member_list_query_count_does_not_grow_with_rows(cast, api, django_assert_max_num_queries):
    doctor = Role.objects.get(code="doctor")
    for _ in range(20):
        MembershipFactory(clinic=cast.clinic_a, role=doctor)
    admin = api(cast.staff_a["clinic_admin"])
    admin.token()
    with django_assert_max_num_queries(8):
        response = admin.get(f"/api/v1/clinics/{cast.clinic_a.external_id}/members?limit=50")
    assert len(response.json()["items"]) == 25


def test_platform_clinic_list_query_count(cast, api, django_assert_max_num_queries):
    for _ in range(15):
        ClinicFactory()
    client = api(cast.platform_admin)
    client.token()
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/platform/clinics?limit=100&status=active")
    assert len(response.json()["items"]) == 17


def test_roles_and_audit_lists_are_bounded(cast, api, django_assert_max_num_queries):
    admin = api(cast.staff_a["clinic_admin"])
    admin.token()
    with django_assert_max_num_queries(8):
        admin.get(f"/api/v1/clinics/{cast.clinic_a.external_id}/roles")
    platform = api(cast.platform_admin)
    platform.token()
    # The audit page resolves public ids with one query per referenced model, never per row.
    with django_assert_max_num_queries(16):
        platform.get("/api/v1/platform/audit-events?limit=200")
