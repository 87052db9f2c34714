"""The booking journey in Arabic, right to left (BK-1 … BK-5): a patient finds a paediatrician, is refused a home
visit outside the clinic's areas and books one inside, sees their insurer's share, confirms, moves the visit to
another time; the secretary sees the move on the desk calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from shifa.core import timezones
from shifa.directory.actions import listings_refresh
from shifa.scheduling.models import Appointment
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator
from tests.support.booking import open_for_booking

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_patient_books_a_home_visit_moves_it_and_the_desk_sees_it(cast, page_for):
    clinic = open_for_booking(cast)
    listings_refresh(clinic_pk=clinic.pk)
    for user in (cast.patient_user, cast.staff_a["secretary"]):
        type(user).objects.filter(pk=user.pk).update(language="ar")

    patient = page_for("ar")
    sign_in(patient, cast.patient_user.email)
    patient.wait_for_url("**/app")
    patient.goto("/app/search")
    assert patient.get_attribute("html", "dir") == "rtl"
    patient.fill("input[name=q]", "أطفال")
    patient.click("form#search-form button[type=submit]")
    patient.click(f"text={cast.staff_a['doctor'].full_name}")
    patient.wait_for_url("**/app/doctors/**")

    # a home visit in Irbid: the clinic does not go there
    patient.check("input[name=visit_type][value=home]")
    patient.click("main form[method=get] button[type=submit]")
    patient.fill("input[name=address]", "إربد، شارع الجامعة")
    patient.fill("input[name=latitude]", "32.55")
    patient.fill("input[name=longitude]", "35.85")
    patient.select_option("select[name=insurer]", "jic")
    patient.click("main form[method=get] button[type=submit]")
    assert "لا تقدم العيادة زيارات منزلية إلى هذا العنوان" in patient.inner_text("main")
    assert patient.locator("button[data-slot]").count() == 0

    # in Abdoun it does, and the patient sees what JIC leaves them to pay (20% of 40.000)
    patient.fill("input[name=address]", "عبدون، عمارة 12")
    patient.fill("input[name=latitude]", "31.95")
    patient.fill("input[name=longitude]", "35.88")
    patient.click("main form[method=get] button[type=submit]")
    assert "8.000" in patient.inner_text("[data-patient-share]")
    # a day at least two days ahead, so that the clinic's 12-hour cut-off leaves time to move it
    patient.locator(".card:has(button[data-slot])").nth(2).locator("button[data-slot]").first.click()
    patient.wait_for_url("**/app/appointments/**")
    assert "8.000" in patient.inner_text("[data-patient-share]")
    patient.click("button[value=confirm]")
    patient.wait_for_selector("[data-status=booked]")
    first = Appointment.unscoped.get(status="booked")
    assert first.visit_type == "home" and first.home_address == "عبدون، عمارة 12"

    # move it to a later time
    patient.click("text=انقله إلى وقت آخر")
    patient.wait_for_url("**move=**")
    later = patient.locator(".card:has(button[data-slot])").nth(3).locator("button[data-slot]").nth(1)
    new_time = later.get_attribute("data-slot")
    later.click()
    patient.wait_for_url(lambda url: "/app/appointments/" in url and str(first.external_id) not in url)
    patient.wait_for_selector("[data-status=booked]")
    moved = Appointment.unscoped.get(status="booked")
    assert moved.rescheduled_from_id == first.pk and timezones.isoformat_z(moved.starts_at) == new_time
    assert Appointment.unscoped.get(pk=first.pk).status == "cancelled"

    # the secretary sees the move on the desk calendar
    secretary = cast.staff_a["secretary"]
    desk = page_for("ar")
    sign_in(desk, secretary.email, enrol_authenticator(secretary))
    desk.wait_for_url("**/clinic**")
    day = timezones.to_local(moved.starts_at, "Asia/Amman").date()
    desk.goto(f"/clinic/{clinic.external_id}/desk?day={day.isoformat()}")
    assert desk.get_attribute("html", "dir") == "rtl"
    entry = desk.locator(f"[data-appointment='{moved.external_id}']")
    assert cast.patient.full_name in entry.inner_text() and "منقول" in entry.inner_text()
    local = timezones.to_local(moved.starts_at, "Asia/Amman")
    assert f"{local:%H:%M}" in entry.inner_text()
    old_day = timezones.to_local(first.starts_at, "Asia/Amman").date()
    desk.goto(f"/clinic/{clinic.external_id}/desk?day={old_day.isoformat()}")
    assert "ملغى" in desk.locator(f"[data-appointment='{first.external_id}']").inner_text()
    assert dt.timedelta(0) < moved.starts_at - timezones.now()
