"""The patient app's booking pages and the clinic desk, through the test client: the same rules as the API."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shifa.core import timezones
from shifa.directory.actions import listings_refresh
from shifa.scheduling.models import Appointment
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking

AMMAN = "Asia/Amman"


def local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    day = timezones.to_local(timezones.now(), AMMAN).date() + dt.timedelta(days=days)
    return timezones.local_datetime(day, dt.time(hour, minute), AMMAN)


@pytest.fixture
def clinic(cast):
    clinic = open_for_booking(cast)
    listings_refresh(clinic_pk=clinic.pk)
    return clinic


def browser(user, language="en"):
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def doctor_url(clinic, **query) -> str:
    base = f"/app/doctors/{clinic.external_id}/{clinic.doctor.external_id}"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def slot_form(clinic, when, **extra) -> dict:
    return {
        "clinic": str(clinic.external_id),
        "doctor": str(clinic.doctor.external_id),
        "visit_type": "office",
        "starts_at": timezones.isoformat_z(when),
        **extra,
    }


def test_anyone_finds_the_doctor_and_sees_free_times_in_arabic(cast, clinic):
    visitor = Client(HTTP_ACCEPT_LANGUAGE="ar")
    found = visitor.get("/app/search?q=أطفال")
    body = found.content.decode()
    assert found.status_code == 200 and 'dir="rtl"' in body and cast.staff_a["doctor"].full_name in body
    assert "20.000" in body
    page = visitor.get(doctor_url(clinic)).content.decode()
    assert "طب الأطفال" in page and "/app/book" not in page and "/accounts/sign-in?next=" in page
    assert visitor.get("/app/search?radius_km=900").status_code == 400
    assert (
        Client()
        .get(doctor_url(clinic).replace(str(clinic.doctor.external_id), str(cast.doctor_b.external_id)))
        .status_code
        == 404
    )


def test_a_patient_holds_confirms_moves_and_cancels_from_the_pages(cast, clinic):
    patient = browser(cast.patient_user)
    page = patient.get(doctor_url(clinic, insurer="jic")).content.decode()
    assert 'action="/app/book"' in page and "data-patient-share>JOD\u00a04.000<" in page  # 20% of 20.000, JIC
    held = patient.post("/app/book", slot_form(clinic, local(2, 10), insurer="jic"))
    assert held.status_code == 302
    again = patient.post("/app/book", slot_form(clinic, local(2, 10), insurer="jic"))  # a double click
    assert again["Location"] == held["Location"] and Appointment.unscoped.count() == 1
    appointment = patient.get(held["Location"]).content.decode()
    assert "Confirm your appointment" in appointment and "data-patient-share>JOD\u00a04.000<" in appointment
    assert "10:00\u201310:30" in appointment  # the clinic's local time
    appointment_id = held["Location"].rstrip("/").split("/")[-1]
    step = f"/app/appointments/{appointment_id}/step"
    assert patient.post(step, {"step": "confirm"}).status_code == 302
    assert Appointment.unscoped.get(external_id=appointment_id).status == "booked"

    assert patient.post(step, {"step": "wait"}).status_code == 302
    assert (
        "You are on the waiting list" in patient.get(f"/app/appointments/{appointment_id}").content.decode()
    )
    moving = patient.get(doctor_url(clinic, move=appointment_id)).content.decode()
    assert f'action="{step}"' in moving
    moved = patient.post(step, {"step": "move", "starts_at": timezones.isoformat_z(local(3, 11))})
    assert moved.status_code == 302
    new = Appointment.unscoped.get(rescheduled_from__external_id=appointment_id)
    assert new.status == "booked" and new.starts_at == local(3, 11)
    taken = patient.post(
        f"/app/appointments/{new.external_id}/step", {"step": "move", "starts_at": "nonsense"}
    )
    assert taken.status_code == 302 and Appointment.unscoped.get(pk=new.pk).status == "booked"
    listing = patient.get("/app/appointments").content.decode()
    assert str(new.external_id) in listing
    assert patient.post(f"/app/appointments/{new.external_id}/step", {"step": "cancel"}).status_code == 302
    assert Appointment.unscoped.get(pk=new.pk).status == "cancelled"
    stranger = browser(cast.other_patient_user)
    assert stranger.get(f"/app/appointments/{new.external_id}").status_code == 404
    assert stranger.post(f"/app/appointments/{new.external_id}/step", {"step": "cancel"}).status_code == 404


def test_home_visits_ask_for_the_place_and_refuse_one_outside_the_areas(cast, clinic):
    patient = browser(cast.patient_user)
    ask = patient.get(doctor_url(clinic, visit_type="home")).content.decode()
    assert "Give your address and location" in ask and 'action="/app/book"' not in ask
    outside = patient.get(
        doctor_url(clinic, visit_type="home", latitude="32.55", longitude="35.85")
    ).content.decode()
    assert "does not make home visits at this address" in outside and 'action="/app/book"' not in outside
    inside = patient.get(
        doctor_url(clinic, visit_type="home", latitude="31.95", longitude="35.88", address="Abdoun")
    )
    assert 'action="/app/book"' in inside.content.decode()
    when = re.search(r'name="starts_at" value="([^"]+)"', inside.content.decode()).group(1)
    far = slot_form(
        clinic, local(2, 9), visit_type="home", latitude="32.55", longitude="35.85", starts_at=when
    )
    refused = patient.post("/app/book", far)
    assert refused.status_code == 400 and "does not make home visits" in refused.content.decode()
    near = slot_form(
        clinic,
        local(2, 9),
        visit_type="home",
        latitude="31.95",
        longitude="35.88",
        address="Abdoun",
        starts_at=when,
    )
    assert patient.post("/app/book", near).status_code == 302
    assert Appointment.unscoped.get().home_address == "Abdoun"


def test_the_desk_sees_the_day_books_a_caller_checks_in_and_moves(cast, clinic):
    desk = browser(cast.staff_a["secretary"], language="ar")
    day = timezones.to_local(local(1, 9), AMMAN).date()
    base = f"/clinic/{clinic.external_id}/desk"
    page = desk.get(f"{base}?day={day}")
    assert page.status_code == 200 and 'dir="rtl"' in page.content.decode()
    booked = desk.post(
        f"{base}/book",
        {
            "day": day.isoformat(),
            "book-doctor": str(clinic.doctor.external_id),
            "book-visit_type": "office",
            "book-time": "09:05",
            "book-full_name": "مريض الهاتف",
            "book-phone": "0791112233",
        },
    )
    assert booked.status_code == 302
    appointment = Appointment.unscoped.get()
    assert timezones.to_local(appointment.starts_at, AMMAN).time() == dt.time(9, 5)
    calendar = desk.get(f"{base}?day={day}").content.decode()
    assert "مريض الهاتف" in calendar and "09:05\u201309:35" in calendar  # the clinic's local time
    clash = desk.post(
        f"{base}/book",
        {
            "day": day.isoformat(),
            "book-doctor": str(clinic.doctor.external_id),
            "book-visit_type": "office",
            "book-time": "09:15",
            "book-full_name": "Another",
        },
    )
    assert clash.status_code == 409 and Appointment.unscoped.count() == 1
    step = f"{base}/{appointment.external_id}"
    moved = desk.post(
        step, {"step": "move", "day": day.isoformat(), "move-day": day.isoformat(), "move-time": "11:00"}
    )
    assert moved.status_code == 302
    new = Appointment.unscoped.get(status="booked")
    assert timezones.to_local(new.starts_at, AMMAN).time() == dt.time(11)
    week = desk.get(f"{base}?view=week&day={day - dt.timedelta(days=2)}&doctor={clinic.doctor.external_id}")
    shown = week.content.decode()
    assert (
        week.status_code == 200 and "data-week" in shown and f'data-appointment="{new.external_id}"' in shown
    )
    assert "11:00\u201311:30" in shown and shown.count("<section") == 7
    assert desk.post(f"{base}/{new.external_id}", {"step": "check_in"}).status_code == 302
    assert Appointment.unscoped.get(pk=new.pk).status == "checked_in"
    assert desk.post(f"{base}/{new.external_id}", {"step": "dance"}).status_code == 400
    nurse = browser(cast.staff_a["nurse"])
    view = nurse.get(f"{base}?day={day}")
    assert view.status_code == 200 and f"{base}/{new.external_id}" not in view.content.decode()
    assert nurse.post(f"{base}/{new.external_id}", {"step": "complete"}).status_code == 403


def test_my_appointments_show_what_is_coming_soonest_first_then_the_rest_latest_first(cast, clinic):
    from tests.support.records import in_care

    in_week = in_care(cast, hours=24 * 7)
    tomorrow = in_care(cast, hours=24 * 2)
    long_ago, last_week = in_care(cast, hours=24 * 30), in_care(cast, hours=24 * 9)
    for appointment, days in ((long_ago, 30), (last_week, 7)):
        back = dt.timedelta(days=days) + (appointment.starts_at - timezones.now())
        Appointment.unscoped.filter(pk=appointment.pk).update(
            status="completed", starts_at=appointment.starts_at - back, ends_at=appointment.ends_at - back
        )
    cancelled_ahead = in_care(cast, hours=24 * 3)
    Appointment.unscoped.filter(pk=cancelled_ahead.pk).update(status="cancelled")
    from shifa.records.models import Patient

    stranger = Patient.objects.get(user=cast.other_patient_user)
    someone_else = in_care(cast, stranger, hours=24 * 4)

    body = browser(cast.patient_user).get("/app/appointments").content.decode()
    upcoming, past = body.split("data-upcoming", 1)[1].split("data-past", 1)
    order = lambda part: re.findall(r'data-appointment="([0-9a-f-]+)"', part)  # noqa: E731
    assert order(upcoming) == [str(tomorrow.external_id), str(in_week.external_id)]
    assert order(past) == [str(x.external_id) for x in (cancelled_ahead, last_week, long_ago)]
    assert str(someone_else.external_id) not in body
