"""Booking through the API (BK-2 … BK-5): free slots, a hold then a confirmation, one flow for office, video and
home visits, no double booking under any concurrency, idempotent repeats, the desk, and the commit at the end."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from shifa.core import timezones
from shifa.directory.models import DoctorProfile
from shifa.records.models import Patient
from shifa.scheduling.models import Appointment, BookingPolicy
from shifa.tenancy.models import Licence
from tests.conftest import ApiClient
from tests.support.booking import open_for_booking

AMMAN = "Asia/Amman"


def local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """A wall-clock time in Amman, ``days`` days from today."""
    day = timezones.to_local(timezones.now(), AMMAN).date() + dt.timedelta(days=days)
    return timezones.local_datetime(day, dt.time(hour, minute), AMMAN)


def iso(value: dt.datetime) -> str:
    return timezones.isoformat_z(value)


@pytest.fixture
def clinic(cast):
    return open_for_booking(cast)


def booking(clinic, when: dt.datetime, **extra) -> dict:
    return {
        "clinic_id": str(clinic.external_id),
        "doctor_id": str(clinic.doctor.external_id),
        "visit_type": "office",
        "starts_at": iso(when),
        "service_id": str(clinic.service.external_id),
        **extra,
    }


def slots(clinic, visit_type="office", days=1, start=None, **where):
    start = start or (timezones.to_local(timezones.now(), AMMAN).date() + dt.timedelta(days=2))
    query = f"clinic={clinic.external_id}&doctor={clinic.doctor.external_id}&visit_type={visit_type}"
    query += f"&start={start}&days={days}" + "".join(f"&{k}={v}" for k, v in where.items())
    answer = ApiClient().get(f"/api/v1/slots?{query}")
    assert answer.status_code == 200, answer.content
    return [s["starts_at"] for s in answer.json()["slots"]]


def test_anyone_sees_a_doctors_free_slots_in_the_clinics_zone(clinic):
    found = slots(clinic)
    assert len(found) == 16  # 08:00 … 15:30, every 30 minutes
    assert found[0] == iso(local(2, 8))
    assert len(slots(clinic, "video")) == 24
    assert slots(clinic, "home") == []  # no place given: no home visits
    assert len(slots(clinic, "home", latitude="31.95", longitude="35.88")) == 10  # 45 min back to back
    assert slots(clinic, "home", latitude="32.55", longitude="35.85") == []  # Irbid is outside the area
    bad = ApiClient().get(f"/api/v1/slots?clinic={clinic.external_id}&doctor=nope")
    assert bad.status_code == 422


def test_a_patient_holds_a_slot_confirms_it_and_it_is_gone_for_others(cast, api, clinic):
    patient = api(cast.patient_user)
    held = patient.post("/api/v1/appointments", booking(clinic, local(2, 9)))
    assert held.status_code == 201, held.content
    body = held.json()
    assert body["status"] == "held" and body["hold_expires_at"]
    assert body["price"] == {"amount": "20.000", "currency": "JOD"} and body["zone"] == AMMAN
    assert iso(local(2, 9)) not in slots(clinic)
    confirmed = patient.post(f"/api/v1/appointments/{body['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "booked"
    again = patient.post(f"/api/v1/appointments/{body['id']}/confirm")
    assert again.status_code == 200  # a double tap changes nothing

    other = api(cast.other_patient_user).post("/api/v1/appointments", booking(clinic, local(2, 9)))
    assert other.status_code == 409 and other.json()["code"] == "slot_taken"
    alternatives = other.json()["alternatives"]
    assert alternatives[0]["starts_at"] == iso(local(2, 9, 30)) and len(alternatives) == 5
    mine = patient.get("/api/v1/me/appointments").json()["items"]
    assert [a["id"] for a in mine] == [body["id"]]
    assert api(cast.other_patient_user).get("/api/v1/me/appointments").json()["items"] == []
    theirs = api(cast.other_patient_user).post(f"/api/v1/appointments/{body['id']}/cancel", {})
    assert theirs.status_code == 404  # someone else's appointment does not exist for them


def test_a_repeated_request_with_the_same_key_books_once(cast, api, clinic):
    patient = api(cast.patient_user)
    key = {"Idempotency-Key": "a1b2c3-booking"}
    first = patient.post("/api/v1/appointments", booking(clinic, local(3, 10)), headers=key)
    second = patient.post("/api/v1/appointments", booking(clinic, local(3, 10)), headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Appointment.unscoped.count() == 1
    reused = patient.post("/api/v1/appointments", booking(clinic, local(3, 11)), headers=key)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    too_long = patient.post(
        "/api/v1/appointments", booking(clinic, local(3, 12)), headers={"Idempotency-Key": "x" * 201}
    )
    assert too_long.status_code == 422
    # another user's identical key is theirs alone
    theirs = api(cast.other_patient_user).post(
        "/api/v1/appointments", booking(clinic, local(3, 12)), headers=key
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_a_failed_request_leaves_its_key_free_for_a_retry(cast, api, clinic):
    patient = api(cast.patient_user)
    key = {"Idempotency-Key": "retry-me"}
    api(cast.other_patient_user).post("/api/v1/appointments", booking(clinic, local(3, 10)))
    taken = patient.post("/api/v1/appointments", booking(clinic, local(3, 10)), headers=key)
    assert taken.status_code == 409
    Appointment.unscoped.update(status="cancelled")
    retried = patient.post("/api/v1/appointments", booking(clinic, local(3, 10)), headers=key)
    assert retried.status_code == 201


def test_home_visits_only_inside_an_area_with_travel_time_around_them(cast, api, clinic):
    patient = api(cast.patient_user)
    outside = patient.post(
        "/api/v1/appointments",
        booking(clinic, local(2, 10), visit_type="home", home={"latitude": 32.55, "longitude": 35.85}),
    )
    assert outside.status_code == 422
    assert outside.json()["errors"][0] == {
        "field": "home",
        "code": "outside_service_area",
        "message": "The clinic does not make home visits at this address.",
    }
    missing = patient.post("/api/v1/appointments", booking(clinic, local(2, 10), visit_type="home"))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "home"
    home = {"latitude": 31.95, "longitude": 35.88, "address": "Abdoun, building 12"}
    inside = patient.post(
        "/api/v1/appointments", booking(clinic, local(2, 9, 30), visit_type="home", home=home)
    )
    assert inside.status_code == 201, inside.content
    assert (
        inside.json()["price"]["amount"] == "40.000" and inside.json()["home"]["address"] == home["address"]
    )
    office = slots(clinic)
    # 09:30-10:15 at the patient's home, with 30 minutes of travel either side: nothing from 09:00 to 10:45
    assert iso(local(2, 8, 30)) in office and iso(local(2, 9)) not in office
    assert iso(local(2, 10, 45)) in office and iso(local(2, 10, 30)) not in office


def test_only_what_the_doctor_and_the_clinic_offer_can_be_booked(cast, api, clinic):
    patient = api(cast.patient_user)
    DoctorProfile.unscoped.filter(doctor=clinic.doctor).update(minutes={"office": 30})
    video = patient.post("/api/v1/appointments", booking(clinic, local(2, 9), visit_type="video"))
    assert video.status_code == 422 and video.json()["errors"][0]["field"] == "visit_type"
    nurse = patient.post(
        "/api/v1/appointments",
        {**booking(clinic, local(2, 9)), "doctor_id": str(cast.staff_a["nurse"].external_id)},
    )
    assert nurse.status_code == 422 and nurse.json()["errors"][0]["field"] == "doctor"
    insurer = patient.post("/api/v1/appointments", booking(clinic, local(2, 9), insurer="no-such-insurer"))
    assert insurer.status_code == 422 and insurer.json()["errors"][0]["field"] == "insurer"
    off_grid = patient.post("/api/v1/appointments", booking(clinic, local(2, 9, 10)))
    assert off_grid.status_code == 409
    closed = patient.post("/api/v1/appointments", booking(clinic, local(2, 17)))
    assert closed.status_code == 409
    too_soon = patient.post(
        "/api/v1/appointments", booking(clinic, timezones.now() + dt.timedelta(minutes=20))
    )
    assert too_soon.status_code == 409
    naive = patient.post(
        "/api/v1/appointments", {**booking(clinic, local(2, 9)), "starts_at": "2026-12-30T09:00:00"}
    )
    assert naive.status_code == 422
    elsewhere = patient.post(
        "/api/v1/appointments", {**booking(clinic, local(2, 9)), "clinic_id": str(cast.clinic_b.external_id)}
    )
    assert elsewhere.status_code in {404, 409, 422}
    assert Appointment.unscoped.count() == 0


def test_a_suspended_licence_stops_new_bookings_but_not_the_existing_ones(cast, api, clinic):
    patient = api(cast.patient_user)
    held = patient.post("/api/v1/appointments", booking(clinic, local(2, 9))).json()
    Licence.unscoped.filter(clinic=clinic).update(suspended_at=timezones.now(), suspension_reason="Unpaid")
    refused = patient.post("/api/v1/appointments", booking(clinic, local(2, 10)))
    assert refused.status_code == 409 and refused.json()["code"] == "clinic_not_booking"
    assert slots(clinic) == []
    assert [a["id"] for a in patient.get("/api/v1/me/appointments").json()["items"]] == [held["id"]]


def test_an_expired_hold_frees_the_slot(cast, api, clinic):
    patient = api(cast.patient_user)
    held = patient.post("/api/v1/appointments", booking(clinic, local(2, 9))).json()
    Appointment.unscoped.update(hold_expires_at=timezones.now() - dt.timedelta(seconds=1))
    assert iso(local(2, 9)) in slots(clinic)
    late = patient.post(f"/api/v1/appointments/{held['id']}/confirm")
    assert late.status_code == 409 and late.json()["code"] == "hold_expired"
    other = api(cast.other_patient_user).post("/api/v1/appointments", booking(clinic, local(2, 9)))
    assert other.status_code == 201
    assert Appointment.unscoped.get(external_id=held["id"]).status == "expired"


def test_patients_cancel_and_move_only_before_the_clinics_cut_off(cast, api, clinic):
    patient = api(cast.patient_user)
    BookingPolicy.unscoped.create(clinic=clinic, cancel_hours=72)
    soon = patient.post("/api/v1/appointments", booking(clinic, local(2, 9))).json()  # under 72 hours away
    patient.post(f"/api/v1/appointments/{soon['id']}/confirm")
    late = patient.post(f"/api/v1/appointments/{soon['id']}/cancel", {"reason": "Cannot come"})
    assert late.status_code == 409 and late.json()["code"] == "too_late_to_change"
    late_move = patient.post(f"/api/v1/appointments/{soon['id']}/reschedule", {"starts_at": iso(local(5, 9))})
    assert (
        late_move.status_code == 409 and Appointment.unscoped.get(external_id=soon["id"]).status == "booked"
    )
    # the desk may still cancel it
    desk = api(cast.staff_a["secretary"])
    by_desk = desk.post(
        f"/api/v1/clinics/{clinic.external_id}/appointments/{soon['id']}/cancel", {"reason": "Phoned"}
    )
    assert by_desk.status_code == 200 and by_desk.json()["status"] == "cancelled"

    later = patient.post("/api/v1/appointments", booking(clinic, local(4, 9))).json()
    patient.post(f"/api/v1/appointments/{later['id']}/confirm")
    api(cast.other_patient_user).post("/api/v1/appointments", booking(clinic, local(4, 12)))
    taken = patient.post(f"/api/v1/appointments/{later['id']}/reschedule", {"starts_at": iso(local(4, 12))})
    assert taken.status_code == 409 and Appointment.unscoped.get(external_id=later["id"]).status == "booked"
    moved = patient.post(f"/api/v1/appointments/{later['id']}/reschedule", {"starts_at": iso(local(5, 14))})
    assert moved.status_code == 201, moved.content
    assert moved.json()["status"] == "booked" and moved.json()["rescheduled_from"] == later["id"]
    assert Appointment.unscoped.get(external_id=later["id"]).status == "cancelled"
    assert iso(local(4, 9)) in slots(clinic, start=timezones.to_local(local(4, 9), AMMAN).date())
    cancelled = patient.post(
        f"/api/v1/appointments/{moved.json()['id']}/cancel", {"reason": "Feeling better"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert iso(local(5, 14)) in slots(clinic, start=timezones.to_local(local(5, 14), AMMAN).date())


def test_the_desk_books_a_walk_in_checks_them_in_and_the_visit_is_committed(cast, api, clinic):
    desk = api(cast.staff_a["secretary"])
    base = f"/api/v1/clinics/{clinic.external_id}/appointments"
    start = local(1, 9, 5)  # the desk books on a five-minute grid, without notice
    booked = desk.post(
        base,
        {
            "doctor_id": str(clinic.doctor.external_id),
            "visit_type": "office",
            "starts_at": iso(start),
            "new_patient": {"full_name": "Walk-in Patient", "phone": "0791234567"},
        },
        headers={"Idempotency-Key": "desk-1"},
    )
    assert booked.status_code == 201, booked.content
    appointment = booked.json()
    assert appointment["status"] == "booked" and appointment["channel"] == "desk"
    assert Patient.objects.get(external_id=appointment["patient"]["id"]).phone == "+962791234567"
    day = desk.get(f"{base}?day={timezones.to_local(start, AMMAN).date()}").json()  # the clinic's local day
    assert [a["id"] for a in day] == [appointment["id"]]
    again = desk.post(
        base,
        {
            "doctor_id": str(clinic.doctor.external_id),
            "visit_type": "office",
            "starts_at": iso(local(1, 11)),
            "patient_id": appointment["patient"]["id"],
        },
    )
    assert again.status_code == 201  # a patient the clinic knows
    stranger = desk.post(
        base,
        {
            "doctor_id": str(clinic.doctor.external_id),
            "visit_type": "office",
            "starts_at": iso(local(1, 12)),
            "patient_id": str(cast.patient.external_id),
        },
    )
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "patient_id"

    too_early = desk.post(f"{base}/{appointment['id']}/no-show")
    assert too_early.status_code == 409 and too_early.json()["code"] == "not_started"
    assert desk.post(f"{base}/{appointment['id']}/check-in").json()["status"] == "checked_in"
    done = api(cast.staff_a["clinic_admin"]).post(f"{base}/{appointment['id']}/complete")
    assert done.status_code == 200 and done.json()["is_committed"] and done.json()["status"] == "completed"
    row = Appointment.unscoped.get(external_id=appointment["id"])
    with pytest.raises(DatabaseError), transaction.atomic():  # the database itself refuses
        Appointment.unscoped.filter(pk=row.pk).update(reason="changed")
    cancel = desk.post(f"{base}/{appointment['id']}/cancel", {"reason": "x"})
    assert cancel.status_code == 409


def test_desk_actions_are_refused_to_the_wrong_role_and_across_clinics(cast, api, clinic):
    patient = api(cast.patient_user)
    held = patient.post("/api/v1/appointments", booking(clinic, local(2, 9))).json()
    for role in ("nurse", "doctor", "assistant_doctor"):
        answer = api(cast.staff_a[role]).post(
            f"/api/v1/clinics/{clinic.external_id}/appointments/{held['id']}/check-in"
        )
        assert answer.status_code == 403
    other = api(cast.doctor_b).post(
        f"/api/v1/clinics/{cast.clinic_b.external_id}/appointments/{held['id']}/cancel", {}
    )
    assert other.status_code in {403, 404}
    assert Appointment.unscoped.get(external_id=held["id"]).status == "held"


def test_the_database_refuses_overlapping_appointments_of_one_doctor_even_across_clinics(cast, clinic):
    patient = Patient.objects.create(full_name="P")
    start = local(6, 9)
    common = {"doctor": clinic.doctor, "patient": patient, "visit_type": "office", "channel": "desk"}
    Appointment.unscoped.create(
        clinic=clinic, starts_at=start, ends_at=start + dt.timedelta(minutes=30), **common
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.unscoped.create(
            clinic=cast.clinic_b,
            starts_at=start + dt.timedelta(minutes=15),
            ends_at=start + dt.timedelta(minutes=45),
            **common,
        )
    # cancelled ones do not count; touching ends do not overlap
    Appointment.unscoped.create(
        clinic=clinic, starts_at=start, ends_at=start + dt.timedelta(minutes=30), status="cancelled", **common
    )
    Appointment.unscoped.create(
        clinic=clinic,
        starts_at=start + dt.timedelta(minutes=30),
        ends_at=start + dt.timedelta(minutes=60),
        **common,
    )


@pytest.mark.django_db(transaction=True)
def test_many_parallel_bookings_of_one_slot_give_exactly_one_appointment(cast, clinic):
    from shifa.records.actions import patient_create
    from tests.factories import UserFactory

    users = []
    for i in range(16):
        user = UserFactory(full_name=f"Patient {i}")
        patient_create(full_name=user.full_name, user=user)
        users.append(user)
    clients = [ApiClient(u) for u in users]
    for c in clients:
        c.token()
    barrier = threading.Barrier(len(clients))
    answers: list[int] = []
    lock = threading.Lock()

    def book(client):
        try:
            barrier.wait()
            response = client.post("/api/v1/appointments", booking(clinic, local(2, 11)))
            with lock:
                answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [201] + [409] * 15
    assert Appointment.unscoped.filter(status="held").count() == 1


def test_a_booked_appointment_is_confirmed_and_reminded_and_a_cancelled_one_never_is(cast, api, clinic):
    from procrastinate.contrib.django.models import ProcrastinateJob

    from shifa.notifications.models import Notification
    from shifa.scheduling.actions import appointment_remind

    patient = api(cast.patient_user)
    when = local(3, 9)
    held = patient.post("/api/v1/appointments", booking(clinic, when)).json()
    assert not Notification.objects.filter(recipient=cast.patient_user).exists()  # a hold is not a booking
    patient.post(f"/api/v1/appointments/{held['id']}/confirm")
    told = Notification.objects.get(recipient=cast.patient_user)
    assert told.kind == "appointment.booked" and cast.staff_a["doctor"].full_name in told.title
    jobs = ProcrastinateJob.objects.filter(task_name="scheduling.remind").order_by("scheduled_at")
    assert [j.scheduled_at for j in jobs] == [when - dt.timedelta(hours=24), when - dt.timedelta(hours=2)]
    pk = Appointment.unscoped.get(external_id=held["id"]).pk
    assert {j.args["appointment_id"] for j in jobs} == {pk}

    assert appointment_remind(appointment_pk=pk, hours=24) is True
    assert appointment_remind(appointment_pk=pk, hours=24) is True  # run twice, told once
    reminders = Notification.objects.filter(recipient=cast.patient_user, kind="appointment.reminder")
    assert reminders.count() == 1 and "09:00" in reminders.get().body

    patient.post(f"/api/v1/appointments/{held['id']}/cancel", {"reason": "Travelling"})
    assert appointment_remind(appointment_pk=pk, hours=2) is False
    assert reminders.count() == 1
