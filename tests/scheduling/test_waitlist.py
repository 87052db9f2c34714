"""The waiting list: a cancelled time is offered, held, to the first patient waiting for an earlier one; taking it
gives up their later appointment (which goes on to the next); letting it pass hands it to the next."""

from __future__ import annotations

import datetime as dt

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.core import timezones
from shifa.notifications.models import Notification
from shifa.records.actions import patient_create
from shifa.scheduling.actions import waitlist_offer_end
from shifa.scheduling.models import Appointment, WaitlistEntry
from tests.factories import UserFactory
from tests.support.booking import open_for_booking

AMMAN = "Asia/Amman"


def local(days: int, hour: int) -> dt.datetime:
    day = timezones.to_local(timezones.now(), AMMAN).date() + dt.timedelta(days=days)
    return timezones.local_datetime(day, dt.time(hour), AMMAN)


@pytest.fixture
def clinic(cast):
    return open_for_booking(cast)


@pytest.fixture
def third(cast):
    user = UserFactory(full_name="Third patient")
    patient_create(full_name=user.full_name, user=user)
    return user


def book(api, user, clinic, when) -> dict:
    client = api(user)
    held = client.post(
        "/api/v1/appointments",
        {
            "clinic_id": str(clinic.external_id),
            "doctor_id": str(clinic.doctor.external_id),
            "visit_type": "office",
            "starts_at": timezones.isoformat_z(when),
        },
    )
    assert held.status_code == 201, held.content
    client.post(f"/api/v1/appointments/{held.json()['id']}/confirm")
    return held.json()


def wait(api, user, clinic, **body):
    return api(user).post(
        "/api/v1/waitlist",
        {"clinic_id": str(clinic.external_id), "doctor_id": str(clinic.doctor.external_id), **body},
    )


def test_a_cancelled_time_goes_to_the_first_waiting_patient_and_their_later_one_to_the_next(
    cast, api, clinic, third
):
    early = book(api, cast.patient_user, clinic, local(4, 9))
    later = book(api, cast.other_patient_user, clinic, local(5, 9))
    joined = wait(api, cast.other_patient_user, clinic, appointment_id=later["id"])
    assert joined.status_code == 201 and joined.json()["status"] == "waiting"
    assert (
        wait(api, cast.other_patient_user, clinic, appointment_id=later["id"]).json()["id"]
        == joined.json()["id"]
    )
    waiting_third = wait(api, third, clinic, before=timezones.isoformat_z(local(6, 9)))
    assert waiting_third.status_code == 201

    api(cast.patient_user).post(f"/api/v1/appointments/{early['id']}/cancel", {"reason": "Travelling"})
    offer = Appointment.unscoped.get(patient__user=cast.other_patient_user, status="held")
    assert offer.starts_at == local(4, 9)
    assert dt.timedelta(minutes=29) < offer.hold_expires_at - timezones.now() <= dt.timedelta(minutes=30)
    told = Notification.objects.get(recipient=cast.other_patient_user, kind="appointment.waitlist_offer")
    assert "09:00" in told.body
    assert ProcrastinateJob.objects.filter(task_name="scheduling.waitlist_offer_ends").count() == 1
    mine = api(cast.other_patient_user).get("/api/v1/me/waitlist").json()
    assert mine[0]["status"] == "offered" and mine[0]["offer_id"] == str(offer.external_id)

    taken = api(cast.other_patient_user).post(f"/api/v1/appointments/{offer.external_id}/confirm")
    assert taken.status_code == 200 and taken.json()["status"] == "booked"
    assert Appointment.unscoped.get(external_id=later["id"]).status == "cancelled"
    assert Appointment.unscoped.get(pk=offer.pk).rescheduled_from.external_id.hex == later["id"].replace(
        "-", ""
    )
    assert WaitlistEntry.unscoped.get(external_id=joined.json()["id"]).status == "done"
    # the time they gave up is offered on, to the third patient
    passed_on = Appointment.unscoped.get(patient__user=third, status="held")
    assert passed_on.starts_at == local(5, 9)


def test_an_offer_let_pass_goes_to_the_next_patient(cast, api, clinic, third):
    early = book(api, cast.patient_user, clinic, local(4, 10))
    wait(api, cast.other_patient_user, clinic, before=timezones.isoformat_z(local(7, 9)))
    wait(api, third, clinic, before=timezones.isoformat_z(local(7, 9)))
    api(cast.patient_user).post(f"/api/v1/appointments/{early['id']}/cancel", {})
    first_offer = Appointment.unscoped.get(patient__user=cast.other_patient_user, status="held")
    entry = WaitlistEntry.unscoped.get(offer=first_offer)
    assert waitlist_offer_end(entry_pk=entry.pk) is False  # not over yet
    Appointment.unscoped.filter(pk=first_offer.pk).update(
        hold_expires_at=timezones.now() - dt.timedelta(seconds=1)
    )
    assert waitlist_offer_end(entry_pk=entry.pk) is True
    assert Appointment.unscoped.get(pk=first_offer.pk).status == "expired"
    entry.refresh_from_db()
    assert entry.status == "waiting" and entry.passed == [timezones.isoformat_z(local(4, 10))]
    second_offer = Appointment.unscoped.get(patient__user=third, status="held")
    assert second_offer.starts_at == local(4, 10)
    # the third patient turns it down: nobody else waits for it, and the first is not offered it again
    api(third).post(f"/api/v1/appointments/{second_offer.external_id}/cancel", {})
    assert not Appointment.unscoped.filter(status="held").exists()


def test_bad_waiting_requests_are_refused(cast, api, clinic):
    home = wait(api, cast.patient_user, clinic, visit_type="home", before=timezones.isoformat_z(local(6, 9)))
    assert home.status_code == 422
    past = wait(api, cast.patient_user, clinic, before=timezones.isoformat_z(local(-1, 9)))
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "before"
    theirs = book(api, cast.other_patient_user, clinic, local(5, 11))
    stolen = wait(api, cast.patient_user, clinic, appointment_id=theirs["id"])
    assert stolen.status_code == 422 and stolen.json()["errors"][0]["field"] == "appointment_id"
    joined = wait(api, cast.patient_user, clinic, before=timezones.isoformat_z(local(6, 9))).json()
    assert api(cast.other_patient_user).post(f"/api/v1/waitlist/{joined['id']}/withdraw").status_code == 404
    left = api(cast.patient_user).post(f"/api/v1/waitlist/{joined['id']}/withdraw")
    assert left.status_code == 200 and left.json()["status"] == "withdrawn"
    assert api(cast.patient_user).get("/api/v1/me/waitlist").json() == []
