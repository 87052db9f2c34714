"""Opening hours, closures, doctors' hours and time off (CL-1), changed only by the clinic's admins, audited."""

from __future__ import annotations

WEEK = {
    "days": [
        {"weekday": 0, "intervals": [{"start": "08:30", "end": "13:00"}, {"start": "14:00", "end": "18:00"}]},
        {"weekday": 1, "intervals": [{"start": "08:30", "end": "13:00"}]},
    ]
}


def url(cast, suffix):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}{suffix}"


def test_the_week_is_replaced_whole_and_breaks_are_the_gaps(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    saved = admin.put(url(cast, "/opening-hours"), WEEK)
    assert saved.status_code == 200
    monday = saved.json()["days"][0]
    assert monday["intervals"] == [
        {"start": "08:30:00", "end": "13:00:00"},
        {"start": "14:00:00", "end": "18:00:00"},
    ]
    again = admin.put(url(cast, "/opening-hours"), {"days": [WEEK["days"][1]]})
    assert again.json()["days"][0]["intervals"] == []  # Monday is now closed
    read = api(cast.staff_a["nurse"]).get(url(cast, "/opening-hours")).json()
    assert read == again.json()


def test_overlapping_or_backwards_stretches_are_refused(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    overlap = {
        "days": [
            {
                "weekday": 2,
                "intervals": [{"start": "08:00", "end": "12:00"}, {"start": "11:00", "end": "15:00"}],
            }
        ]
    }
    response = admin.put(url(cast, "/opening-hours"), overlap)
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "overlap"
    backwards = {"days": [{"weekday": 2, "intervals": [{"start": "12:00", "end": "08:00"}]}]}
    assert admin.put(url(cast, "/opening-hours"), backwards).json()["errors"][0]["code"] == "order"
    assert (
        admin.put(url(cast, "/opening-hours"), {"days": [{"weekday": 9, "intervals": []}]}).status_code == 422
    )


def test_doctors_hours_lie_within_the_clinics_and_belong_to_its_doctors(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    admin.put(url(cast, "/opening-hours"), WEEK)
    doctor = cast.staff_a["doctor"]
    inside = {
        "days": [
            {
                "weekday": 0,
                "intervals": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "16:00"}],
            }
        ]
    }
    assert admin.put(url(cast, f"/doctors/{doctor.external_id}/hours"), inside).status_code == 200
    across_break = {"days": [{"weekday": 0, "intervals": [{"start": "12:00", "end": "15:00"}]}]}
    response = admin.put(url(cast, f"/doctors/{doctor.external_id}/hours"), across_break)
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "outside_opening_hours"
    nurse = cast.staff_a["nurse"]
    assert (
        admin.put(url(cast, f"/doctors/{nurse.external_id}/hours"), inside).json()["errors"][0]["field"]
        == "doctor"
    )
    other = cast.doctor_b
    assert admin.put(url(cast, f"/doctors/{other.external_id}/hours"), inside).status_code == 422


def test_closures_and_time_off(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    closure = admin.post(
        url(cast, "/closures"), {"starts_on": "2026-12-24", "ends_on": "2026-12-26", "reason": "Christmas"}
    )
    assert closure.status_code == 201
    assert (
        admin.post(url(cast, "/closures"), {"starts_on": "2026-12-26", "ends_on": "2026-12-24"}).status_code
        == 422
    )
    assert [c["reason"] for c in admin.get(url(cast, "/closures")).json()] == ["Christmas"]
    assert admin.delete(url(cast, f"/closures/{closure.json()['id']}")).status_code == 204
    doctor = cast.staff_a["doctor"]
    off = {"starts_at": "2026-12-01T06:00:00Z", "ends_at": "2026-12-03T06:00:00Z", "reason": "Conference"}
    assert admin.post(url(cast, f"/doctors/{doctor.external_id}/time-off"), off).status_code == 201
    naive = {**off, "starts_at": "2026-12-01T06:00:00"}
    assert admin.post(url(cast, f"/doctors/{doctor.external_id}/time-off"), naive).status_code == 422


def test_secretaries_and_nurses_cannot_change_configuration_and_no_one_touches_another_clinic(cast, api):
    for role in ("secretary", "nurse", "doctor"):
        assert api(cast.staff_a[role]).put(url(cast, "/opening-hours"), WEEK).status_code == 403
    other = f"/api/v1/clinics/{cast.clinic_b.external_id}/opening-hours"
    assert api(cast.staff_a["clinic_admin"]).put(other, WEEK).status_code == 404


def test_every_change_is_in_the_audit_log_with_actor_and_before_after(cast, api):
    admin_user = cast.staff_a["clinic_admin"]
    admin = api(admin_user)
    admin.put(url(cast, "/opening-hours"), WEEK)
    admin.put(url(cast, "/opening-hours"), {"days": [WEEK["days"][1]]})
    log = api(cast.platform_admin).get(
        f"/api/v1/platform/audit-events?table=scheduling_openinginterval&clinic_id={cast.clinic_a.external_id}"
    )
    assert log.status_code == 200
    events = log.json()["items"]
    inserted = [e for e in events if e["operation"] == "INSERT"]
    deleted = [e for e in events if e["operation"] == "DELETE"]
    assert len(inserted) == 4 and len(deleted) == 3
    assert {e["actor"] for e in events} == {str(admin_user.external_id)}
    assert all(e["before"] is None and e["after"]["opens"] for e in inserted)
    assert all(e["after"] is None and e["before"]["closes"] for e in deleted)


def test_the_audit_log_viewer_shows_who_changed_the_hours_with_before_and_after(cast, api):
    from django.test import Client

    from tests.conftest import sign_in_page

    admin_user = cast.staff_a["clinic_admin"]
    api(admin_user).put(url(cast, "/opening-hours"), WEEK)
    viewer = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.platform_admin)
    page = viewer.get(
        f"/platform/audit?table=scheduling_openinginterval&clinic={cast.clinic_a.slug}&actor={admin_user.email}"
    )
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('class="card stack audit-event"') == 3
    assert admin_user.email in body and "INSERT · scheduling_openinginterval" in body
    assert "14:00:00" in body and 'class="diff--changed"' in body
    nobody = viewer.get("/platform/audit?actor=nobody@example.jo").content.decode()
    assert "Nothing matches." in nobody
    assert viewer.get("/platform/audit?entity_id=not-a-uuid").status_code == 200
    staff = sign_in_page(Client(), admin_user)
    assert staff.get("/platform/audit").status_code == 403
