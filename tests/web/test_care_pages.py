"""The patient's care pages (CP-1 … CP-5) through the test client: care plans (booking a step, marking a task done),
medicines (answering doses, moving their times, adherence), readings at home and devices — for oneself and for a
dependant, with the same queries and actions as the patient's API."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from django.test import Client

from shifa.adherence.models import Device, Dose, DoseSchedule, Reading
from shifa.careplans.models import CareStep
from shifa.core import timezones
from shifa.records.models import Patient
from shifa.scheduling.models import Appointment
from tests.conftest import sign_in_page, time_machine
from tests.support.booking import open_for_booking
from tests.support.records import base, committed_visit, in_care

PHYSIO = {"kind": "visit", "title": "Physiotherapy", "count": 4, "every_days": 7, "first_in_days": 1}
BP = {
    "kind": "task",
    "task": "vital",
    "vital_code": "8480-6",
    "title": "Blood pressure",
    "count": 7,
    "every_days": 1,
}
WALK = {"kind": "task", "task": "other", "title": "Walk 30 minutes", "count": 2, "every_days": 1}


def browser(user, language="en") -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def invalid(body: str, control_id: str) -> bool:
    """The form control with this id is marked invalid and its error is shown."""
    control = re.search(rf'<(?:input|select|textarea)[^>]*id="{control_id}"[^>]*>', body)
    return (
        control is not None
        and 'aria-invalid="true"' in control.group(0)
        and f'id="{control_id}_error"' in body
    )


def make_plan(cast, api, patient=None, items=None) -> dict:
    """A plan of clinic A's doctor for the patient (the cast's, or a dependant), made through the API."""
    patient = patient or cast.patient
    doctor = api(cast.staff_a["doctor"])
    body = {"title": "Knee rehabilitation", "goal": "Walk without pain", "items": items or [PHYSIO, BP, WALK]}
    response = doctor.post(f"{base(cast.clinic_a)}/patients/{patient.external_id}/care-plans", body)
    assert response.status_code == 201, response.content
    return response.json()


def ready(cast, api, **kwargs) -> dict:
    open_for_booking(cast)
    in_care(cast)
    return make_plan(cast, api, **kwargs)


def step_of(plan: dict, title: str, number: int = 1) -> dict:
    return [s for s in plan["steps"] if s["title"] == title][number - 1]


def block(body: str, attribute: str, value: str | None = None) -> str:
    """The element (a list item, a form …) carrying ``attribute="value"`` (or the bare attribute), up to the first
    closing tag of its kind."""
    named = rf'{attribute}="{re.escape(value)}"' if value is not None else rf"{attribute}(?=[\s>])"
    found = re.search(rf"<(\w+)\b[^>]*\s{named}[^>]*>.*?</\1>", body, re.S)
    assert found, (attribute, value)
    return found.group(0)


# --- care plans ----------------------------------------------------------------------------------------------------


def test_the_plans_show_progress_and_the_plan_says_what_to_do_now(cast, api):
    plan = ready(cast, api)
    me = browser(cast.patient_user)
    listed = me.get("/app/plans")
    body = listed.content.decode()
    assert listed.status_code == 200
    assert (
        'href="/app/plans" aria-current="page"><span class="tabbar__label">My care</span></a>' in body
    )  # the app's navigation
    card = block(body, "data-plan", plan["id"])
    assert f'href="/app/plans/{plan["id"]}"' in card and "Knee rehabilitation" in card
    assert "0 of 13 done (0%)" in card and "Clinic A" in card

    page = me.get(f"/app/plans/{plan['id']}")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Walk without pain" in body and "doctor of A" in body and "Clinic A" in body
    now = block(body, "data-now")
    session, reading, walk = (
        step_of(plan, "Physiotherapy"),
        step_of(plan, "Blood pressure"),
        step_of(plan, "Walk 30 minutes"),
    )
    # Today: the first session may be booked (its days began), today's reading and today's walk are due.
    for step in (session, reading, walk):
        assert f'data-step="{step["id"]}"' in now
    row = block(now, "data-step", session["id"])
    assert f'href="/app/plans/{plan["id"]}/steps/{session["id"]}"' in row and "Book" in row
    row = block(now, "data-step", reading["id"])
    assert 'href="/app/readings?sign=8480-6#record"' in row and "Due now" in row
    row = block(now, "data-step", walk["id"])
    assert f'action="/app/plans/{plan["id"]}/steps/{walk["id"]}/done"' in row
    # Every step, by item; the second walk is tomorrow's and cannot be marked yet.
    later = block(body, "data-step", step_of(plan, "Walk 30 minutes", 2)["id"])
    assert "Coming up" in later and "/done" not in later
    by_date = me.get(f"/app/plans/{plan['id']}?by=date")
    assert by_date.status_code == 200 and by_date.content.decode().count("data-date=") == 10


def test_booking_a_step_holds_one_slot_even_when_clicked_twice(cast, api):
    plan = ready(cast, api)
    session = step_of(plan, "Physiotherapy")
    me = browser(cast.patient_user)
    shown = me.get(f"/app/plans/{plan['id']}/steps/{session['id']}")
    body = shown.content.decode()
    assert shown.status_code == 200
    slots = re.findall(r'data-slot="([^"]+)"', body)
    assert slots, "the doctor's free times on the session's days"
    days = {dt.date.fromisoformat(d) for d in re.findall(r'data-day="([\d-]+)"', body)}
    today = timezones.to_local(timezones.now(), cast.clinic_a.time_zone).date()
    assert min(days) >= today and max(days) <= dt.date.fromisoformat(session["last_day"])

    url = f"/app/plans/{plan['id']}/steps/{session['id']}/book"
    held = me.post(url, {"starts_at": slots[-1]})
    appointment = Appointment.unscoped.get(patient=cast.patient, status="held")
    assert held.status_code == 302 and held["Location"] == f"/app/appointments/{appointment.external_id}"
    assert appointment.doctor == cast.staff_a["doctor"] and appointment.reason == "Physiotherapy"
    again = me.post(url, {"starts_at": slots[-1]})  # the second click of a double click
    assert again.status_code == 302 and again["Location"] == held["Location"]
    assert Appointment.unscoped.filter(patient=cast.patient, status="held").count() == 1
    assert CareStep.unscoped.get(external_id=session["id"]).appointment == appointment

    confirm = me.get(held["Location"]).content.decode()
    assert "Confirm your appointment" in confirm
    me.post(f"/app/appointments/{appointment.external_id}/step", {"step": "confirm"})
    row = block(me.get(f"/app/plans/{plan['id']}").content.decode(), "data-step", session["id"])
    assert 'data-state="booked"' in row and "See the appointment" in row and "data-appointment-time" in row


def test_a_task_is_marked_done_and_a_second_click_changes_nothing(cast, api):
    plan = ready(cast, api)
    walk = step_of(plan, "Walk 30 minutes")
    me = browser(cast.patient_user)
    url = f"/app/plans/{plan['id']}/steps/{walk['id']}/done"
    done = me.post(url)
    assert done.status_code == 302 and done["Location"] == f"/app/plans/{plan['id']}"
    again = me.post(url)
    assert again.status_code == 302
    page = me.get(f"/app/plans/{plan['id']}").content.decode()
    assert "Done: Walk 30 minutes." in page and "1 of 13 done (8%)" in page
    assert 'data-state="done"' in block(page, "data-step", walk["id"])
    assert CareStep.unscoped.get(external_id=walk["id"]).status == "done"

    tomorrow = step_of(plan, "Walk 30 minutes", 2)
    early = me.post(f"/app/plans/{plan['id']}/steps/{tomorrow['id']}/done")
    assert early.status_code == 409 and "This step is not due yet." in early.content.decode()
    reading = step_of(plan, "Blood pressure")
    refused = me.post(f"/app/plans/{plan['id']}/steps/{reading['id']}/done")
    assert refused.status_code == 409
    assert "Record the reading: the step is then done." in refused.content.decode()


def test_wrong_bookings_are_refused_with_the_reason(cast, api):
    plan = ready(cast, api)
    session = step_of(plan, "Physiotherapy")
    me = browser(cast.patient_user)
    url = f"/app/plans/{plan['id']}/steps/{session['id']}/book"
    for starts_at in ("", "tomorrow at ten", "2030-01-01T10:00:00"):  # nothing, nonsense, a time without zone
        refused = me.post(url, {"starts_at": starts_at})
        assert refused.status_code == 400 and "Choose a time again." in refused.content.decode()
    late = dt.date.fromisoformat(session["last_day"]) + dt.timedelta(days=1)
    outside = timezones.local_datetime(late, dt.time(10), cast.clinic_a.time_zone)
    refused = me.post(url, {"starts_at": timezones.isoformat_z(outside)})
    assert refused.status_code == 400 and "Choose a day from" in refused.content.decode()
    walk = step_of(plan, "Walk 30 minutes")
    task = me.post(
        f"/app/plans/{plan['id']}/steps/{walk['id']}/book", {"starts_at": timezones.isoformat_z(outside)}
    )
    assert task.status_code == 409 and "This step is a task, not an appointment." in task.content.decode()
    assert not Appointment.unscoped.filter(patient=cast.patient, status="held").exists()


# --- medicines -----------------------------------------------------------------------------------------------------


def test_doses_are_answered_from_the_day_and_adherence_is_drawn(cast, api):
    visit = committed_visit(cast, api)  # amoxicillin three times a day, after meals, for 7 days
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    first = Dose.unscoped.filter(schedule=plan).order_by("due_at").first()
    last = Dose.unscoped.filter(schedule=plan).order_by("due_at").last()
    day = timezones.to_local(first.due_at, plan.zone).date()
    me = browser(cast.patient_user)
    with time_machine(first.due_at + dt.timedelta(minutes=5)):
        page = me.get(f"/app/medicines?day={day.isoformat()}")
        body = page.content.decode()
        assert page.status_code == 200
        row = block(body, "data-dose", str(first.external_id))
        assert "Amoxicillin" in row and "500 mg" in row and "1 capsule" in row and "To take" in row
        assert f'action="/app/medicines/doses/{first.external_id}"' in row
        url = f"/app/medicines/doses/{first.external_id}"
        taken = me.post(url, {"status": "taken", "day": day.isoformat()})
        assert taken.status_code == 302
        assert taken["Location"] == f"/app/medicines?day={day.isoformat()}#dose-{first.external_id}"
        assert "Marked as taken: Amoxicillin" in me.get(taken["Location"]).content.decode()
        assert me.post(url, {"status": "taken", "day": day.isoformat()}).status_code == 302  # a double click
        first.refresh_from_db()
        assert first.status == "taken"

        wrong = me.post(url, {"status": "lost"})
        assert wrong.status_code == 400 and "Choose taken or skipped." in wrong.content.decode()
        early = me.post(f"/app/medicines/doses/{last.external_id}", {"status": "taken"})
        assert early.status_code == 409 and "This dose is not due yet." in early.content.decode()
        assert me.get("/app/medicines?day=yesterday").status_code == 400
        assert me.get("/app/medicines?day=9999-12-31").status_code == 400  # not an overflow

        body = me.get(f"/app/medicines?day={day.isoformat()}").content.decode()
        assert 'data-status="taken"' in block(body, "data-dose", str(first.external_id))
        assert re.search(r"data-adherence-percent>100%<", body)  # one dose due so far, taken
        bar = block(body, "data-day", day.isoformat())
        assert 'data-status="taken"' in bar and "1 taken, 0 skipped, 0 missed" in bar
        table = block(body, "data-adherence-table")
        assert f'data-day="{day.isoformat()}"' in table
        assert f'href="/app/medicines/{plan.external_id}/times"' in body  # the medicine reminded, its times


def test_the_patient_moves_the_reminder_times(cast, api):
    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    me = browser(cast.patient_user)
    url = f"/app/medicines/{plan.external_id}/times"
    form = me.get(url)
    body = form.content.decode()
    assert form.status_code == 200
    assert re.findall(r'type="time" name="time_\d" value="([\d:]+)"', body) == plan.times

    bad = me.post(url, {"time_0": "09:00", "time_1": "25:00", "time_2": "21:00"})
    assert bad.status_code == 400 and invalid(bad.content.decode(), "id_time_1")
    same = me.post(url, {"time_0": "09:00", "time_1": "09:00", "time_2": "21:00"})
    assert same.status_code == 400 and "Give one time for each dose of the day." in same.content.decode()

    moved = me.post(url, {"time_0": "09:00", "time_1": "15:00", "time_2": "21:30"})
    assert moved.status_code == 302 and moved["Location"] == "/app/medicines"
    assert me.post(url, {"time_0": "09:00", "time_1": "15:00", "time_2": "21:30"}).status_code == 302
    plan.refresh_from_db()
    assert plan.times == ["09:00", "15:00", "21:30"]
    due = Dose.unscoped.filter(schedule=plan, status="due")
    assert {f"{timezones.to_local(d.due_at, plan.zone):%H:%M}" for d in due} == {"09:00", "15:00", "21:30"}
    assert "now at 09:00, 15:00, 21:30" in me.get("/app/medicines").content.decode()


# --- readings and devices ------------------------------------------------------------------------------------------


def test_a_reading_is_recorded_once_charted_and_completes_the_plans_task(cast, api):
    plan = ready(cast, api, items=[BP])
    nurse = api(cast.staff_a["nurse"])
    at_clinic = nurse.post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/vitals",
        {
            "readings": {"8480-6": 135, "8462-4": 88},
            "taken_at": timezones.isoformat_z(timezones.now() - dt.timedelta(days=2)),
        },
    )
    assert at_clinic.status_code == 201, at_clinic.content
    me = browser(cast.patient_user)
    page = me.get("/app/readings?sign=8480-6")
    body = page.content.decode()
    assert page.status_code == 200
    token = re.search(r'name="once" value="(\w+)"', body).group(1)
    form = {
        "sign": "bp",
        "systolic": "128",
        "diastolic": "٨٢",
        "once": token,
    }  # Arabic digits are numbers too
    saved = me.post("/app/readings/record", form)
    assert saved.status_code == 302 and saved["Location"] == "/app/readings"
    again = me.post("/app/readings/record", form)  # a double click
    assert again.status_code == 302
    rows = Reading.objects.filter(patient=cast.patient).order_by("kind__code")
    assert [(r.kind.code, r.value, r.source) for r in rows] == [
        ("8462-4", 82, "patient"),
        ("8480-6", 128, "patient"),
    ]
    step = CareStep.unscoped.get(external_id=plan["steps"][0]["id"])
    assert step.status == "done"  # today's reading task

    body = me.get("/app/readings").content.decode()
    assert "Blood pressure saved: 128/٨٢ mmHg." in body
    chart = block(body, "data-vital-chart", "8480-6")
    assert chart.count('data-where="clinic"') >= 1 and chart.count('data-where="home"') >= 1
    assert "At home" in chart and "At a clinic" in chart

    weight = me.post("/app/readings/record", {"sign": "29463-7", "value": "72.5"})
    assert weight.status_code == 302
    assert Reading.objects.get(patient=cast.patient, kind__code="29463-7").value == dt_decimal("72.5")


def dt_decimal(text: str):
    from decimal import Decimal

    return Decimal(text)


def test_wrong_readings_are_400_with_the_field_named(cast):
    me = browser(cast.patient_user)
    future = (timezones.to_local(timezones.now()) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    cases = [
        ({"sign": "bp", "systolic": "abc", "diastolic": "80"}, "bp_systolic", "Enter a number."),
        ({"sign": "bp", "systolic": "420", "diastolic": "80"}, "bp_systolic", "must be between"),
        ({"sign": "bp", "systolic": "120"}, "bp_diastolic", "This field is required."),
        (
            {"sign": "bp", "systolic": "120", "diastolic": "80", "taken_at": future},
            "bp_taken_at",
            "in the future",
        ),
        ({"sign": "8867-4", "value": ""}, "sign_value", "This field is required."),
        ({"sign": "0000-0", "value": "7"}, "sign_sign", "Select a valid choice."),
    ]
    for form, control, message in cases:
        refused = me.post("/app/readings/record", form)
        body = refused.content.decode()
        assert refused.status_code == 400, form
        assert invalid(body, control) and message in body, (form, control)
    assert not Reading.objects.exists()


def test_a_device_is_registered_with_its_secret_shown_once_and_removed(cast, api):
    me = browser(cast.patient_user)
    token = re.search(r'name="once" value="(\w+)"', me.get("/app/readings").content.decode()).group(1)
    form = {"kind": "bp_cuff", "name": "Cuff in the kitchen", "once": token}
    answer = me.post("/app/readings/devices", form)
    body = answer.content.decode()
    device = Device.objects.get(patient=cast.patient)
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    secret = re.search(r"data-secret>([^<]+)<", body).group(1)
    assert f"devices/{device.external_id}/readings" in body
    assert f"/api/v1/devices/{device.external_id}/readings" in body and "X-Device-Secret" in body
    sent = api().post(
        f"/api/v1/devices/{device.external_id}/readings",
        {"readings": {"8867-4": 71}},
        headers={"X-Device-Secret": secret},
    )
    assert sent.status_code == 201, sent.content

    repeated = me.post("/app/readings/devices", form)  # the same form again: no second device
    assert repeated.status_code == 200 and "data-secret" not in repeated.content.decode()
    assert "registered by your first click" in repeated.content.decode()
    assert Device.objects.filter(patient=cast.patient).count() == 1
    assert "data-secret" not in me.get("/app/readings").content.decode()

    bad = me.post("/app/readings/devices", {"kind": "toaster", "name": "x"})
    assert bad.status_code == 400 and invalid(bad.content.decode(), "id_kind")

    url = f"/app/readings/devices/{device.external_id}/remove"
    removed = me.post(url)
    assert removed.status_code == 302 and removed["Location"] == "/app/readings#devices"
    assert me.post(url).status_code == 302  # a double click
    device.refresh_from_db()
    assert device.status == "revoked"
    page = me.get("/app/readings").content.decode()
    assert "Cuff in the kitchen is removed." in page
    assert f"/app/readings/devices/{device.external_id}/remove" not in page


# --- dependants ----------------------------------------------------------------------------------------------------


def test_every_page_opens_a_dependants_care(cast, api):
    open_for_booking(cast)
    child = Patient.objects.create(full_name="Lina", guardian=cast.patient, relation="child")
    in_care(cast, child)
    plan = make_plan(cast, api, patient=child)
    me = browser(cast.patient_user)
    whose = f"patient={child.external_id}"

    mine = me.get("/app/plans").content.decode()
    assert plan["id"] not in mine and f"/app/plans?{whose}" in mine  # the switcher
    theirs = me.get(f"/app/plans?{whose}").content.decode()
    assert "Care plans of <bdi>Lina</bdi>" in theirs and f'href="/app/plans/{plan["id"]}?{whose}"' in theirs
    assert plan["id"] in me.get(f"/app/plans?patient_id={child.external_id}").content.decode()
    page = me.get(f"/app/plans/{plan['id']}?{whose}").content.decode()
    session = step_of(plan, "Physiotherapy")
    row = block(page, "data-step", session["id"])
    assert "Call the clinic to book it." in row and "data-book" not in row
    walk = step_of(plan, "Walk 30 minutes")
    done = me.post(f"/app/plans/{plan['id']}/steps/{walk['id']}/done")
    assert done.status_code == 302 and done["Location"] == f"/app/plans/{plan['id']}?{whose}"

    medicines = me.get(f"/app/medicines?{whose}")
    assert medicines.status_code == 200 and "Medicines of <bdi>Lina</bdi>" in medicines.content.decode()
    readings = me.get(f"/app/readings?{whose}")
    body = readings.content.decode()
    assert readings.status_code == 200 and f'name="patient" value="{child.external_id}"' in body
    saved = me.post(
        "/app/readings/record", {"sign": "8310-5", "value": "38.2", "patient": str(child.external_id)}
    )
    assert saved.status_code == 302 and saved["Location"] == f"/app/readings?{whose}"
    assert Reading.objects.get(kind__code="8310-5").patient == child
    registered = me.post(
        "/app/readings/devices", {"kind": "thermometer", "name": "", "patient": str(child.external_id)}
    )
    assert registered.status_code == 200 and Device.objects.get().patient == child
    assert "data-secret" in registered.content.decode()


def test_a_dependants_doses_are_answered_by_the_guardian(cast, api):
    open_for_booking(cast)
    child = Patient.objects.create(full_name="Lina", guardian=cast.patient, relation="child")
    doctor = api(cast.staff_a["doctor"])
    from tests.support.records import document, open_visit

    visit = open_visit(doctor, cast.clinic_a, in_care(cast, child))
    document(doctor, cast.clinic_a, visit["id"])
    assert doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit").status_code == 200
    plan = DoseSchedule.unscoped.get(patient=child)
    first = Dose.unscoped.filter(schedule=plan).order_by("due_at").first()
    day = timezones.to_local(first.due_at, plan.zone).date()
    me = browser(cast.patient_user)
    with time_machine(first.due_at):
        page = me.get(f"/app/medicines?patient={child.external_id}&day={day.isoformat()}")
        assert str(first.external_id) in page.content.decode()
        answered = me.post(
            f"/app/medicines/doses/{first.external_id}",
            {"status": "skipped", "day": day.isoformat(), "patient": str(child.external_id)},
        )
        assert answered["Location"].startswith(f"/app/medicines?patient={child.external_id}&day=")
    first.refresh_from_db()
    assert first.status == "skipped"
    times = me.get(f"/app/medicines/{plan.external_id}/times?patient={child.external_id}")
    assert times.status_code == 200 and "Lina" in times.content.decode()
    moved = me.post(
        f"/app/medicines/{plan.external_id}/times?patient={child.external_id}",
        {"time_0": "07:00", "time_1": "13:00", "time_2": "19:00"},
    )
    assert moved.status_code == 302 and moved["Location"] == f"/app/medicines?patient={child.external_id}"


# --- someone else's ------------------------------------------------------------------------------------------------


def test_another_patients_plans_doses_schedules_and_devices_are_not_found(cast, api):
    plan = ready(cast, api)
    session, walk = step_of(plan, "Physiotherapy"), step_of(plan, "Walk 30 minutes")
    visit_schedule = DoseSchedule.unscoped.get(
        prescription__visit__external_id=committed_visit_again(cast, api)["id"]
    )
    dose = Dose.unscoped.filter(schedule=visit_schedule).first()
    mine = browser(cast.patient_user)
    token = re.search(r'name="once" value="(\w+)"', mine.get("/app/readings").content.decode()).group(1)
    mine.post("/app/readings/devices", {"kind": "scale", "name": "Scale", "once": token})
    device = Device.objects.get(patient=cast.patient)

    other = browser(cast.other_patient_user)
    someone = f"patient={cast.patient.external_id}"
    for url in (
        f"/app/plans/{plan['id']}",
        f"/app/plans/{plan['id']}/steps/{session['id']}",
        f"/app/plans/{uuid.uuid4()}",
        f"/app/plans?{someone}",
        f"/app/medicines?{someone}",
        f"/app/readings?{someone}",
        "/app/plans?patient=not-an-id",
        f"/app/medicines/{visit_schedule.external_id}/times",
    ):
        assert other.get(url).status_code == 404, url
    starts = timezones.isoformat_z(timezones.now() + dt.timedelta(days=1))
    for url, form in (
        (f"/app/plans/{plan['id']}/steps/{session['id']}/book", {"starts_at": starts}),
        (f"/app/plans/{plan['id']}/steps/{walk['id']}/done", {}),
        (f"/app/medicines/doses/{dose.external_id}", {"status": "taken"}),
        (f"/app/medicines/{visit_schedule.external_id}/times", {"time_0": "09:00"}),
        (f"/app/readings/devices/{device.external_id}/remove", {}),
        ("/app/readings/record", {"sign": "8867-4", "value": "70", "patient": str(cast.patient.external_id)}),
    ):
        assert other.post(url, form).status_code == 404, url
    assert CareStep.unscoped.get(external_id=walk["id"]).status == "open"
    assert (
        Dose.unscoped.get(pk=dose.pk).status == "due" and Device.objects.get(pk=device.pk).status == "active"
    )
    assert not Appointment.unscoped.filter(status="held").exists() and not Reading.objects.exists()


def committed_visit_again(cast, api) -> dict:
    """A committed visit with amoxicillin for the cast's patient, clinic A already open for booking."""
    from tests.support.records import document, open_visit

    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast, hours=3))
    document(doctor, cast.clinic_a, visit["id"])
    assert doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit").status_code == 200
    return visit


def test_the_care_pages_are_in_arabic_right_to_left(cast, api):
    plan = ready(cast, api)
    me = browser(cast.patient_user, "ar")
    for url in (f"/app/plans/{plan['id']}", "/app/medicines", "/app/readings", "/app/plans"):
        response = me.get(url)
        assert response.status_code == 200, url
        assert 'dir="rtl"' in response.content.decode()
    home = me.get("/app").content.decode()
    for link in ("/app/plans", "/app/medicines", "/app/readings"):
        assert f'href="{link}"' in home


def test_the_plan_pages_do_not_query_per_step(cast, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = ready(cast, api, items=[WALK])
    big = make_plan(cast, api, items=[{**PHYSIO, "count": 20}, {**BP, "count": 60}, WALK])
    me = browser(cast.patient_user)
    counts = []
    for url in (f"/app/plans/{small['id']}", f"/app/plans/{big['id']}", f"/app/plans/{big['id']}?by=date"):
        with CaptureQueriesContext(connection) as queries:
            assert me.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2] <= 12, counts
