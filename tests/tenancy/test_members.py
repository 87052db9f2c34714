"""Changing staff roles and switching memberships off (ID-2, CL console)."""

from __future__ import annotations


def test_admins_change_roles_and_switch_memberships_off_below_their_rank(cast, api):
    from shifa.tenancy.models import Membership

    nurse = Membership.objects.for_clinic(cast.clinic_a).get(user=cast.staff_a["nurse"])
    admin = api(cast.staff_a["clinic_admin"])
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/members/{nurse.external_id}"
    changed = admin.patch(url, {"role": "assistant_doctor"})
    assert changed.status_code == 200 and changed.json()["role"] == "assistant_doctor"
    off = admin.patch(url, {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert api(cast.staff_a["nurse"]).get(f"/api/v1/clinics/{cast.clinic_a.external_id}").status_code == 404
    # Not to their own rank or above, not themselves, not from a junior role, not in another clinic.
    assert admin.patch(url, {"role": "clinic_admin"}).status_code == 422
    own = Membership.objects.for_clinic(cast.clinic_a).get(user=cast.staff_a["clinic_admin"])
    mine = f"/api/v1/clinics/{cast.clinic_a.external_id}/members/{own.external_id}"
    assert admin.patch(mine, {"is_active": False}).json()["code"] == "own_membership"
    assert api(cast.general_admin).patch(mine, {"is_active": False}).status_code == 200
    assert api(cast.staff_a["secretary"]).patch(url, {"is_active": True}).status_code == 403
    other = f"/api/v1/clinics/{cast.clinic_b.external_id}/members/{nurse.external_id}"
    assert api(cast.general_admin).patch(other, {"is_active": True}).status_code == 404
