"""The clinic console's team pages: staff roles and switching off, role permissions, doctors' profiles, hours and
time off, and the clinic's closures. Each saves through the API's actions and is refused to the wrong people."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shifa.access.models import ClinicRolePermission
from shifa.catalog.actions import reference_list_load
from shifa.directory.models import DoctorProfile
from shifa.scheduling.models import Closure, DoctorInterval, OpeningInterval, TimeOff
from shifa.tenancy.models import Membership
from tests.conftest import sign_in_page


def browser(user, language="en"):
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def base(cast) -> str:
    return f"/clinic/{cast.clinic_a.external_id}"


def membership_of(cast, role) -> Membership:
    return Membership.objects.for_clinic(cast.clinic_a).get(user=cast.staff_a[role])


def audit(api, cast, table, entity_id):
    return (
        api(cast.platform_admin)
        .get(f"/api/v1/platform/audit-events?table={table}&entity_id={entity_id}")
        .json()["items"]
    )


def test_an_admin_changes_a_role_switches_someone_off_and_on_again(cast, api):
    admin = browser(cast.staff_a["clinic_admin"])
    nurse = membership_of(cast, "nurse")
    page = admin.get(f"{base(cast)}/staff").content.decode()
    assert f"{base(cast)}/staff/{nurse.external_id}" in page
    changed = admin.post(f"{base(cast)}/staff/{nurse.external_id}", {"role": "secretary"})
    assert changed.status_code == 302
    nurse.refresh_from_db()
    assert nurse.role.code == "secretary"
    assert admin.post(f"{base(cast)}/staff/{nurse.external_id}", {"active": "off"}).status_code == 302
    nurse.refresh_from_db()
    assert not nurse.is_active
    assert admin.post(f"{base(cast)}/staff/{nurse.external_id}", {"active": "on"}).status_code == 302
    nurse.refresh_from_db()
    assert nurse.is_active
    events = audit(api, cast, "tenancy_membership", nurse.external_id)
    updates = [e for e in events if e["operation"] == "UPDATE"]
    assert len(updates) == 3
    assert all(e["actor"] == str(cast.staff_a["clinic_admin"].external_id) for e in updates)
    assert [e["after"]["is_active"] for e in updates][:2] == [True, False]  # newest first


def test_nobody_changes_their_own_membership_or_a_role_at_or_above_their_own(cast):
    admin = browser(cast.staff_a["clinic_admin"])
    own = membership_of(cast, "clinic_admin")
    refused = admin.post(f"{base(cast)}/staff/{own.external_id}", {"active": "off"})
    assert refused.status_code == 403 and "own" in refused.content.decode()
    assert Membership.unscoped.get(pk=own.pk).is_active
    page = admin.get(f"{base(cast)}/staff").content.decode()
    assert f"{base(cast)}/staff/{own.external_id}" not in page  # no controls on one's own row
    nurse = membership_of(cast, "nurse")
    too_high = admin.post(f"{base(cast)}/staff/{nurse.external_id}", {"role": "clinic_admin"})
    assert too_high.status_code == 400
    assert Membership.unscoped.get(pk=nurse.pk).role.code == "nurse"
    nothing = admin.post(f"{base(cast)}/staff/{nurse.external_id}", {})
    assert nothing.status_code == 400
    nonsense = admin.post(f"{base(cast)}/staff/{nurse.external_id}", {"active": "maybe"})
    assert nonsense.status_code == 400 and Membership.unscoped.get(pk=nurse.pk).is_active


def test_staff_changes_are_refused_to_the_wrong_role_and_across_clinics(cast):
    nurse = membership_of(cast, "nurse")
    for role in ("secretary", "nurse", "doctor"):
        answer = browser(cast.staff_a[role]).post(
            f"{base(cast)}/staff/{nurse.external_id}", {"active": "off"}
        )
        assert answer.status_code == 403
    admin = browser(cast.staff_a["clinic_admin"])
    other = admin.post(f"{base(cast)}/staff/{cast.membership_b.external_id}", {"active": "off"})
    assert other.status_code == 404
    assert Membership.unscoped.get(pk=cast.membership_b.pk).is_active
    assert Membership.unscoped.get(pk=nurse.pk).is_active
    # the secretary sees the list but no controls
    page = browser(cast.staff_a["secretary"]).get(f"{base(cast)}/staff").content.decode()
    assert "nurse of A" in page and f"/staff/{nurse.external_id}" not in page


def test_a_role_permission_is_taken_away_and_given_back_within_the_platform_limit(cast):
    admin = browser(cast.staff_a["clinic_admin"], language="ar")
    page = admin.get(f"{base(cast)}/roles")
    assert page.status_code == 200 and 'dir="rtl"' in page.content.decode()
    target = f"{base(cast)}/roles/secretary/tenancy.view_members"
    assert target in page.content.decode()
    # the permission's code is for the form and for tests, never shown: each row reads by its description
    assert (
        "<code" not in page.content.decode()
        and 'data-permission="tenancy.view_members"' in page.content.decode()
    )
    assert admin.post(target, {"granted": "off"}).status_code == 302
    adjustment = ClinicRolePermission.objects.for_clinic(cast.clinic_a).get()
    assert adjustment.granted is False
    assert browser(cast.staff_a["secretary"]).get(f"{base(cast)}/staff").status_code == 403
    assert admin.post(target, {"granted": "on"}).status_code == 302
    assert browser(cast.staff_a["secretary"]).get(f"{base(cast)}/staff").status_code == 200
    # beyond what the platform allows, or a role at the admin's own rank: nothing changes
    admin.post(f"{base(cast)}/roles/nurse/platform.manage_clinics", {"granted": "on"})
    admin.post(f"{base(cast)}/roles/clinic_admin/tenancy.view_members", {"granted": "off"})
    assert ClinicRolePermission.objects.for_clinic(cast.clinic_a).count() == 1
    assert (
        admin.post(f"{base(cast)}/roles/no_such_role/tenancy.view_members", {"granted": "on"}).status_code
        == 404
    )
    assert admin.post(target, {"granted": "yes please"}).status_code == 302
    assert ClinicRolePermission.objects.for_clinic(cast.clinic_a).get().granted is True


def test_only_admins_see_and_change_role_permissions(cast):
    for role in ("secretary", "nurse", "doctor"):
        user = browser(cast.staff_a[role])
        assert user.get(f"{base(cast)}/roles").status_code == 403
        assert (
            user.post(f"{base(cast)}/roles/nurse/tenancy.view_members", {"granted": "on"}).status_code == 403
        )
    assert not ClinicRolePermission.unscoped.exists()


@pytest.fixture
def doctor_ready(cast):
    reference_list_load("specialties")
    OpeningInterval.objects.for_clinic(cast.clinic_a).create(
        clinic=cast.clinic_a, weekday=0, opens=dt.time(8), closes=dt.time(16)
    )
    return cast.staff_a["doctor"]


def test_a_doctor_profile_hours_and_time_off_are_set_in_the_console(cast, doctor_ready, api):
    doctor = doctor_ready
    admin = browser(cast.staff_a["clinic_admin"])
    listing = admin.get(f"{base(cast)}/doctors").content.decode()
    page_url = f"{base(cast)}/doctors/{doctor.external_id}"
    assert page_url in listing and "No profile yet" in listing
    saved = admin.post(
        page_url,
        {
            "gender": "female",
            "specialties": ["pediatrics", "family-medicine"],
            "languages": ["ar", "en"],
            "bio_ar": "طبيبة أطفال",
            "bio_en": "Paediatrician",
            "office": "20",
            "video": "15",
            "on_duty": "on",
        },
    )
    assert saved.status_code == 302
    profile = DoctorProfile.objects.for_clinic(cast.clinic_a).get(doctor=doctor)
    assert profile.minutes == {"office": 20, "video": 15} and profile.on_duty
    assert {s.code for s in profile.specialties.all()} == {"pediatrics", "family-medicine"}
    assert "Paediatrician" in admin.get(page_url).content.decode()

    hours = admin.post(f"{page_url}/hours", {"hours-day_0": "09:00-12:00, 13:00-15:00"})
    assert hours.status_code == 302
    assert DoctorInterval.objects.for_clinic(cast.clinic_a).filter(doctor=doctor).count() == 2
    outside = admin.post(f"{page_url}/hours", {"hours-day_0": "07:00-12:00"})
    assert outside.status_code == 400 and "within the clinic" in outside.content.decode()
    assert DoctorInterval.objects.for_clinic(cast.clinic_a).filter(doctor=doctor).count() == 2

    off = admin.post(
        f"{page_url}/time-off",
        {"off-starts_at": "2026-12-20T08:00", "off-ends_at": "2026-12-20T12:00", "off-reason": "Conference"},
    )
    assert off.status_code == 302
    entry = TimeOff.objects.for_clinic(cast.clinic_a).get()
    assert entry.starts_at == dt.datetime(2026, 12, 20, 5, tzinfo=dt.UTC)  # Amman is UTC+3
    backwards = admin.post(
        f"{page_url}/time-off", {"off-starts_at": "2026-12-20T12:00", "off-ends_at": "2026-12-20T08:00"}
    )
    assert backwards.status_code == 400 and TimeOff.unscoped.count() == 1
    via_api = api(cast.staff_a["secretary"]).get(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/doctors/{doctor.external_id}/time-off"
    )
    assert [t["reason"] for t in via_api.json()] == ["Conference"]
    assert admin.post(f"{page_url}/time-off/{entry.external_id}/remove").status_code == 302
    assert not TimeOff.unscoped.exists()
    events = audit(api, cast, "directory_doctorprofile", profile.external_id)
    assert events and events[0]["actor"] == str(cast.staff_a["clinic_admin"].external_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"office": "", "video": "", "home": ""}, "id_office_error"),
        ({"office": "2"}, "id_office_error"),
        ({"video": "", "on_duty": "on"}, "id_on_duty_error"),
        ({"specialties": ["not-a-specialty"]}, "id_specialties_error"),
        ({"languages": []}, "id_languages_error"),
        ({"gender": "other"}, "id_gender_error"),
    ],
)
def test_a_bad_doctor_profile_is_refused_with_the_field_marked(cast, doctor_ready, change, field):
    admin = browser(cast.staff_a["clinic_admin"])
    form = {"gender": "male", "specialties": ["pediatrics"], "languages": ["ar"], "office": "20", **change}
    answer = admin.post(f"{base(cast)}/doctors/{doctor_ready.external_id}", form)
    assert answer.status_code == 400 and f'id="{field}"' in answer.content.decode()
    assert not DoctorProfile.unscoped.exists()


def test_doctor_pages_are_refused_to_the_wrong_role_and_across_clinics(cast, doctor_ready):
    for role in ("secretary", "nurse"):
        user = browser(cast.staff_a[role])
        assert user.get(f"{base(cast)}/doctors").status_code == 403
        assert user.get(f"{base(cast)}/doctors/{doctor_ready.external_id}").status_code == 403
    admin = browser(cast.staff_a["clinic_admin"])
    other = admin.post(
        f"{base(cast)}/doctors/{cast.doctor_b.external_id}",
        {"gender": "male", "specialties": ["pediatrics"], "languages": ["ar"], "office": "20"},
    )
    assert other.status_code == 404 and not DoctorProfile.unscoped.exists()
    not_a_doctor = admin.get(f"{base(cast)}/doctors/{cast.staff_a['nurse'].external_id}")
    assert not_a_doctor.status_code == 404
    theirs = TimeOff.unscoped.create(
        clinic=cast.clinic_b,
        doctor=cast.doctor_b,
        starts_at=dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC),
    )
    removed = admin.post(
        f"{base(cast)}/doctors/{doctor_ready.external_id}/time-off/{theirs.external_id}/remove"
    )
    assert removed.status_code == 404 and TimeOff.unscoped.filter(pk=theirs.pk).exists()


def test_closures_are_added_and_removed_on_the_hours_page(cast):
    admin = browser(cast.staff_a["clinic_admin"], language="ar")
    added = admin.post(
        f"{base(cast)}/settings/closures",
        {"closure-starts_on": "2027-03-20", "closure-ends_on": "2027-03-22", "closure-reason": "عيد الفطر"},
    )
    assert added.status_code == 302
    closure = Closure.objects.for_clinic(cast.clinic_a).get()
    assert "عيد الفطر" in admin.get(f"{base(cast)}/settings/hours").content.decode()
    backwards = admin.post(
        f"{base(cast)}/settings/closures",
        {"closure-starts_on": "2027-03-22", "closure-ends_on": "2027-03-20"},
    )
    assert backwards.status_code == 400 and 'id="id_closure-ends_on_error"' in backwards.content.decode()
    garbage = admin.post(f"{base(cast)}/settings/closures", {"closure-starts_on": "tomorrow"})
    assert garbage.status_code == 400 and Closure.unscoped.count() == 1
    nurse = browser(cast.staff_a["nurse"])
    assert nurse.post(f"{base(cast)}/settings/closures/{closure.external_id}/remove").status_code == 403
    assert admin.post(f"{base(cast)}/settings/closures/{closure.external_id}/remove").status_code == 302
    assert not Closure.unscoped.exists()
    again = admin.post(f"{base(cast)}/settings/closures/{closure.external_id}/remove")
    assert again.status_code == 404
