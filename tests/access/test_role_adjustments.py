"""ID-3: a clinic admin adjusts a role's permissions in their clinic, only within the platform's limit."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from shifa.access.models import ClinicRolePermission
from tests.factories import MembershipFactory


def url(clinic, role, permission):
    return f"/api/v1/clinics/{clinic.external_id}/roles/{role}/permissions/{permission}"


def test_revoking_in_one_clinic_leaves_the_other_untouched(cast, api):
    from shifa.access.models import Role

    MembershipFactory(clinic=cast.clinic_b, user=cast.staff_a["doctor"], role=Role.objects.get(code="doctor"))
    doctor = api(cast.staff_a["doctor"])
    members_a = f"/api/v1/clinics/{cast.clinic_a.external_id}/members"
    members_b = f"/api/v1/clinics/{cast.clinic_b.external_id}/members"
    assert doctor.get(members_a).status_code == 200
    response = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "doctor", "tenancy.view_members"), {"granted": False}
    )
    assert response.status_code == 200
    assert response.json() == {
        "permission": "tenancy.view_members",
        "description": "See the clinic's staff",
        "granted": False,
        "granted_by_default": True,
        "locked": False,
    }
    assert doctor.get(members_a).status_code == 403
    assert doctor.get(members_b).status_code == 200


def test_granting_a_permission_off_by_default(cast, api):
    nurse = api(cast.staff_a["nurse"])
    members = f"/api/v1/clinics/{cast.clinic_a.external_id}/members"
    assert nurse.get(members).status_code == 403
    api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "nurse", "tenancy.view_members"), {"granted": True}
    )
    assert nurse.get(members).status_code == 200


def test_beyond_the_platform_limit_is_422(cast, api):
    response = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "nurse", "access.manage_roles"), {"granted": True}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "beyond_platform_limit"
    platform = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "doctor", "platform.view_audit"), {"granted": True}
    )
    assert platform.status_code == 422


def test_locked_grants_cannot_be_removed(cast, api):
    response = api(cast.general_admin).put(
        url(cast.clinic_a, "clinic_admin", "access.manage_roles"), {"granted": False}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "locked_permission"


def test_general_admin_adjusts_clinic_admins(cast, api):
    response = api(cast.general_admin).put(
        url(cast.clinic_a, "clinic_admin", "tenancy.view_members"), {"granted": False}
    )
    assert response.status_code == 200
    members = f"/api/v1/clinics/{cast.clinic_a.external_id}/members"
    assert api(cast.staff_a["clinic_admin"]).get(members).status_code == 403


@pytest.mark.parametrize("role", ["general_admin", "clinic_admin"])
def test_clinic_admin_cannot_adjust_roles_not_below_theirs(cast, api, role):
    response = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, role, "tenancy.view_clinic"), {"granted": False}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_below_yours"
    assert api(cast.general_admin).get(f"/api/v1/clinics/{cast.clinic_a.external_id}").status_code == 200


def test_only_clinic_permissions_can_be_adjusted(cast, api):
    """Permissions that do not depend on a clinic (e.g. opening the console at all) are not a clinic's to change."""
    response = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "doctor", "clinic.use_console"), {"granted": False}
    )
    assert response.status_code == 422
    roles = (
        api(cast.staff_a["clinic_admin"])
        .get(f"/api/v1/clinics/{cast.clinic_a.external_id}/roles")
        .json()["items"]
    )
    listed = {p["permission"] for r in roles for p in r["permissions"]}
    assert "clinic.use_console" not in listed and "accounts.view_self" not in listed


def test_unknown_role_is_404(cast, api):
    response = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "wizard", "tenancy.view_members"), {"granted": True}
    )
    assert response.status_code == 404
    patient_role = api(cast.staff_a["clinic_admin"]).put(
        url(cast.clinic_a, "patient", "accounts.view_self"), {"granted": False}
    )
    assert patient_role.status_code == 404


def test_repeated_put_is_idempotent(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    for _ in range(3):
        assert (
            admin.put(url(cast.clinic_a, "secretary", "tenancy.view_members"), {"granted": False}).status_code
            == 200
        )
    assert ClinicRolePermission.objects.for_clinic(cast.clinic_a).count() == 1


def test_roles_list_shows_effective_grants(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    admin.put(url(cast.clinic_a, "secretary", "tenancy.view_members"), {"granted": False})
    roles = {
        r["code"]: r for r in admin.get(f"/api/v1/clinics/{cast.clinic_a.external_id}/roles").json()["items"]
    }
    assert set(roles) == {"general_admin", "clinic_admin", "secretary", "assistant_doctor", "nurse", "doctor"}
    perms = {p["permission"]: p for p in roles["secretary"]["permissions"]}
    assert perms["tenancy.view_members"]["granted"] is False
    assert perms["tenancy.view_clinic"]["granted"] is True
    assert perms["tenancy.view_clinic"]["locked"] is False
    assert all(p["locked"] for p in roles["clinic_admin"]["permissions"])  # not below a clinic admin
    assert roles["clinic_admin"]["name"] == {"ar": "مدير العيادة", "en": "Clinic admin"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_adjustments_leave_one_row(cast):
    from django.test import Client

    from tests.conftest import ApiClient

    token = ApiClient(cast.staff_a["clinic_admin"]).token()
    statuses = []

    def worker(granted):
        try:
            response = Client().put(
                url(cast.clinic_a, "secretary", "tenancy.view_members"),
                f'{{"granted": {"true" if granted else "false"}}}',
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert ClinicRolePermission.objects.for_clinic(cast.clinic_a).count() == 1


def test_permission_descriptions_follow_the_callers_language(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/roles"
    arabic = admin.get(url, headers={"Accept-Language": "ar"}).json()["items"][0]["permissions"]
    english = admin.get(url, headers={"Accept-Language": "en"}).json()["items"][0]["permissions"]
    assert {p["description"] for p in arabic}.isdisjoint({p["description"] for p in english})
    assert "عرض ملف العيادة" in {p["description"] for p in arabic}
