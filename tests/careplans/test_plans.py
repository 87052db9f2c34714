"""Care plans (CP-1, CP-2): made from a template or from scratch, followed and booked by the patient, missed steps
flagged to the care team."""

from __future__ import annotations

import datetime as dt

import pytest

from shifa.careplans import items as plan_items
from shifa.careplans.actions import steps_review
from shifa.careplans.models import CarePlan, CareStep
from shifa.core import timezones
from shifa.notifications.models import Notification
from tests.support.booking import open_for_booking
from tests.support.records import base, in_care

PHYSIO = {"kind": "visit", "title": "Physiotherapy session", "count": 10, "every_days": 7, "first_in_days": 7}
BP = {
    "kind": "task",
    "task": "vital",
    "vital_code": "8480-6",
    "title": "Blood pressure",
    "count": 30,
    "every_days": 1,
}
LAB = {"kind": "task", "task": "lab", "title": "HbA1c", "first_in_days": 90, "window_days": 14}


def _today(cast):
    return timezones.to_local(timezones.now(), cast.clinic_a.time_zone).date()


def _plan(cast, api, items=None, **extra) -> dict:
    open_for_booking(cast)
    in_care(cast)
    doctor = api(cast.staff_a["doctor"])
    body = {"title": "Knee rehabilitation", "items": items or [PHYSIO, BP, LAB], **extra}
    response = doctor.post(f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans", body)
    assert response.status_code == 201, response.content
    return response.json()


# --- items, pure ---------------------------------------------------------------------------------------------------


def test_items_become_dated_steps():
    parsed, errors = plan_items.parse([PHYSIO, BP, LAB])
    assert errors == []
    steps = plan_items.expand(parsed, dt.date(2026, 1, 28))
    assert len(steps) == 41
    physio = [s.due_on for s in steps if s.item == 0]
    assert physio[0] == dt.date(2026, 2, 4) and physio[-1] == dt.date(2026, 4, 8)  # weekly, across month ends
    assert [s.due_on for s in steps if s.item == 1][:5] == [
        dt.date(2026, 1, 28) + dt.timedelta(days=i) for i in range(5)
    ]
    assert [s.due_on for s in steps if s.item == 2] == [dt.date(2026, 4, 28)]
    assert steps == sorted(steps, key=lambda s: (s.due_on, s.item, s.number))


@pytest.mark.parametrize(
    ("items", "field", "code"),
    [
        ([], "items", "required"),
        ("nonsense", "items", "required"),
        ([{"kind": "surgery", "title": "x"}], "items.0.kind", "invalid_choice"),
        ([{"kind": "visit"}], "items.0.title", "required"),
        ([{**PHYSIO, "count": 0}], "items.0.count", "out_of_range"),
        ([{**PHYSIO, "count": "ten"}], "items.0.count", "invalid"),
        ([{**PHYSIO, "count": True}], "items.0.count", "invalid"),
        ([{**PHYSIO, "every_days": None}], "items.0.every_days", "required"),
        ([{**PHYSIO, "window_days": 4}], "items.0.window_days", "overlapping"),
        ([{**BP, "vital_code": ""}], "items.0.vital_code", "required"),
        ([{**BP, "task": "dance"}], "items.0.task", "invalid_choice"),
        ([{**BP, "count": 366}, {**BP, "count": 366}, {**BP, "count": 366}], "items", "too_many"),
        ([PHYSIO] * 21, "items", "too_many"),
    ],
)
def test_bad_items_are_named(items, field, code):
    errors = plan_items.parse(items)[1]
    assert (field, code) in [(e.field, e.code) for e in errors]


# --- the doctor makes a plan ---------------------------------------------------------------------------------------


def test_the_doctor_makes_a_plan_and_the_patient_is_told(cast, api):
    plan = _plan(cast, api, thresholds={"8480-6": {"high": 140}})
    assert plan["status"] == "active" and plan["progress"] == {
        "done": 0,
        "missed": 0,
        "open": 41,
        "total": 41,
        "percent": 0,
    }
    assert plan["doctor"]["id"] == str(cast.staff_a["doctor"].external_id)
    assert plan["thresholds"] == {"8480-6": {"high": "140"}}
    first = plan["steps"][0]
    assert first["kind"] == "task" and first["state"] == "due" and first["vital_code"] == "8480-6"
    assert CareStep.unscoped.filter(plan__external_id=plan["id"], clinic=cast.clinic_a).count() == 41
    told = Notification.objects.get(recipient=cast.patient_user, kind="careplan.created")
    assert "Knee rehabilitation" in told.title


def test_a_plan_from_a_template(cast, api):
    open_for_booking(cast)
    in_care(cast)
    doctor = api(cast.staff_a["doctor"])
    template = doctor.post(
        f"{base(cast.clinic_a)}/care-plan-templates", {"name": "Hypertension follow-up", "items": [BP, LAB]}
    )
    assert template.status_code == 201, template.content
    again = doctor.post(
        f"{base(cast.clinic_a)}/care-plan-templates", {"name": "hypertension FOLLOW-up", "items": [BP]}
    )
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "duplicate"
    made = doctor.post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans",
        {"template_id": template.json()["id"]},
    )
    assert made.status_code == 201, made.content
    assert made.json()["title"] == "Hypertension follow-up" and made.json()["progress"]["total"] == 31
    listed = doctor.get(f"{base(cast.clinic_a)}/care-plans?patient_id={cast.patient.external_id}")
    assert [p["id"] for p in listed.json()["items"]] == [made.json()["id"]]


def test_bad_plans_are_refused_with_field_errors_and_nothing_written(cast, api):
    open_for_booking(cast)
    in_care(cast)
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans"
    cases = [
        ({"items": [PHYSIO]}, "title"),
        ({"title": "x", "items": [{**BP, "vital_code": "0000-0"}]}, "items.0.vital_code"),
        ({"title": "x", "items": [{**PHYSIO, "visit_type": "teleport"}]}, "items.0.visit_type"),
        ({"title": "x", "items": [{**PHYSIO, "service_id": "not-a-uuid"}]}, "items.0.service_id"),
        (
            {"title": "x", "items": [PHYSIO], "thresholds": {"8480-6": {"high": 900}}},
            "thresholds.8480-6.high",
        ),
        (
            {"title": "x", "items": [PHYSIO], "thresholds": {"8480-6": {"low": 150, "high": 140}}},
            "thresholds.8480-6.low",
        ),
        ({"title": "x", "items": [PHYSIO], "starts_on": "2020-01-01"}, "starts_on"),
        (
            {"title": "x", "items": [PHYSIO], "template_id": "0b7c6f7e-7a3c-4c59-9e43-1f0a2d8c9e11"},
            "template_id",
        ),
    ]
    for body, field in cases:
        response = doctor.post(url, body)
        assert response.status_code == 422, (body, response.content)
        assert field in [e["field"] for e in response.json()["errors"]], (body, response.json())
    assert not CarePlan.unscoped.exists() and not CareStep.unscoped.exists()


def test_only_a_doctor_of_the_clinic_makes_plans_for_its_patients(cast, api):
    open_for_booking(cast)
    in_care(cast)
    url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans"
    body = {"title": "Plan", "items": [LAB]}
    assert api(cast.staff_a["nurse"]).post(url, body).status_code == 403
    assert api(cast.staff_a["secretary"]).post(url, body).status_code == 403
    assert (
        api(cast.patient_user).post(url, body).status_code == 404
    )  # not a member: the clinic's routes are hidden
    # clinic B's doctor cannot reach clinic A's routes, nor make a plan for a patient who is not B's
    assert api(cast.doctor_b).post(url, body).status_code == 404
    other = f"{base(cast.clinic_b)}/patients/{cast.patient.external_id}/care-plans"
    assert api(cast.doctor_b).post(other, body).status_code == 404
    assert not CarePlan.unscoped.exists()


def test_a_plan_of_clinic_a_is_not_found_by_clinic_b(cast, api):
    plan = _plan(cast, api)
    assert api(cast.doctor_b).get(f"{base(cast.clinic_b)}/care-plans/{plan['id']}").status_code == 404
    assert (
        api(cast.doctor_b).post(f"{base(cast.clinic_b)}/care-plans/{plan['id']}/stop", {}).status_code == 404
    )
    assert api(cast.doctor_b).get(f"{base(cast.clinic_b)}/care-plans").json()["items"] == []


def test_stopping_a_plan_cancels_what_is_left(cast, api):
    plan = _plan(cast, api, items=[LAB])
    doctor = api(cast.staff_a["doctor"])
    stopped = doctor.post(f"{base(cast.clinic_a)}/care-plans/{plan['id']}/stop", {"reason": "Moved abroad"})
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert [s["state"] for s in stopped.json()["steps"]] == ["cancelled"]
    again = doctor.post(f"{base(cast.clinic_a)}/care-plans/{plan['id']}/stop", {})
    assert again.status_code == 409 and again.json()["code"] == "plan_ended"


# --- the patient follows it ----------------------------------------------------------------------------------------


def test_the_patient_sees_the_plan_and_books_a_step_from_it(cast, api):
    plan = _plan(cast, api)
    patient = api(cast.patient_user)
    mine = patient.get("/api/v1/me/care-plans").json()["items"]
    assert [p["id"] for p in mine] == [plan["id"]] and mine[0]["progress"]["total"] == 41
    shown = patient.get(f"/api/v1/me/care-plans/{plan['id']}").json()
    session = next(s for s in shown["steps"] if s["kind"] == "visit")
    assert session["state"] == "upcoming" and session["can_book"] is True
    day = dt.date.fromisoformat(session["due_on"])
    starts = timezones.local_datetime(day, dt.time(10), cast.clinic_a.time_zone)
    url = f"/api/v1/me/care-plans/{plan['id']}/steps/{session['id']}/book"
    held = patient.post(
        url, {"starts_at": timezones.isoformat_z(starts)}, headers={"Idempotency-Key": "book-1"}
    )
    assert held.status_code == 201, held.content
    assert held.json()["status"] == "held" and held.json()["doctor"]["id"] == str(
        cast.staff_a["doctor"].external_id
    )
    repeat = patient.post(
        url, {"starts_at": timezones.isoformat_z(starts)}, headers={"Idempotency-Key": "book-1"}
    )
    assert repeat.json()["id"] == held.json()["id"]  # a double tap holds one slot
    twice = patient.post(url, {"starts_at": timezones.isoformat_z(starts + dt.timedelta(hours=1))})
    assert twice.status_code == 409 and twice.json()["code"] == "step_booked"
    step = next(
        s
        for s in patient.get(f"/api/v1/me/care-plans/{plan['id']}").json()["steps"]
        if s["id"] == session["id"]
    )
    assert step["state"] == "booked" and step["appointment"]["id"] == held.json()["id"]


def test_a_step_is_booked_only_inside_its_days(cast, api):
    plan = _plan(cast, api)
    patient = api(cast.patient_user)
    session = next(s for s in plan["steps"] if s["kind"] == "visit")
    late = dt.date.fromisoformat(session["last_day"]) + dt.timedelta(days=1)
    starts = timezones.local_datetime(late, dt.time(10), cast.clinic_a.time_zone)
    url = f"/api/v1/me/care-plans/{plan['id']}/steps/{session['id']}/book"
    refused = patient.post(url, {"starts_at": timezones.isoformat_z(starts)})
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "outside_window"
    task = next(s for s in plan["steps"] if s["kind"] == "task")
    wrong = patient.post(
        f"/api/v1/me/care-plans/{plan['id']}/steps/{task['id']}/book",
        {"starts_at": timezones.isoformat_z(starts)},
    )
    assert wrong.status_code == 409 and wrong.json()["code"] == "not_an_appointment"


def test_another_patient_cannot_see_or_book_the_plan(cast, api):
    plan = _plan(cast, api)
    other = api(cast.other_patient_user)
    assert other.get(f"/api/v1/me/care-plans/{plan['id']}").status_code == 404
    session = next(s for s in plan["steps"] if s["kind"] == "visit")
    starts = timezones.local_datetime(
        dt.date.fromisoformat(session["due_on"]), dt.time(10), cast.clinic_a.time_zone
    )
    booked = other.post(
        f"/api/v1/me/care-plans/{plan['id']}/steps/{session['id']}/book",
        {"starts_at": timezones.isoformat_z(starts)},
    )
    assert booked.status_code == 404
    assert other.get("/api/v1/me/care-plans").json()["items"] == []


def test_a_task_is_marked_done_in_its_days(cast, api):
    other = {"kind": "task", "task": "other", "title": "Walk 30 minutes", "count": 2, "every_days": 1}
    plan = _plan(cast, api, items=[other, LAB])
    patient = api(cast.patient_user)
    today_step, tomorrow_step = [s for s in plan["steps"] if s["title"] == "Walk 30 minutes"]
    done = patient.post(f"/api/v1/me/care-plans/{plan['id']}/steps/{today_step['id']}/done")
    assert done.status_code == 200 and done.json()["state"] == "done"
    again = patient.post(f"/api/v1/me/care-plans/{plan['id']}/steps/{today_step['id']}/done")
    assert again.status_code == 409 and again.json()["code"] == "step_done"
    early = patient.post(f"/api/v1/me/care-plans/{plan['id']}/steps/{tomorrow_step['id']}/done")
    assert early.status_code == 409 and early.json()["code"] == "step_not_due"
    assert patient.get(f"/api/v1/me/care-plans/{plan['id']}").json()["progress"]["done"] == 1


def test_a_reading_task_is_done_by_recording_the_reading(cast, api):
    plan = _plan(cast, api, items=[BP])
    patient = api(cast.patient_user)
    first = plan["steps"][0]
    refused = patient.post(f"/api/v1/me/care-plans/{plan['id']}/steps/{first['id']}/done")
    assert refused.status_code == 409 and refused.json()["code"] == "record_the_reading"
    recorded = patient.post("/api/v1/me/readings", {"readings": {"8480-6": 124, "8462-4": 79}})
    assert recorded.status_code == 201, recorded.content
    shown = patient.get(f"/api/v1/me/care-plans/{plan['id']}").json()
    assert shown["steps"][0]["state"] == "done" and shown["steps"][1]["state"] == "upcoming"


def test_the_visit_taking_place_completes_the_step(cast, api):
    from shifa.scheduling.actions import appointment_complete
    from shifa.scheduling.models import Appointment

    plan = _plan(cast, api, items=[{**PHYSIO, "first_in_days": 0, "count": 1}])
    session = plan["steps"][0]
    step = CareStep.unscoped.get(external_id=session["id"])
    appointment = Appointment.unscoped.filter(patient=cast.patient).first()
    Appointment.unscoped.filter(pk=appointment.pk).update(status="checked_in")
    CareStep.unscoped.filter(pk=step.pk).update(appointment=appointment)
    from shifa.access.policies import Actor

    actor = Actor(user=cast.staff_a["secretary"], clinic=cast.clinic_a, roles=frozenset({"secretary"}))
    appointment_complete(actor=actor, appointment_id=appointment.external_id)
    step.refresh_from_db()
    assert step.status == "done" and step.done_at is not None


def test_missed_steps_are_flagged_to_the_doctor_once(cast, api):
    plan = _plan(cast, api, items=[BP, LAB])
    later = timezones.now() + dt.timedelta(days=3)
    missed = steps_review(now=later)
    assert missed == 3  # today's, tomorrow's and the day after's readings
    assert steps_review(now=later) == 0
    told = Notification.objects.filter(recipient=cast.staff_a["doctor"], kind="careplan.steps_missed")
    assert told.count() == 1 and "3" in told.get().title
    doctor = api(cast.staff_a["doctor"])
    flagged = doctor.get(f"{base(cast.clinic_a)}/care-plan-steps/missed").json()["items"]
    assert len(flagged) == 3 and {f["plan"]["id"] for f in flagged} == {plan["id"]}
    shown = doctor.get(f"{base(cast.clinic_a)}/care-plans/{plan['id']}").json()
    assert shown["progress"]["missed"] == 3 and shown["status"] == "active"


def test_a_plan_with_nothing_left_to_do_is_completed(cast, api):
    plan = _plan(cast, api, items=[{"kind": "task", "task": "other", "title": "Rest", "count": 1}])
    patient = api(cast.patient_user)
    patient.post(f"/api/v1/me/care-plans/{plan['id']}/steps/{plan['steps'][0]['id']}/done")
    steps_review(now=timezones.now())
    assert CarePlan.unscoped.get(external_id=plan["id"]).status == "completed"


def test_every_problem_of_a_plan_is_reported_at_once(cast, api):
    open_for_booking(cast)
    in_care(cast)
    body = {
        "title": "",
        "items": [{**PHYSIO, "count": 0}, {**BP, "vital_code": "0000-0"}],
        "thresholds": {"8480-6": {"high": 9000}},
        "doctor_id": "0b7c6f7e-7a3c-4c59-9e43-1f0a2d8c9e11",
    }
    response = api(cast.staff_a["doctor"]).post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans", body
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"title", "items.0.count", "thresholds.8480-6.high", "doctor_id"} <= fields
    high = next(e for e in response.json()["errors"] if e["field"] == "thresholds.8480-6.high")
    assert "300" in high["message"] and "300.00" not in high["message"]


def test_a_template_with_an_unknown_visit_type_is_refused():
    errors = plan_items.parse([{**PHYSIO, "visit_type": "teleport"}])[1]
    assert [(e.field, e.code) for e in errors] == [("items.0.visit_type", "invalid_choice")]
