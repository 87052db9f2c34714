"""Treat Me Now (TM-2): patients ask for an urgent video consultation, wait in a queue ordered by priority and
arrival, and exactly one doctor on duty takes each request."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection

from shifa.access.models import Role
from shifa.catalog.models import Specialty
from shifa.core import timezones
from shifa.notifications.models import Notification
from shifa.records.models import Patient
from shifa.scheduling.models import Appointment
from shifa.telehealth.actions import urgent_escalate
from shifa.telehealth.models import Attendee, Duty, Meeting, UrgentRequest
from tests.conftest import ApiClient
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory, UserFactory
from tests.support.records import base

MINE = "/api/v1/me/urgent-requests"


def _ask(client: ApiClient, status: int = 201, **body) -> dict:
    response = client.post(MINE, {"complaint": "High fever since last night", **body})
    assert response.status_code == status, response.content
    return response.json()


def _on_duty(client: ApiClient, clinic, on_duty: bool = True) -> dict:
    response = client.put(f"{base(clinic)}/urgent-duty", {"on_duty": on_duty})
    assert response.status_code == 200, response.content
    return response.json()


def _accept(client: ApiClient, clinic, request_id: str):
    return client.post(f"{base(clinic)}/urgent-requests/{request_id}/accept")


def _patients(n: int) -> list:
    users = []
    for i in range(n):
        user = UserFactory(full_name=f"Waiting patient {i}")
        PatientFactory(user=user, full_name=user.full_name)
        users.append(user)
    return users


# --- asking --------------------------------------------------------------------------------------------------------


def test_a_patient_asks_for_a_doctor_and_asking_again_gives_the_same_request(cast, api):
    patient = api(cast.patient_user)
    first = _ask(patient)
    assert first["status"] == "waiting" and first["specialty"] is None
    assert first["patient"]["id"] == str(cast.patient.external_id)
    assert first["complaint"] == "High fever since last night"
    assert first["position"] == 1 and first["priority"] == 0
    again = _ask(patient, 200, complaint="Still feverish")
    assert again["id"] == first["id"]
    assert UrgentRequest.objects.filter(patient=cast.patient).count() == 1
    listed = patient.get(MINE).json()["items"]
    assert [r["id"] for r in listed] == [first["id"]]


def test_a_request_with_a_specialty_and_for_a_dependant(cast, api):
    child = Patient.objects.create(full_name="Lina", guardian=cast.patient, relation="child")
    pediatrics = Specialty.objects.get(code="pediatrics")
    patient = api(cast.patient_user)
    made = _ask(patient, patient_id=str(child.external_id), specialty_id=str(pediatrics.external_id))
    assert made["patient"]["id"] == str(child.external_id)
    assert made["specialty"]["id"] == str(pediatrics.external_id)
    request = UrgentRequest.objects.get(external_id=made["id"])
    assert request.patient == child and request.requested_by == cast.patient_user
    # the guardian's own request is a separate one
    own = _ask(patient)
    assert own["id"] != made["id"]
    # someone else's dependant is not theirs to ask for
    other = api(cast.other_patient_user).post(MINE, {"patient_id": str(child.external_id)})
    assert other.status_code == 404


def test_bad_requests_are_refused_with_field_errors(cast, api):
    patient = api(cast.patient_user)
    unknown = patient.post(MINE, {"specialty_id": "0b7c6f7e-7a3c-4c59-9e43-1f0a2d8c9e11"})
    assert unknown.status_code == 422
    assert [(e["field"], e["code"]) for e in unknown.json()["errors"]] == [("specialty_id", "unknown")]
    malformed = patient.post(MINE, {"specialty_id": "pediatrics"})
    assert malformed.status_code == 422
    assert "specialty_id" in [e["field"] for e in malformed.json()["errors"]]
    long = patient.post(MINE, {"complaint": "x" * 501})
    assert long.status_code == 422
    assert [(e["field"], e["code"]) for e in long.json()["errors"]] == [("complaint", "too_long")]
    huge = patient.post(MINE, {"complaint": "x" * 5000})
    assert huge.status_code == 422 and "complaint" in [e["field"] for e in huge.json()["errors"]]
    assert not UrgentRequest.objects.exists()
    # staff are not patients: the patient-side route is not theirs
    assert api(cast.staff_a["doctor"]).post(MINE, {}).status_code in (403, 404)


# --- the queue -----------------------------------------------------------------------------------------------------


def test_positions_and_estimated_waits(cast, api):
    users = _patients(3)
    made = [_ask(api(u)) for u in users]
    assert [r["position"] for r in made] == [1, 2, 3]
    views = [api(u).get(f"{MINE}/{r['id']}").json() for u, r in zip(users, made, strict=True)]
    assert [v["position"] for v in views] == [1, 2, 3]
    assert [v["estimated_wait_minutes"] for v in views] == [None, None, None]
    assert all(v["doctors_on_duty"] == 0 for v in views)

    _on_duty(api(cast.staff_a["doctor"]), cast.clinic_a)
    views = [api(u).get(f"{MINE}/{r['id']}").json() for u, r in zip(users, made, strict=True)]
    minutes = [v["estimated_wait_minutes"] for v in views]
    assert all(isinstance(m, int) and m > 0 for m in minutes)
    assert minutes[0] < minutes[1] < minutes[2]
    assert all(v["doctors_on_duty"] == 1 for v in views)

    # a second doctor on duty halves the wait (rounded up)
    _on_duty(api(cast.doctor_b), cast.clinic_b)
    halved = api(users[2]).get(f"{MINE}/{made[2]['id']}").json()["estimated_wait_minutes"]
    assert halved < minutes[2]

    # the first one leaving moves the others up
    api(users[0]).post(f"{MINE}/{made[0]['id']}/cancel")
    assert api(users[2]).get(f"{MINE}/{made[2]['id']}").json()["position"] == 2


def test_subscribers_with_the_priority_entitlement_go_first(cast, api, monkeypatch):
    users = _patients(3)
    vip = Patient.objects.get(user=users[2])
    monkeypatch.setattr(
        "shifa.access.entitlements.has_entitlement", lambda patient, code: patient.pk == vip.pk
    )
    made = [_ask(api(u)) for u in users]
    assert made[2]["priority"] == 1 and made[0]["priority"] == 0
    positions = {
        r["id"]: api(u).get(f"{MINE}/{r['id']}").json()["position"] for u, r in zip(users, made, strict=True)
    }
    assert positions == {made[2]["id"]: 1, made[0]["id"]: 2, made[1]["id"]: 3}

    doctor = api(cast.staff_a["doctor"])
    _on_duty(doctor, cast.clinic_a)
    queue = doctor.get(f"{base(cast.clinic_a)}/urgent-queue").json()
    assert [i["id"] for i in queue["items"]] == [made[2]["id"], made[0]["id"], made[1]["id"]]
    assert [i["position"] for i in queue["items"]] == [1, 2, 3]


def test_without_a_subscription_nobody_has_priority(cast):
    from shifa.access.entitlements import PRIORITY_URGENT_CARE, has_entitlement

    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
    with pytest.raises(ValueError):
        has_entitlement(cast.patient, "free_lunch")


# --- doctors on duty -----------------------------------------------------------------------------------------------


def test_doctors_go_on_and_off_duty_and_see_the_queue_only_on_duty(cast, api):
    made = _ask(api(cast.patient_user))
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/urgent-queue"
    assert doctor.get(f"{base(cast.clinic_a)}/urgent-duty").json()["on_duty"] is False
    off = doctor.get(url).json()
    assert off["on_duty"] is False and off["items"] == []

    duty = _on_duty(doctor, cast.clinic_a)
    assert duty["on_duty"] is True and duty["clinic_id"] == str(cast.clinic_a.external_id)
    queue = doctor.get(url).json()
    assert queue["on_duty"] is True and [i["id"] for i in queue["items"]] == [made["id"]]
    assert queue["items"][0]["patient"]["name"] == "Patient" and queue["items"][0]["waited_minutes"] == 0

    _on_duty(doctor, cast.clinic_a, False)
    after = doctor.get(url).json()
    assert after["on_duty"] is False and after["items"] == []
    assert Duty.unscoped.get(doctor=cast.staff_a["doctor"]).on_duty is False


def test_only_doctors_take_urgent_requests(cast, api):
    for role in ("nurse", "secretary", "assistant_doctor", "clinic_admin"):
        staff = api(cast.staff_a[role])
        response = staff.put(f"{base(cast.clinic_a)}/urgent-duty", {"on_duty": True})
        assert response.status_code == 403, role
        assert staff.get(f"{base(cast.clinic_a)}/urgent-queue").status_code == 403, role
    # another clinic's doctor cannot go on duty for clinic A
    assert api(cast.doctor_b).put(f"{base(cast.clinic_a)}/urgent-duty", {"on_duty": True}).status_code == 404
    assert (
        api(cast.patient_user).put(f"{base(cast.clinic_a)}/urgent-duty", {"on_duty": True}).status_code == 404
    )
    bad = api(cast.staff_a["doctor"]).put(f"{base(cast.clinic_a)}/urgent-duty", {"on_duty": "maybe"})
    assert bad.status_code == 422
    assert not Duty.unscoped.exists()


def test_a_doctor_must_be_on_duty_to_accept(cast, api):
    made = _ask(api(cast.patient_user))
    response = _accept(api(cast.staff_a["doctor"]), cast.clinic_a, made["id"])
    assert response.status_code == 409 and response.json()["code"] == "not_on_duty"
    assert UrgentRequest.objects.get(external_id=made["id"]).status == "waiting"


# --- accepting -----------------------------------------------------------------------------------------------------


def test_accepting_makes_a_video_appointment_now_and_tells_the_patient(cast, api):
    patient = api(cast.patient_user)
    made = _ask(patient)
    doctor_user = cast.staff_a["doctor"]
    doctor = api(doctor_user)
    _on_duty(doctor, cast.clinic_a)
    before = timezones.now()
    response = _accept(doctor, cast.clinic_a, made["id"])
    assert response.status_code == 200, response.content
    accepted = response.json()
    assert accepted["status"] == "accepted" and accepted["position"] is None
    assert accepted["doctor"]["id"] == str(doctor_user.external_id)
    assert accepted["clinic"]["id"] == str(cast.clinic_a.external_id)
    assert accepted["wait_seconds"] is not None and accepted["wait_seconds"] >= 0

    request = UrgentRequest.objects.get(external_id=made["id"])
    appointment = Appointment.unscoped.get(external_id=accepted["appointment_id"])
    assert appointment.clinic == cast.clinic_a and appointment.doctor == doctor_user
    assert appointment.patient == cast.patient and appointment.visit_type == "video"
    assert appointment.status == "booked" and appointment.reason == "High fever since last night"
    assert before - dt.timedelta(seconds=5) <= appointment.starts_at <= timezones.now()
    assert request.meeting.appointment == appointment and request.meeting.clinic == cast.clinic_a
    assert request.wait_seconds == accepted["wait_seconds"] and request.accepted_at is not None
    [attendee] = Attendee.unscoped.filter(meeting=request.meeting)
    assert attendee.user == doctor_user and attendee.role == "doctor" and attendee.admitted_at is not None

    told = Notification.objects.get(recipient=cast.patient_user, kind="urgent.accepted")
    assert doctor_user.full_name in told.title and told.clinic_id == cast.clinic_a.pk
    assert told.url == f"/app/urgent/{made['id']}"

    seen = patient.get(f"{MINE}/{made['id']}").json()
    assert seen["status"] == "accepted" and seen["appointment_id"] == accepted["appointment_id"]
    assert seen["doctor"]["name"] == doctor_user.full_name
    # the appointment is the patient's, and its video visit may be joined now
    joined = patient.post(f"/api/v1/me/appointments/{accepted['appointment_id']}/video")
    assert joined.status_code == 200, joined.content
    assert joined.json()["meeting"]["id"] == str(request.meeting.external_id)
    # it leaves the queue; the same doctor accepting again (a double click, a retry) is told it is theirs
    assert doctor.get(f"{base(cast.clinic_a)}/urgent-queue").json()["items"] == []
    twice = _accept(doctor, cast.clinic_a, made["id"])
    assert twice.status_code == 200 and twice.json()["appointment_id"] == accepted["appointment_id"]
    assert Appointment.unscoped.filter(patient=cast.patient, visit_type="video").count() == 1
    _on_duty(api(cast.doctor_b), cast.clinic_b)
    again = _accept(api(cast.doctor_b), cast.clinic_b, made["id"])
    assert again.status_code == 409 and again.json()["code"] == "already_taken"


def test_accepting_an_unknown_request_is_not_found(cast, api):
    doctor = api(cast.staff_a["doctor"])
    _on_duty(doctor, cast.clinic_a)
    response = _accept(doctor, cast.clinic_a, "0b7c6f7e-7a3c-4c59-9e43-1f0a2d8c9e11")
    assert response.status_code == 404


def test_a_doctor_busy_with_an_appointment_now_cannot_accept(cast, api):
    made = _ask(api(cast.patient_user))
    doctor = api(cast.staff_a["doctor"])
    _on_duty(doctor, cast.clinic_a)
    other = Patient.objects.get(user=cast.other_patient_user)
    now = timezones.now()
    Appointment.unscoped.create(
        clinic=cast.clinic_a,
        doctor=cast.staff_a["doctor"],
        patient=other,
        visit_type="office",
        starts_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(minutes=20),
        status="checked_in",
        channel="desk",
    )
    response = _accept(doctor, cast.clinic_a, made["id"])
    assert response.status_code == 409 and response.json()["code"] == "doctor_busy"
    request = UrgentRequest.objects.get(external_id=made["id"])
    assert request.status == "waiting" and request.doctor is None and request.meeting is None
    assert not Meeting.unscoped.exists()
    assert not Notification.objects.filter(kind="urgent.accepted").exists()
    # another doctor can still take it
    _on_duty(api(cast.doctor_b), cast.clinic_b)
    assert _accept(api(cast.doctor_b), cast.clinic_b, made["id"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_ten_doctors_accepting_the_same_request_at_once_exactly_one_gets_it(cast):
    made = _ask(ApiClient(cast.patient_user))
    doctors = []
    for i in range(10):
        clinic = ClinicFactory(name_en=f"Urgent clinic {i}")
        user = UserFactory(full_name=f"Doctor {i}")
        MembershipFactory(clinic=clinic, user=user, role=Role.objects.get(code="doctor"))
        client = ApiClient(user)
        _on_duty(client, clinic)
        client.token()
        doctors.append((client, clinic))
    barrier = threading.Barrier(len(doctors))
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def accept(client, clinic):
        try:
            barrier.wait()
            response = _accept(client, clinic, made["id"])
            with lock:
                answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=pair) for pair in doctors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(code for code, _ in answers) == [200] + [409] * 9
    assert {body["code"] for code, body in answers if code == 409} == {"already_taken"}
    [winner] = [body for code, body in answers if code == 200]
    request = UrgentRequest.objects.get(external_id=made["id"])
    assert request.status == "accepted" and str(request.doctor.external_id) == winner["doctor"]["id"]
    assert Appointment.unscoped.filter(patient=cast.patient).count() == 1
    assert Meeting.unscoped.count() == 1 and Attendee.unscoped.count() == 1
    assert Notification.objects.filter(recipient=cast.patient_user, kind="urgent.accepted").count() == 1


# --- cancelling ----------------------------------------------------------------------------------------------------


def test_a_patient_cancels_only_their_own_waiting_request(cast, api):
    patient = api(cast.patient_user)
    made = _ask(patient)
    url = f"{MINE}/{made['id']}/cancel"
    assert api(cast.other_patient_user).post(url).status_code == 404
    assert api(cast.other_patient_user).get(f"{MINE}/{made['id']}").status_code == 404
    cancelled = patient.post(url)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    twice = patient.post(url)
    assert twice.status_code == 200 and twice.json()["status"] == "cancelled"
    request = UrgentRequest.objects.get(external_id=made["id"])
    assert request.cancelled_at is not None
    # cancelled, a new request may be made; once accepted, it cannot be cancelled
    fresh = _ask(patient)
    assert fresh["id"] != made["id"]
    doctor = api(cast.staff_a["doctor"])
    _on_duty(doctor, cast.clinic_a)
    late = _accept(doctor, cast.clinic_a, made["id"])
    assert late.status_code == 409 and late.json()["code"] == "request_cancelled"
    assert _accept(doctor, cast.clinic_a, fresh["id"]).status_code == 200
    refused = patient.post(f"{MINE}/{fresh['id']}/cancel")
    assert refused.status_code == 409 and refused.json()["code"] == "already_accepted"
    assert UrgentRequest.objects.get(external_id=fresh["id"]).status == "accepted"


# --- escalation ----------------------------------------------------------------------------------------------------


def test_requests_waiting_too_long_are_escalated_once_to_the_doctors_on_duty(cast, api):
    users = _patients(2)
    old, recent = (_ask(api(u)) for u in users)
    doctor = api(cast.staff_a["doctor"])
    _on_duty(doctor, cast.clinic_a)
    _on_duty(api(cast.doctor_b), cast.clinic_b)
    _on_duty(api(cast.doctor_b), cast.clinic_b, False)
    now = timezones.now()
    UrgentRequest.objects.filter(external_id=old["id"]).update(
        created_at=now - dt.timedelta(minutes=settings.URGENT_ESCALATE_MINUTES + 1)
    )
    assert urgent_escalate(now=now) == 1
    assert UrgentRequest.objects.get(external_id=old["id"]).escalated_at == now
    assert UrgentRequest.objects.get(external_id=recent["id"]).escalated_at is None
    [told] = Notification.objects.filter(kind="urgent.escalated")
    assert told.recipient == cast.staff_a["doctor"] and told.clinic_id == cast.clinic_a.pk
    assert str(settings.URGENT_ESCALATE_MINUTES) in told.body
    assert urgent_escalate(now=now + dt.timedelta(minutes=1)) == 0
    assert Notification.objects.filter(kind="urgent.escalated").count() == 1
    assert api(users[0]).get(f"{MINE}/{old['id']}").json()["escalated"] is True
    # accepted or cancelled requests are never escalated
    api(users[1]).post(f"{MINE}/{recent['id']}/cancel")
    assert urgent_escalate(now=now + dt.timedelta(hours=1)) == 0


def test_a_doctor_who_left_the_clinic_is_not_counted_on_duty(cast, api):
    from shifa.telehealth.queries import doctors_on_duty
    from shifa.tenancy.models import Membership

    _on_duty(api(cast.staff_a["doctor"]), cast.clinic_a)
    assert doctors_on_duty() == 1
    Membership.unscoped.filter(user=cast.staff_a["doctor"], clinic=cast.clinic_a).update(is_active=False)
    assert doctors_on_duty() == 0
    waiting = _ask(api(cast.patient_user))
    assert waiting["estimated_wait_minutes"] is None and waiting["doctors_on_duty"] == 0


# --- the platform console ------------------------------------------------------------------------------------------


def test_the_platform_sees_waiting_times(cast, api):
    url = "/api/v1/platform/urgent-care"
    now = timezones.now()
    patients = [Patient.objects.get(user=u) for u in _patients(7)]
    doctor = cast.staff_a["doctor"]
    for patient, wait in zip(patients[:5], (60, 120, 180, 240, 600), strict=True):
        UrgentRequest.objects.create(
            patient=patient,
            requested_by=patient.user,
            status="accepted",
            clinic=cast.clinic_a,
            doctor=doctor,
            accepted_at=now,
            wait_seconds=wait,
            escalated_at=now if wait == 600 else None,
        )
    UrgentRequest.objects.create(
        patient=patients[5], requested_by=patients[5].user, status="cancelled", cancelled_at=now
    )
    UrgentRequest.objects.create(patient=patients[6], requested_by=patients[6].user)
    # a request from long ago is outside the window
    old = UrgentRequest.objects.create(
        patient=cast.patient,
        requested_by=cast.patient_user,
        status="accepted",
        clinic=cast.clinic_a,
        doctor=doctor,
        accepted_at=now,
        wait_seconds=9000,
    )
    UrgentRequest.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=30))
    Duty.unscoped.create(clinic=cast.clinic_a, doctor=doctor, on_duty=True, since=now)

    response = api(cast.platform_admin).get(url)
    assert response.status_code == 200, response.content
    stats = response.json()
    assert {k: stats[k] for k in ("waiting_now", "on_duty_now", "requested", "accepted", "cancelled")} == {
        "waiting_now": 1,
        "on_duty_now": 1,
        "requested": 7,
        "accepted": 5,
        "cancelled": 1,
    }
    assert stats["escalated"] == 1
    assert stats["median_wait_seconds"] == 180 and stats["p90_wait_seconds"] == 600
    assert stats["longest_wait_seconds"] == 600
    month = api(cast.platform_admin).get(f"{url}?days=60").json()
    assert month["requested"] == 8 and month["longest_wait_seconds"] == 9000
    assert api(cast.platform_admin).get(f"{url}?days=0").status_code == 422
    assert api(cast.staff_a["doctor"]).get(url).status_code in (403, 404)
    assert api(cast.patient_user).get(url).status_code in (403, 404)


def test_no_requests_no_figures(cast, api):
    stats = api(cast.platform_admin).get("/api/v1/platform/urgent-care").json()
    assert stats["requested"] == 0 and stats["median_wait_seconds"] is None
    assert stats["p90_wait_seconds"] is None and stats["longest_wait_seconds"] is None


def test_the_estimate_follows_how_long_recent_urgent_visits_took(cast, api):
    from shifa.telehealth.queries import DEFAULT_MINUTES_PER_REQUEST

    patient, doctor = api(cast.patient_user), api(cast.staff_a["doctor"])
    _on_duty(doctor, cast.clinic_a)
    first = _accept(doctor, cast.clinic_a, _ask(patient)["id"]).json()
    request = UrgentRequest.objects.get(external_id=first["id"])
    waiting = _ask(api(_patients(1)[0]))
    assert waiting["estimated_wait_minutes"] == DEFAULT_MINUTES_PER_REQUEST  # no finished visit yet
    now = timezones.now()
    Meeting.unscoped.filter(pk=request.meeting_id).update(
        started_at=now - dt.timedelta(minutes=20), ended_at=now, status="ended"
    )
    again = api(UrgentRequest.objects.get(external_id=waiting["id"]).requested_by).get(
        f"{MINE}/{waiting['id']}"
    )
    assert again.json()["estimated_wait_minutes"] == 20
