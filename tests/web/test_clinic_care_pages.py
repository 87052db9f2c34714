"""The clinic console's care pages, through the test client: care plans (made from a template or from scratch,
stopped), their templates, the missed steps, alerts from home readings, and the chart's care plan and medication
adherence sections."""

from __future__ import annotations

import datetime as dt
import re

from django.test import Client

from shifa.adherence.models import Alert, Dose, DoseSchedule
from shifa.careplans.models import CarePlan, CarePlanTemplate, CareStep
from shifa.core import timezones
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking
from tests.support.records import base, committed_visit, in_care

BP_TASK = {
    "kind": "task",
    "task": "vital",
    "vital_code": "8480-6",
    "title": "Blood pressure",
    "count": 7,
    "every_days": 1,
}
SESSIONS = {
    "kind": "visit",
    "title": "Physiotherapy session",
    "count": 4,
    "every_days": 7,
    "first_in_days": 7,
}


def browser(user, language="en"):
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def clinic_url(cast, rest: str = "") -> str:
    return f"/clinic/{cast.clinic_a.external_id}{rest}"


def new_plan_url(cast) -> str:
    return clinic_url(cast, f"/patients/{cast.patient.external_id}/plans/new")


def _ready(cast):
    """Clinic A takes bookings and the cast's patient is in its care."""
    open_for_booking(cast)
    in_care(cast)


def _api_plan(cast, api, items=None, thresholds=None) -> CarePlan:
    body = {"title": "Blood pressure control", "items": items or [BP_TASK, SESSIONS]}
    if thresholds:
        body["thresholds"] = thresholds
    response = api(cast.staff_a["doctor"]).post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans", body
    )
    assert response.status_code == 201, response.content
    return CarePlan.unscoped.get(external_id=response.json()["id"])


def _template(cast, name="Knee rehabilitation", items=None) -> CarePlanTemplate:
    return CarePlanTemplate.unscoped.create(
        clinic=cast.clinic_a,
        name=name,
        goal="Walk without pain",
        items=items or [SESSIONS, {"kind": "task", "task": "lab", "title": "X-ray", "first_in_days": 30}],
        created_by=cast.staff_a["doctor"],
    )


def _alert(cast, api, value=175) -> Alert:
    response = api(cast.patient_user).post("/api/v1/me/readings", {"readings": {"8480-6": value}})
    assert response.status_code == 201, response.content
    return Alert.unscoped.filter(reading__value=value).order_by("pk").first()


def _rows(*items, start: int = 0) -> dict:
    """Form fields of item rows (``start``: the index of the first row filled)."""
    data = {}
    for index, item in enumerate(items, start=start):
        item = dict(item)
        kind = item.pop("kind")
        sort = item.pop("task", None) if kind == "task" else item.pop("visit_type", "office")
        data[f"item-{index}-what"] = f"{kind}:{sort or 'other'}"
        for key, value in item.items():
            data[f"item-{index}-{key}"] = str(value)
    # every row sends its select, as a browser does
    for index in range(max(6, start + len(items))):
        data.setdefault(f"item-{index}-what", "visit:office")
    return data


def _error(page: str, name: str) -> str:
    match = re.search(rf'data-error="{re.escape(name)}"[^>]*>([^<]*)<', page)
    assert match, f"no error shown for {name}"
    return match.group(1)


# --- every page for a doctor -------------------------------------------------------------------------------------


def test_every_care_page_renders_for_a_doctor(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api, thresholds={"8480-6": {"high": 150}})
    template = _template(cast)
    alert = _alert(cast, api)
    doctor = browser(cast.staff_a["doctor"])
    pages = {
        "/plans": ["Blood pressure control", "Missed steps"],
        f"/plans/{plan.external_id}": ["Physiotherapy session", "Stop the plan", "150"],
        f"/patients/{cast.patient.external_id}/plans/new": ["Knee rehabilitation", "Make the plan"],
        "/plan-templates": ["Knee rehabilitation", "New template"],
        "/plan-templates/new": ["Save the template"],
        f"/plan-templates/{template.external_id}": ["Walk without pain", "Physiotherapy session"],
        "/alerts": [str(alert.external_id), "Acknowledge"],
        f"/patients/{cast.patient.external_id}": ["Care plans", "Medication adherence", "New care plan"],
    }
    for rest, expected in pages.items():
        response = doctor.get(clinic_url(cast, rest))
        assert response.status_code == 200, (rest, response.status_code)
        page = response.content.decode()
        for text in expected:
            assert text in page, (rest, text)
    nav = doctor.get(clinic_url(cast, "/plans")).content.decode()
    assert f'href="{clinic_url(cast, "/alerts")}"' in nav
    assert re.search(r'href="[^"]*/plans"\s+aria-current="page"', nav)


def test_the_plans_page_lists_missed_steps_to_call(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api)
    step = CareStep.unscoped.filter(plan=plan).order_by("due_on").first()
    CareStep.unscoped.filter(pk=step.pk).update(status="missed", missed_at=timezones.now())
    type(cast.patient).objects.filter(pk=cast.patient.pk).update(phone="+962791234567")
    page = browser(cast.staff_a["nurse"]).get(clinic_url(cast, "/plans")).content.decode()
    missed = page.split("data-missed>")[1].split("</section>")[0]
    assert f'data-missed-step="{step.external_id}"' in missed and "+962791234567" in missed
    assert 'class="badge badge--danger">1 missed' in page


# --- who may do what ------------------------------------------------------------------------------------------------


def test_a_nurse_sees_plans_and_alerts_and_acknowledges_but_does_not_make_plans(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api)
    template = _template(cast)
    alert = _alert(cast, api)
    nurse = browser(cast.staff_a["nurse"])
    for rest in ("/plans", f"/plans/{plan.external_id}", "/plan-templates", "/alerts"):
        assert nurse.get(clinic_url(cast, rest)).status_code == 200, rest
    plan_page = nurse.get(clinic_url(cast, f"/plans/{plan.external_id}")).content.decode()
    assert "Stop the plan" not in plan_page
    chart = nurse.get(clinic_url(cast, f"/patients/{cast.patient.external_id}")).content.decode()
    assert "Care plans" in chart and "New care plan" not in chart
    refused = {
        ("GET", new_plan_url(cast)),
        ("POST", new_plan_url(cast)),
        ("GET", clinic_url(cast, "/plan-templates/new")),
        ("POST", clinic_url(cast, "/plan-templates/new")),
        ("POST", clinic_url(cast, f"/plan-templates/{template.external_id}")),
        ("POST", clinic_url(cast, f"/plan-templates/{template.external_id}/retire")),
        ("POST", clinic_url(cast, f"/plans/{plan.external_id}/stop")),
    }
    for method, url in refused:
        body = {"title": "X", **_rows(BP_TASK)} if method == "POST" else None
        response = nurse.post(url, body) if method == "POST" else nurse.get(url)
        assert response.status_code == 403, (method, url, response.status_code)
    assert CarePlan.unscoped.count() == 1
    seen = nurse.post(clinic_url(cast, f"/alerts/{alert.external_id}/acknowledge"))
    assert seen.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == cast.staff_a["nurse"]


def test_a_secretary_gets_403_on_the_care_pages(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api)
    alert = _alert(cast, api)
    secretary = browser(cast.staff_a["secretary"])
    for rest in ("/plans", f"/plans/{plan.external_id}", "/plan-templates", "/alerts", "/plan-templates/new"):
        assert secretary.get(clinic_url(cast, rest)).status_code == 403, rest
    assert secretary.get(new_plan_url(cast)).status_code == 403
    assert secretary.post(clinic_url(cast, f"/alerts/{alert.external_id}/acknowledge")).status_code == 403
    nav = secretary.get(clinic_url(cast)).content.decode()
    assert clinic_url(cast, "/plans") not in nav and clinic_url(cast, "/alerts") not in nav


def test_another_clinics_doctor_gets_404_for_clinic_a_ids(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api)
    template = _template(cast)
    alert = _alert(cast, api)
    visit = committed_visit_line(cast, api)
    other = browser(cast.doctor_b)
    b = f"/clinic/{cast.clinic_b.external_id}"
    for url in (
        f"{b}/plans/{plan.external_id}",
        f"{b}/plan-templates/{template.external_id}",
        f"{b}/patients/{cast.patient.external_id}/plans/new",
    ):
        assert other.get(url).status_code == 404, url
    for url, body in (
        (f"{b}/plans/{plan.external_id}/stop", {"reason": "x"}),
        (f"{b}/alerts/{alert.external_id}/acknowledge", {}),
        (f"{b}/plan-templates/{template.external_id}/retire", {}),
        (f"{b}/plan-templates/{template.external_id}", {"name": "Mine", **_rows(BP_TASK)}),
        (f"{b}/prescriptions/{visit}/stop", {"reason": "x"}),
        (f"{b}/patients/{cast.patient.external_id}/plans/new", {"title": "Mine", **_rows(BP_TASK)}),
    ):
        assert other.post(url, body).status_code == 404, url
    # … and clinic A's pages are not theirs at all.
    assert other.get(clinic_url(cast, f"/plans/{plan.external_id}")).status_code == 404
    plan.refresh_from_db()
    alert.refresh_from_db()
    template.refresh_from_db()
    assert plan.status == "active" and alert.acknowledged_at is None and template.is_active
    assert DoseSchedule.unscoped.get().status == "active"
    assert CarePlan.unscoped.count() == 1


def committed_visit_line(cast, api) -> str:
    """A prescription line of a committed visit at clinic A (with its reminders); needs ``_ready`` first."""
    from tests.support.records import document, open_visit

    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast, hours=2))
    line = document(doctor, cast.clinic_a, visit["id"])
    assert doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit").status_code == 200
    return line["id"]


# --- making plans ---------------------------------------------------------------------------------------------------


def test_a_doctor_makes_a_plan_from_scratch_and_a_double_submit_makes_one(cast, api):
    _ready(cast)
    doctor = browser(cast.staff_a["doctor"])
    form = doctor.get(new_plan_url(cast)).content.decode()
    token = re.search(r'name="once" value="([0-9a-f]+)"', form).group(1)
    assert len(re.findall(r'name="item-\d+-title"', form)) == 6
    starts = timezones.to_local(timezones.now(), cast.clinic_a.time_zone).date() + dt.timedelta(days=1)
    body = {
        "once": token,
        "title": "Blood pressure control",
        "goal": "Below 140/90",
        "starts_on": starts.isoformat(),
        "doctor_id": str(cast.staff_a["doctor"].external_id),
        # the first row left empty, then two items
        **_rows(
            {"kind": "task", "task": "vital", "vital_code": "8480-6", "title": "Blood pressure", "count": 14},
            {
                "kind": "visit",
                "visit_type": "video",
                "title": "Review",
                "first_in_days": 14,
                "window_days": 2,
            },
            start=1,
        ),
        "th-high_8480-6": "145",
        "th-low_8480-6": "95",
        "th-high_2339-0": "180",
    }
    body["item-1-every_days"] = "1"
    made = doctor.post(new_plan_url(cast), body)
    assert made.status_code == 302, made.content.decode()[:2000]
    plan = CarePlan.unscoped.get()
    assert made.url == clinic_url(cast, f"/plans/{plan.external_id}")
    assert (plan.title, plan.goal, plan.starts_on, plan.doctor) == (
        "Blood pressure control",
        "Below 140/90",
        starts,
        cast.staff_a["doctor"],
    )
    assert plan.thresholds == {"8480-6": {"low": "95", "high": "145"}, "2339-0": {"high": "180"}}
    assert [(i["kind"], i["title"], i["count"]) for i in plan.items] == [
        ("task", "Blood pressure", 14),
        ("visit", "Review", 1),
    ]
    assert plan.items[1]["visit_type"] == "video" and plan.items[1]["window_days"] == 2
    assert CareStep.unscoped.filter(plan=plan).count() == 15
    # The same form sent again (a double click, or the browser resending it) makes nothing new.
    again = doctor.post(new_plan_url(cast), body)
    assert again.status_code == 302 and again.url == made.url
    assert CarePlan.unscoped.count() == 1
    # Back in the browser, changed and sent again: refused once, with a new token to send it anew.
    changed = doctor.post(new_plan_url(cast), {**body, "title": "Another plan"})
    assert changed.status_code == 409 and "already saved once" in changed.content.decode()
    fresh = re.search(r'name="once" value="([0-9a-f]+)"', changed.content.decode()).group(1)
    assert fresh != token and CarePlan.unscoped.count() == 1
    assert (
        doctor.post(new_plan_url(cast), {**body, "title": "Another plan", "once": fresh}).status_code == 302
    )
    assert CarePlan.unscoped.count() == 2
    page = doctor.get(made.url).content.decode()
    assert "Review" in page and "145" in page and 'data-plan-status="active"' in page


def test_a_doctor_makes_a_plan_from_a_template(cast, api):
    _ready(cast)
    template = _template(cast)
    doctor = browser(cast.staff_a["doctor"])
    form = doctor.get(f"{new_plan_url(cast)}?template={template.external_id}")
    page = form.content.decode()
    assert form.status_code == 200
    assert 'value="Physiotherapy session"' in page and 'value="X-ray"' in page
    assert f'name="template_id" value="{template.external_id}"' in page
    # The doctor sends the form as filled in, with one more session than the template says.
    fields = {
        "once": re.search(r'name="once" value="([0-9a-f]+)"', page).group(1),
        "template_id": str(template.external_id),
        "title": "Knee rehabilitation",
        "goal": "Walk without pain",
        "doctor_id": str(cast.staff_a["doctor"].external_id),
        **_rows(
            {**SESSIONS, "count": 5}, {"kind": "task", "task": "lab", "title": "X-ray", "first_in_days": 30}
        ),
    }
    made = doctor.post(new_plan_url(cast), fields)
    assert made.status_code == 302, made.content.decode()[:2000]
    plan = CarePlan.unscoped.get()
    assert plan.template == template and plan.title == "Knee rehabilitation"
    assert [i["title"] for i in plan.items] == ["Physiotherapy session", "X-ray"]
    assert CareStep.unscoped.filter(plan=plan, kind="visit").count() == 5
    assert "Knee rehabilitation" in doctor.get(made.url).content.decode()


def test_bad_item_rows_give_400_with_the_error_next_to_the_input_and_nothing_is_made(cast, api):
    _ready(cast)
    doctor = browser(cast.staff_a["doctor"])
    body = {
        "title": "Rehabilitation",
        # row 0 empty; row 1 fine; row 2 a count of 0; row 3 a window reaching the next step; row 4 no sign
        **_rows(
            {"kind": "visit", "title": "Session", "count": 3, "every_days": 7},
            {"kind": "task", "task": "other", "title": "Walk", "count": 0},
            {"kind": "visit", "title": "Check", "count": 3, "every_days": 2, "window_days": 1},
            {"kind": "task", "task": "vital", "title": "Pressure"},
            start=1,
        ),
    }
    refused = doctor.post(new_plan_url(cast), body)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert _error(page, "item-2-count") == "Enter a number from 1 to 366."
    assert "must not reach the next one" in _error(page, "item-3-window_days")
    assert _error(page, "item-4-vital_code") == "This field is required."
    assert 'value="Walk"' in page  # what was typed stays
    fine = _rows({"kind": "visit", "title": "Session", "count": 3, "every_days": 7})
    # a limit that is not a number, and one outside what the sign can be
    refused = doctor.post(
        new_plan_url(cast),
        {"title": "Rehabilitation", **fine, "th-high_8480-6": "lots", "th-low_2339-0": "5"},
    )
    assert refused.status_code == 400
    page = refused.content.decode()
    assert _error(page, "th-high_8480-6") == "Enter a number."
    assert _error(page, "th-low_2339-0").startswith("Enter a number from 10")
    # a visit type the doctor does not offer
    from shifa.directory.models import DoctorProfile

    DoctorProfile.unscoped.filter(doctor=cast.staff_a["doctor"]).update(minutes={"office": 30})
    home = _rows({"kind": "visit", "visit_type": "home", "title": "Home session"})
    refused = doctor.post(new_plan_url(cast), {"title": "Rehabilitation", **home})
    assert refused.status_code == 400
    assert "does not offer" in _error(refused.content.decode(), "item-0-what")
    # no title; no rows at all; a start date too far ahead
    refused = doctor.post(new_plan_url(cast), {"title": "", **fine})
    assert refused.status_code == 400 and 'id="id_title_error"' in refused.content.decode()
    refused = doctor.post(new_plan_url(cast), {"title": "Rehabilitation", **_rows()})
    assert refused.status_code == 400 and "data-items-error" in refused.content.decode()
    far = (timezones.now() + dt.timedelta(days=800)).date().isoformat()
    refused = doctor.post(new_plan_url(cast), {"title": "Rehabilitation", "starts_on": far, **fine})
    assert refused.status_code == 400 and 'id="id_starts_on_error"' in refused.content.decode()
    assert not CarePlan.unscoped.exists() and not CareStep.unscoped.exists()


def test_more_rows_are_added_without_saving(cast, api):
    _ready(cast)
    doctor = browser(cast.staff_a["doctor"])
    response = doctor.post(new_plan_url(cast), {"title": "Long plan", "more_rows": "1", **_rows(BP_TASK)})
    assert response.status_code == 200
    page = response.content.decode()
    assert len(re.findall(r'name="item-\d+-title"', page)) == 9
    assert 'value="Blood pressure"' in page
    assert not CarePlan.unscoped.exists()


def test_a_doctor_stops_a_plan(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api)
    doctor = browser(cast.staff_a["doctor"])
    stop = clinic_url(cast, f"/plans/{plan.external_id}/stop")
    too_long = doctor.post(stop, {"reason": "x" * 301})
    assert too_long.status_code == 400 and 'id="id_reason_error"' in too_long.content.decode()
    stopped = doctor.post(stop, {"reason": "Moved to Irbid"})
    assert stopped.status_code == 302
    plan.refresh_from_db()
    assert plan.status == "stopped" and plan.end_reason == "Moved to Irbid"
    assert not CareStep.unscoped.filter(plan=plan, status="open").exists()
    page = doctor.get(stopped.url).content.decode()
    assert 'data-plan-status="stopped"' in page and "Moved to Irbid" in page
    # A second click: the plan has already ended.
    again = doctor.post(stop, {"reason": "Moved to Irbid"})
    assert again.status_code == 409 and "already ended" in again.content.decode()


# --- templates ------------------------------------------------------------------------------------------------------


def test_a_doctor_writes_changes_and_retires_a_template(cast, api):
    _ready(cast)
    doctor = browser(cast.staff_a["doctor"])
    new = clinic_url(cast, "/plan-templates/new")
    bad = doctor.post(new, {"name": "", **_rows({"kind": "visit", "title": "Session", "count": 2})})
    assert bad.status_code == 400
    page = bad.content.decode()
    assert "This field is required." in page and "Session" in page
    assert not CarePlanTemplate.unscoped.exists()
    saved = doctor.post(new, {"name": "Diabetes follow-up", "goal": "HbA1c below 7", **_rows(BP_TASK)})
    assert saved.status_code == 302
    template = CarePlanTemplate.unscoped.get()
    assert template.items[0]["vital_code"] == "8480-6" and template.items[0]["count"] == 7
    duplicate = doctor.post(new, {"name": "diabetes follow-up", **_rows(BP_TASK)})
    assert (
        duplicate.status_code == 400 and "already has a template with this name" in duplicate.content.decode()
    )
    edit = clinic_url(cast, f"/plan-templates/{template.external_id}")
    changed = doctor.post(
        edit,
        {
            "name": "Diabetes follow-up",
            **_rows(BP_TASK, {"kind": "task", "task": "lab", "title": "HbA1c", "first_in_days": 90}),
        },
    )
    assert changed.status_code == 302
    template.refresh_from_db()
    assert [i["title"] for i in template.items] == ["Blood pressure", "HbA1c"]
    listed = doctor.get(clinic_url(cast, "/plan-templates")).content.decode()
    assert "HbA1c" in listed and "7 times, every day" in listed
    retired = doctor.post(f"{edit}/retire")
    assert retired.status_code == 302
    template.refresh_from_db()
    assert not template.is_active
    assert f'data-template="{template.external_id}"' not in doctor.get(retired.url).content.decode()
    assert doctor.get(edit).status_code == 404


# --- alerts ---------------------------------------------------------------------------------------------------------


def test_acknowledging_an_alert(cast, api):
    _ready(cast)
    plan = _api_plan(cast, api, thresholds={"8480-6": {"high": 150}})
    alert = _alert(cast, api, value=175)
    doctor = browser(cast.staff_a["doctor"])
    page = doctor.get(clinic_url(cast, "/alerts")).content.decode()
    row = page.split(f'data-alert="{alert.external_id}"')[1].split("</tr>")[0]
    assert "175" in row and "150" in row and "Systolic blood pressure" in row and "High" in row
    assert f"/patients/{cast.patient.external_id}" in row and f"/plans/{plan.external_id}" in row
    assert "Entered by the patient" in row
    seen = doctor.post(clinic_url(cast, f"/alerts/{alert.external_id}/acknowledge"))
    assert seen.status_code == 302 and seen.url == clinic_url(cast, "/alerts")
    alert.refresh_from_db()
    first = alert.acknowledged_at
    assert first is not None and alert.acknowledged_by == cast.staff_a["doctor"]
    # A second click changes nothing.
    assert (
        doctor.post(clinic_url(cast, f"/alerts/{alert.external_id}/acknowledge"), {"all": "1"}).status_code
        == 302
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at == first
    assert f'data-alert="{alert.external_id}"' not in doctor.get(clinic_url(cast, "/alerts")).content.decode()
    every = doctor.get(clinic_url(cast, "/alerts?all=1")).content.decode()
    assert f'data-alert="{alert.external_id}"' in every and "data-acknowledged" in every


# --- the chart ------------------------------------------------------------------------------------------------------


def test_the_chart_shows_plans_adherence_and_home_readings(cast, api):
    visit = committed_visit(cast, api)  # amoxicillin three times a day, with its reminders
    schedule = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    now = timezones.now()
    doses = list(Dose.unscoped.filter(schedule=schedule).order_by("due_at")[:4])
    for hours, (dose, status) in enumerate(zip(doses, ["taken", "taken", "skipped", "missed"], strict=True)):
        Dose.unscoped.filter(pk=dose.pk).update(due_at=now - dt.timedelta(hours=1 + hours), status=status)
    plan = _api_plan(cast, api, items=[BP_TASK])
    api(cast.patient_user).post("/api/v1/me/readings", {"readings": {"8480-6": 131}})
    doctor = browser(cast.staff_a["doctor"])
    page = doctor.get(clinic_url(cast, f"/patients/{cast.patient.external_id}")).content.decode()
    plans = page.split("data-care-plans")[1].split("</section>")[0]
    assert f'data-plan="{plan.external_id}"' in plans and "Blood pressure control" in plans
    assert "New care plan" in plans
    adherence = page.split("data-adherence>")[1].split("</section>")[0]
    assert 'data-adherence-percent="50"' in adherence
    assert adherence.count('data-part="taken"') >= 1 and 'data-part="missed"' in adherence
    assert "<table data-adherence-days>" in adherence  # the text alternative of the bars
    assert f'data-schedule="{schedule.external_id}"' in adherence and "Amoxicillin" in adherence
    assert "Stop the reminders of" in adherence
    # The systolic pressure the plan follows is charted, the home reading drawn apart from clinic ones.
    vitals = page.split('data-vital-chart="8480-6"')[1].split("</figure>")[0]
    assert 'data-source="patient"' in vitals and "data-home-legend" in vitals
    # A nurse sees the same, without the doctor's buttons.
    nurse = browser(cast.staff_a["nurse"]).get(clinic_url(cast, f"/patients/{cast.patient.external_id}"))
    assert "Stop the reminders of" not in nurse.content.decode()
    assert "New care plan" not in nurse.content.decode()


def test_a_doctor_stops_a_medicines_reminders_from_the_chart(cast, api):
    visit = committed_visit(cast, api)
    schedule = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    line = visit["prescriptions"][0]["id"]
    chart = clinic_url(cast, f"/patients/{cast.patient.external_id}")
    stop = clinic_url(cast, f"/prescriptions/{line}/stop")
    body = {"patient_id": str(cast.patient.external_id), "reason": "Rash"}
    assert browser(cast.staff_a["nurse"]).post(stop, body).status_code == 403
    doctor = browser(cast.staff_a["doctor"])
    assert f'action="{stop}"' in doctor.get(chart).content.decode()
    stopped = doctor.post(stop, body)
    assert stopped.status_code == 302 and stopped.url.startswith(chart)
    schedule.refresh_from_db()
    assert schedule.status == "stopped" and schedule.end_reason == "Rash"
    assert not Dose.unscoped.filter(schedule=schedule, status="due").exists()
    page = doctor.get(chart).content.decode()
    assert "The reminders of this medicine are stopped" in page
    assert f'data-schedule="{schedule.external_id}"' not in page
    # Again: nothing left to stop, and no error.
    assert doctor.post(stop, body).status_code == 302


def test_the_charts_draw_in_arabic_with_decimal_points(cast, api):
    """Arabic formats decimals with a comma, which SVG does not read: the points and bars would vanish."""
    visit = committed_visit(cast, api)
    schedule = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    dose = Dose.unscoped.filter(schedule=schedule).order_by("due_at").first()
    Dose.unscoped.filter(pk=dose.pk).update(due_at=timezones.now() - dt.timedelta(hours=1), status="taken")
    _api_plan(cast, api, items=[BP_TASK])
    patient = api(cast.patient_user)
    for hours, value in ((30, 131), (5, 127)):
        taken = timezones.isoformat_z(timezones.now() - dt.timedelta(hours=hours))
        patient.post("/api/v1/me/readings", {"readings": {"8480-6": value}, "taken_at": taken})
    doctor = browser(cast.staff_a["doctor"], language="ar")
    page = doctor.get(clinic_url(cast, f"/patients/{cast.patient.external_id}")).content.decode()
    assert 'lang="ar"' in page
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(svgs) >= 2 and any('data-part="taken"' in s for s in svgs)
    numbers = re.findall(r'\b(?:x|y|cx|cy|width|height)="([^"]*)"', "".join(svgs))
    assert numbers and all(re.fullmatch(r"-?[\d.]+%?", n) for n in numbers), numbers


def test_the_plans_and_alerts_lists_do_not_query_per_row(cast, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _ready(cast)
    doctor = browser(cast.staff_a["doctor"])

    def queries(rest: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert doctor.get(clinic_url(cast, rest)).status_code == 200
        return len(captured)

    plan = _api_plan(cast, api)
    CareStep.unscoped.filter(plan=plan).update(status="missed", missed_at=timezones.now())
    _alert(cast, api, value=171)
    one = (queries("/plans"), queries("/alerts"), queries("/plan-templates"))
    for number in range(3):
        more = _api_plan(cast, api)
        CareStep.unscoped.filter(plan=more).update(status="missed", missed_at=timezones.now())
        _template(cast, name=f"Template {number}")
    _alert(cast, api, value=172)
    assert (queries("/plans"), queries("/alerts"), queries("/plan-templates")) == one
