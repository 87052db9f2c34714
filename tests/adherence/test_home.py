"""At home: dose times the patient chooses, prescriptions stopped, adherence for the doctor and the patient (CP-3),
vital signs taken at home and their alerts (CP-4), devices sending over HTTPS (CP-5)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from shifa.adherence.models import Alert, Device, Dose, DoseSchedule, Reading
from shifa.core import timezones
from shifa.notifications.models import Notification
from tests.support.booking import open_for_booking
from tests.support.records import base, committed_visit, in_care

BP = {
    "kind": "task",
    "task": "vital",
    "vital_code": "8480-6",
    "title": "Blood pressure",
    "count": 7,
    "every_days": 1,
}


def _plan(cast, api, thresholds=None) -> dict:
    open_for_booking(cast)
    in_care(cast)
    body = {"title": "Blood pressure control", "items": [BP], "thresholds": thresholds or {}}
    response = api(cast.staff_a["doctor"]).post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans", body
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- dose times, stopping, adherence ---------------------------------------------------------------------------------


def test_the_patient_moves_dose_times_within_the_prescription(cast, api):
    visit = committed_visit(cast, api)  # three times a day after meals, 7 days: 08:30, 14:30, 20:30
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    before = Dose.unscoped.filter(schedule=plan, status="due").count()
    patient = api(cast.patient_user)
    url = f"/api/v1/me/dose-schedules/{plan.external_id}"
    moved = patient.put(url, {"times": ["09:00", "15:00", "21:30"]})
    assert moved.status_code == 200, moved.content
    assert moved.json()["times"] == ["09:00", "15:00", "21:30"]
    due = Dose.unscoped.filter(schedule=plan, status="due").order_by("due_at")
    assert due.count() == before  # the same number of doses, at the new times
    local = {f"{timezones.to_local(d.due_at, plan.zone):%H:%M}" for d in due}
    assert local == {"09:00", "15:00", "21:30"}
    for body, code in (
        ({"times": ["09:00", "15:00"]}, "wrong_count"),
        ({"times": ["09:00", "09:00", "21:00"]}, "wrong_count"),
        ({"times": ["nine", "15:00", "21:00"]}, "invalid"),
    ):
        refused = patient.put(url, body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == code
    assert api(cast.other_patient_user).put(url, {"times": ["09:00", "15:00", "21:30"]}).status_code == 404


def test_a_fixed_interval_keeps_its_spacing(cast, api):
    from tests.support.records import open_visit

    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    doctor.post(f"{url}/diagnoses", {"code": "401.9"})
    line = {"medication": "paracetamol", "strength": "500 mg", "dose": "1", "dose_unit": "tablet"}
    doctor.post(f"{url}/prescriptions", {**line, "frequency": "every_8_hours", "duration_days": 2})
    assert doctor.post(f"{url}/commit").status_code == 200
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    patient = api(cast.patient_user)
    closer = patient.put(
        f"/api/v1/me/dose-schedules/{plan.external_id}", {"times": ["07:00", "14:00", "22:00"]}
    )
    assert closer.status_code == 422 and closer.json()["errors"][0]["code"] == "interval_changed"
    moved = patient.put(
        f"/api/v1/me/dose-schedules/{plan.external_id}", {"times": ["07:00", "15:00", "23:00"]}
    )
    assert moved.status_code == 200


def test_the_doctor_stops_a_prescription_and_its_future_doses_are_cancelled(cast, api):
    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    line = visit["prescriptions"][0]["id"]
    nurse = api(cast.staff_a["nurse"]).post(f"{base(cast.clinic_a)}/prescriptions/{line}/stop", {})
    assert nurse.status_code == 403
    other = api(cast.doctor_b).post(f"{base(cast.clinic_b)}/prescriptions/{line}/stop", {})
    assert other.status_code == 404
    stopped = api(cast.staff_a["doctor"]).post(
        f"{base(cast.clinic_a)}/prescriptions/{line}/stop", {"reason": "Rash"}
    )
    assert stopped.status_code == 200 and stopped.json() == {"stopped": 1}
    plan.refresh_from_db()
    assert plan.status == "stopped" and plan.end_reason == "Rash" and plan.ended_by == cast.staff_a["doctor"]
    assert not Dose.unscoped.filter(schedule=plan, status="due").exists()
    moved = api(cast.patient_user).put(
        f"/api/v1/me/dose-schedules/{plan.external_id}", {"times": ["09:00"] * 3}
    )
    assert moved.status_code == 409 and moved.json()["code"] == "schedule_ended"


def test_adherence_is_shown_to_the_patient_and_the_doctor(cast, api):
    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    now = timezones.now()
    doses = list(Dose.unscoped.filter(schedule=plan).order_by("due_at")[:4])
    for dose, status in zip(doses, ["taken", "taken", "skipped", "missed"], strict=True):
        Dose.unscoped.filter(pk=dose.pk).update(
            due_at=now - dt.timedelta(hours=1 + doses.index(dose)), status=status
        )
    mine = api(cast.patient_user).get("/api/v1/me/adherence").json()
    assert (mine["taken"], mine["skipped"], mine["missed"], mine["percent"]) == (2, 1, 1, 50)
    assert len(mine["by_day"]) == 30 and sum(d["taken"] for d in mine["by_day"]) == 2
    assert mine["schedules"][0]["id"] == str(plan.external_id)
    theirs = api(cast.staff_a["doctor"]).get(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/adherence"
    )
    assert theirs.status_code == 200 and theirs.json()["percent"] == 50
    assert (
        api(cast.staff_a["secretary"])
        .get(f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/adherence")
        .status_code
        == 403
    )


# --- home readings and alerts -----------------------------------------------------------------------------------------


def test_a_home_reading_outside_the_plans_limit_alerts_the_doctor(cast, api):
    plan = _plan(cast, api, thresholds={"8480-6": {"high": 140}})
    patient = api(cast.patient_user)
    fine = patient.post("/api/v1/me/readings", {"readings": {"8480-6": 135, "8462-4": 78}})
    assert fine.status_code == 201
    flags = {r["code"]["code"]: r["flag"] for r in fine.json()["items"]}
    assert flags == {"8480-6": "high", "8462-4": ""}  # above the normal range, inside the plan's own limit
    assert not Alert.unscoped.exists()
    high = patient.post("/api/v1/me/readings", {"readings": {"8480-6": 162}})
    assert high.status_code == 201
    alert = Alert.unscoped.get(reading__value=162)
    assert alert.clinic == cast.clinic_a and alert.plan.external_id.hex == plan["id"].replace("-", "")
    told = Notification.objects.get(recipient=cast.staff_a["doctor"], kind="vitals.alert")
    assert "162" in told.title
    doctor = api(cast.staff_a["doctor"])
    listed = doctor.get(f"{base(cast.clinic_a)}/alerts").json()["items"]
    assert [a["reading"]["value"] for a in listed] == ["162"]
    nurse = api(cast.staff_a["nurse"])
    seen = nurse.post(f"{base(cast.clinic_a)}/alerts/{listed[0]['id']}/acknowledge")
    assert seen.status_code == 200 and seen.json()["acknowledged_at"]
    assert doctor.get(f"{base(cast.clinic_a)}/alerts").json()["items"] == []
    assert len(doctor.get(f"{base(cast.clinic_a)}/alerts?all=true").json()["items"]) == 1
    assert api(cast.doctor_b).get(f"{base(cast.clinic_b)}/alerts").json()["items"] == []
    assert (
        api(cast.doctor_b).post(f"{base(cast.clinic_b)}/alerts/{listed[0]['id']}/acknowledge").status_code
        == 404
    )


def test_without_plan_limits_the_normal_range_alerts(cast, api):
    _plan(cast, api)
    api(cast.patient_user).post("/api/v1/me/readings", {"readings": {"8462-4": 95}})
    assert Alert.unscoped.get().flag == "high"


def test_home_readings_show_in_the_chart_of_the_clinic_following_the_patient(cast, api):
    _plan(cast, api)
    api(cast.patient_user).post("/api/v1/me/readings", {"readings": {"8480-6": 131}})
    series = api(cast.staff_a["doctor"]).get(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/vitals?code=8480-6"
    )
    assert [(r["value"], r["source"]) for r in series.json()["items"]] == [("131", "patient")]
    mine = api(cast.patient_user).get("/api/v1/me/readings?code=8480-6").json()["items"]
    assert [r["value"] for r in mine] == ["131"]


def test_bad_readings_are_refused_and_nothing_is_filed(cast, api):
    patient = api(cast.patient_user)
    for body, field in (
        ({"readings": {}}, "readings"),
        ({"readings": {"8480-6": 900}}, "readings.8480-6"),
        ({"readings": {"8480-6": "high"}}, "readings.8480-6"),
        ({"readings": {"0000-0": 1}}, "readings.0000-0"),
        ({"readings": {"8480-6": 120, "8462-4": 999}}, "readings.8462-4"),
    ):
        response = patient.post("/api/v1/me/readings", body)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]]
    future = timezones.isoformat_z(timezones.now() + dt.timedelta(hours=2))
    assert (
        patient.post("/api/v1/me/readings", {"readings": {"8480-6": 120}, "taken_at": future}).status_code
        == 422
    )
    assert not Reading.objects.exists()


# --- devices over HTTPS -----------------------------------------------------------------------------------------------


def _device(cast, api, kind="bp_cuff") -> dict:
    response = api(cast.patient_user).post("/api/v1/me/devices", {"kind": kind, "name": "My cuff"})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_device_files_readings_for_its_patient_over_https(cast, api):
    _plan(cast, api, thresholds={"8480-6": {"high": 140}})
    device = _device(cast, api)
    assert device["secret"] and device["mqtt_topics"]["readings"] == f"devices/{device['id']}/readings"
    anonymous = api()
    url = f"/api/v1/devices/{device['id']}/readings"
    body = {
        "message_id": "m-1",
        "readings": {"8480-6": 171, "8462-4": 101},
        "taken_at": timezones.isoformat_z(timezones.now()),
    }
    filed = anonymous.post(url, body, headers={"X-Device-Secret": device["secret"]})
    assert filed.status_code == 201, filed.content
    assert filed.json() == {"filed": 2, "flags": {"8480-6": "high", "8462-4": "high"}}
    again = anonymous.post(url, body, headers={"X-Device-Secret": device["secret"]})
    assert again.status_code == 201 and again.json()["filed"] == 0  # the same message is filed once
    assert Reading.objects.filter(device__external_id=device["id"]).count() == 2
    assert Alert.unscoped.filter(reading__kind__code="8480-6").count() == 1
    assert Device.objects.get(external_id=device["id"]).last_seen_at is not None


def test_a_device_cannot_write_for_another_patient_or_without_its_secret(cast, api):
    device = _device(cast, api)
    url = f"/api/v1/devices/{device['id']}/readings"
    body = {"readings": {"8480-6": 120}}
    anonymous = api()
    assert anonymous.post(url, body).status_code == 401
    assert anonymous.post(url, body, headers={"X-Device-Secret": "guess"}).status_code == 401
    other = {**body, "patient_id": str(cast.other_patient_user.patient.external_id)}
    refused = anonymous.post(url, other, headers={"X-Device-Secret": device["secret"]})
    assert refused.status_code == 403 and refused.json()["code"] == "wrong_patient"
    # its own id with another device's secret is no better
    second = _device(cast, api, kind="scale")
    assert anonymous.post(url, body, headers={"X-Device-Secret": second["secret"]}).status_code == 401
    assert api(cast.patient_user).delete(f"/api/v1/me/devices/{device['id']}").status_code == 204
    assert anonymous.post(url, body, headers={"X-Device-Secret": device["secret"]}).status_code == 401
    assert not Reading.objects.exists()
    assert api(cast.other_patient_user).delete(f"/api/v1/me/devices/{second['id']}").status_code == 404


def test_a_pill_box_confirms_the_doses_it_held(cast, api):
    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    first = Dose.unscoped.filter(schedule=plan).order_by("due_at").first()
    Dose.unscoped.filter(pk=first.pk).update(due_at=timezones.now() - dt.timedelta(minutes=20), status="sent")
    box = _device(cast, api, kind="pill_box")
    anonymous = api()
    secret = {"X-Device-Secret": box["secret"]}
    opened = anonymous.post(
        f"/api/v1/devices/{box['id']}/doses",
        {"taken_at": timezones.isoformat_z(timezones.now())},
        headers=secret,
    )
    assert opened.status_code == 201 and opened.json()["doses"] == [str(first.external_id)]
    first.refresh_from_db()
    assert first.status == "taken" and first.device.external_id.hex == box["id"].replace("-", "")
    readings = anonymous.post(
        f"/api/v1/devices/{box['id']}/readings", {"readings": {"8480-6": 120}}, headers=secret
    )
    assert readings.status_code == 409 and readings.json()["code"] == "not_for_this_device"


def test_device_kinds_are_checked(cast, api):
    response = api(cast.patient_user).post("/api/v1/me/devices", {"kind": "toaster"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "kind"
    assert not Device.objects.exists()


def test_a_stopped_medicine_is_not_reminded_even_from_a_backlog(cast, api):
    from shifa.adherence.actions import doses_dispatch

    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    waiting = Dose.unscoped.filter(schedule=plan).order_by("due_at").first()
    Dose.unscoped.filter(pk=waiting.pk).update(
        due_at=timezones.now() - dt.timedelta(minutes=2)
    )  # not yet reminded
    line = visit["prescriptions"][0]["id"]
    api(cast.staff_a["doctor"]).post(f"{base(cast.clinic_a)}/prescriptions/{line}/stop", {})
    assert doses_dispatch() == 0
    waiting.refresh_from_db()
    assert waiting.status == "cancelled"
    assert not Notification.objects.filter(kind="dose.due").exists()


def test_a_large_minute_is_shared_by_helper_jobs(cast, api, monkeypatch):
    from procrastinate.contrib.django.models import ProcrastinateJob

    from shifa.adherence import actions, tasks

    visit = committed_visit(cast, api)  # 21 doses
    now = timezones.now()
    for i, dose in enumerate(Dose.unscoped.filter(schedule__prescription__visit__external_id=visit["id"])):
        Dose.unscoped.filter(pk=dose.pk).update(due_at=now - dt.timedelta(minutes=1, seconds=i))
    monkeypatch.setattr(actions, "DISPATCH_BATCH", 5)
    tasks.dispatch_due_doses(timestamp=0)
    helpers = ProcrastinateJob.objects.filter(task_name="adherence.dispatch_more")
    assert helpers.count() == tasks.MAX_HELPERS  # 21 due, batches of 5: three helpers (at most)
    assert Dose.unscoped.filter(status="sent").count() == 21  # this job alone would have sent them all anyway
    tasks.dispatch_more()  # a helper arriving late finds nothing left
    assert Notification.objects.filter(kind="dose.due").count() == 21


def test_the_latest_vitals_include_a_newer_home_reading(cast, api):
    _plan(cast, api)
    api(cast.patient_user).post("/api/v1/me/readings", {"readings": {"8480-6": 133}})
    chart = api(cast.staff_a["doctor"]).get(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/chart"
    )
    latest = {v["code"]["code"]: (v["value"], v["source"]) for v in chart.json()["latest_vitals"]}
    assert latest["8480-6"] == ("133", "patient")
    # clinic B neither shares the record nor follows the patient: no home reading in its view
    from shifa.records.queries import latest_vitals

    assert latest_vitals(cast.patient, Q(clinic_id=cast.clinic_b.pk)) == []
