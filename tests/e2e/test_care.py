"""The patient's care in the browser, in Arabic, right to left (CP-1 … CP-3): the patient opens the care plan their
doctor made, books its first session from the plan and confirms the hold, marks a dose of their medicine taken, and
sees it in the 30-day adherence chart."""

from __future__ import annotations

import pytest

from shifa.adherence.models import Dose, DoseSchedule
from shifa.core import timezones
from shifa.scheduling.models import Appointment
from tests.e2e.test_journeys import sign_in
from tests.support.records import base, committed_visit

pytestmark = pytest.mark.django_db(transaction=True)

PHYSIO = {"kind": "visit", "title": "Physiotherapy", "count": 4, "every_days": 7, "first_in_days": 1}
BP = {
    "kind": "task",
    "task": "vital",
    "vital_code": "8480-6",
    "title": "Blood pressure",
    "count": 7,
    "every_days": 1,
}


def test_a_patient_follows_a_plan_books_a_step_takes_a_dose_and_sees_adherence(cast, api, page_for, tmp_path):
    visit = committed_visit(cast, api)  # clinic A open for booking; amoxicillin three times a day
    made = api(cast.staff_a["doctor"]).post(
        f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/care-plans",
        {"title": "Knee rehabilitation", "goal": "Walk without pain", "items": [PHYSIO, BP]},
    )
    assert made.status_code == 201, made.content
    plan = made.json()
    session = next(s for s in plan["steps"] if s["kind"] == "visit")
    schedule = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    dose = Dose.unscoped.filter(schedule=schedule).order_by("due_at").first()
    now = timezones.now().replace(second=0, microsecond=0)
    Dose.unscoped.filter(pk=dose.pk).update(due_at=now)  # the first dose is due now
    today = timezones.to_local(now, schedule.zone).date().isoformat()
    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(language="ar")

    page = page_for("ar")
    page.set_viewport_size({"width": 412, "height": 915})  # a phone
    sign_in(page, cast.patient_user.email)
    page.wait_for_url("**/app")
    page.click("nav.tabbar a[href='/app/plans']")
    page.wait_for_url("**/app/plans")
    assert page.get_attribute("html", "dir") == "rtl"
    page.click(f"a[data-plan='{plan['id']}']")
    page.wait_for_url(f"**/app/plans/{plan['id']}")
    assert "Walk without pain" in page.inner_text("[data-goal]")
    assert page.locator("[data-now] [data-step]").count() == 2  # the first session and today's reading
    page.screenshot(path=str(tmp_path / "plan-ar.png"), full_page=True)

    # Book the first session from the plan: the doctor's free times on its days, then confirm the hold.
    page.click(f"[data-now] [data-step='{session['id']}'] a[data-book]")
    page.wait_for_url(f"**/steps/{session['id']}")
    page.locator("button[data-slot]").first.click()
    page.wait_for_url("**/app/appointments/**")
    page.click("button[value=confirm]")
    page.wait_for_selector("[data-status=booked]")
    # (the reason is encrypted: compared in Python, not in SQL)
    (booked,) = [
        a
        for a in Appointment.unscoped.filter(patient=cast.patient, status="booked")
        if a.reason == "Physiotherapy"
    ]
    page.goto(f"/app/plans/{plan['id']}")
    row = page.locator(f"[data-now] [data-step='{session['id']}']")
    assert row.get_attribute("data-state") == "booked"
    assert row.locator(f"a[href='/app/appointments/{booked.external_id}']").count() == 1

    # Take the dose due now, and see it in the adherence of the last 30 days.
    page.click("nav.tabbar a[href='/app/plans']")
    page.wait_for_url("**/app/plans")
    page.click("[data-care-nav] a[href='/app/medicines']")
    page.wait_for_url("**/app/medicines")
    page.click(f"[data-dose='{dose.external_id}'] button[value=taken]")
    page.wait_for_selector(f"[data-dose='{dose.external_id}'][data-status=taken]")
    dose.refresh_from_db()
    assert dose.status == "taken"
    assert "100" in page.inner_text("[data-adherence-percent]")
    assert page.locator(f"svg g[data-day='{today}'] rect[data-status=taken]").count() == 1
    # The latest day is drawn on the left in Arabic: time runs right to left, like the text.
    bars = page.locator("svg g[data-day]")
    first_x = float(bars.first.locator("rect").first.get_attribute("x"))
    last_x = float(bars.last.locator("rect").first.get_attribute("x"))
    assert last_x < first_x
    page.click("[data-adherence-table] summary")
    assert page.locator(f"[data-adherence-table] tr[data-day='{today}']").is_visible()
    page.screenshot(path=str(tmp_path / "medicines-ar.png"), full_page=True)
