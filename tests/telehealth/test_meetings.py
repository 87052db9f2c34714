"""Joining video visits through the API (TM-1): the time window, who may get a join token (and who may not), tokens
that are never stored or logged, a guest's one-time link, removing a guest, ending the meeting, the meeting record,
and a video provider that is down."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.conf import settings

from shifa.access.models import Role
from shifa.audit.models import AuditEvent
from shifa.core import timezones
from shifa.core.errors import Forbidden
from shifa.records.models import Patient
from shifa.scheduling.models import Appointment
from shifa.telehealth import actions
from shifa.telehealth.models import Attendee, Meeting
from shifa.telehealth.video.base import VideoProviderError
from shifa.telehealth.video.webrtc import WebRTCProvider, read_token
from tests.conftest import time_machine
from tests.factories import MembershipFactory, UserFactory


def video_visit(
    cast, *, starts_in: int = -5, minutes: int = 30, status: str = "booked", patient=None, **extra
):
    """A video appointment of clinic A's doctor (or ``doctor``) with the cast's patient (or ``patient``), starting
    ``starts_in`` minutes from now."""
    starts = timezones.now().replace(microsecond=0) + dt.timedelta(minutes=starts_in)
    return Appointment.unscoped.create(
        clinic=cast.clinic_a,
        doctor=extra.pop("doctor", None) or cast.staff_a["doctor"],
        patient=patient or cast.patient,
        visit_type=extra.pop("visit_type", "video"),
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=minutes),
        status=status,
        channel="app",
        **extra,
    )


def mine(appointment) -> str:
    return f"/api/v1/me/appointments/{appointment.external_id}/video"


def clinics(appointment, clinic=None) -> str:
    clinic_id = (clinic or appointment.clinic).external_id
    return f"/api/v1/clinics/{clinic_id}/appointments/{appointment.external_id}/video"


def joined(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def invite(api, cast, appointment, name="Rana (interpreter)") -> dict:
    response = api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/guests", {"name": name})
    assert response.status_code == 201, response.content
    return response.json()


def secret_of(link: dict) -> str:
    return link["url"].rsplit("/call/guest/", 1)[1]


# --- joining within the window -------------------------------------------------------------------------------------


def test_patient_and_doctor_join_the_same_meeting_within_its_window(cast, api):
    appointment = video_visit(cast)
    patient = joined(api(cast.patient_user).post(mine(appointment)))
    doctor = joined(api(cast.staff_a["doctor"]).post(clinics(appointment)))

    meeting = Meeting.unscoped.get(appointment=appointment)
    assert patient["meeting"]["id"] == doctor["meeting"]["id"] == str(meeting.external_id)
    assert patient["meeting"]["join_info"]["signaling"] == f"/ws/meetings/{meeting.external_id}/signal"
    assert patient["meeting"]["provider"] == "webrtc" and meeting.status == "open"
    assert patient["attendee"]["role"] == "patient" and patient["attendee"]["admitted_at"] is None
    assert doctor["attendee"]["role"] == "doctor" and doctor["attendee"]["admitted_at"] is not None
    # Each token names the meeting and its own attendee, and lives a few minutes.
    mine_attendee = Attendee.unscoped.get(external_id=patient["attendee"]["id"])
    assert read_token(patient["token"]) == (meeting.provider_meeting_id, mine_attendee.provider_attendee_id)
    expires = dt.datetime.fromisoformat(patient["expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(0) < expires - timezones.now() <= dt.timedelta(seconds=settings.JOIN_TOKEN_SECONDS)
    assert isinstance(patient["connection"]["ice_servers"], list)
    # Joining again gives a new token for the same attendee.
    again = joined(api(cast.patient_user).post(mine(appointment)))
    assert again["attendee"]["id"] == patient["attendee"]["id"]
    assert Attendee.unscoped.filter(meeting=meeting).count() == 2


def test_a_guardian_joins_the_video_visit_of_their_dependant(cast, api):
    child = Patient.objects.create(full_name="Child", guardian=cast.patient)
    appointment = video_visit(cast, patient=child)
    body = joined(api(cast.patient_user).post(mine(appointment)))
    assert body["attendee"]["role"] == "patient"
    assert api(cast.other_patient_user).post(mine(appointment)).status_code == 404


def test_joining_too_early_says_when_the_visit_opens(cast, api):
    appointment = video_visit(cast, starts_in=60)
    response = api(cast.patient_user).post(mine(appointment))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "too_early"
    opens = appointment.starts_at - dt.timedelta(minutes=settings.MEETING_EARLY_MINUTES)
    assert body["opens_at"] == timezones.isoformat_z(opens)
    assert api(cast.staff_a["doctor"]).post(clinics(appointment)).json()["code"] == "too_early"
    # A quarter of an hour before, it opens.
    assert not Meeting.unscoped.exists()
    with time_machine(opens + dt.timedelta(seconds=1)):
        joined(api(cast.patient_user).post(mine(appointment)))
    assert Meeting.unscoped.get(appointment=appointment).opens_at == opens


def test_joining_after_the_visit_is_too_late(cast, api):
    appointment = video_visit(cast, starts_in=-120, minutes=30)
    response = api(cast.patient_user).post(mine(appointment))
    assert response.status_code == 409 and response.json()["code"] == "too_late"
    assert not Meeting.unscoped.filter(appointment=appointment).exists()


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"visit_type": "office"}, "not_video"), ({"status": "cancelled"}, "wrong_status")],
    ids=["office-visit", "cancelled"],
)
def test_an_office_visit_or_a_cancelled_one_cannot_be_joined(cast, api, changes, code):
    extra = {"cancelled_at": timezones.now()} if changes.get("status") == "cancelled" else {}
    appointment = video_visit(cast, **changes, **extra)
    for response in (
        api(cast.patient_user).post(mine(appointment)),
        api(cast.staff_a["doctor"]).post(clinics(appointment)),
    ):
        assert response.status_code == 409 and response.json()["code"] == code
    assert not Meeting.unscoped.filter(appointment=appointment).exists()


# --- who may not get a token ---------------------------------------------------------------------------------------


def test_a_non_participant_cannot_get_a_join_token(cast, api):
    appointment = video_visit(cast)
    other_doctor = UserFactory(full_name="Another doctor of A")
    MembershipFactory(clinic=cast.clinic_a, user=other_doctor, role=Role.objects.get(code="doctor"))

    refused = {
        "another patient": (api(cast.other_patient_user).post(mine(appointment)), 404),
        "a patient on the clinic's route": (api(cast.patient_user).post(clinics(appointment)), 404),
        "another doctor of the clinic": (api(other_doctor).post(clinics(appointment)), 403),
        "a doctor of another clinic, there": (api(cast.doctor_b).post(clinics(appointment)), 404),
        "a doctor of another clinic, at home": (
            api(cast.doctor_b).post(clinics(appointment, cast.clinic_b)),
            404,
        ),
        "a nurse": (api(cast.staff_a["nurse"]).post(clinics(appointment)), 403),
        "an assistant doctor": (api(cast.staff_a["assistant_doctor"]).post(clinics(appointment)), 403),
        "a secretary": (api(cast.staff_a["secretary"]).post(clinics(appointment)), 403),
        "someone signed in with no role": (api(cast.outsider).post(mine(appointment)), 403),
        "anonymous": (api().post(mine(appointment)), 401),
    }
    for who, (response, status) in refused.items():
        assert response.status_code == status, (who, response.status_code, response.content)
        assert "token" not in response.json(), who
    assert response.json()["code"] == "not_authenticated"
    assert refused["another doctor of the clinic"][0].json()["code"] == "not_the_doctor"
    # Nobody was made an attendee (nor was the meeting made) by trying.
    assert not Attendee.unscoped.exists() and not Meeting.unscoped.exists()


def test_join_tokens_are_never_stored_or_logged(cast, api, caplog):
    appointment = video_visit(cast)
    with caplog.at_level(logging.DEBUG):
        tokens = [
            joined(api(cast.patient_user).post(mine(appointment)))["token"],
            joined(api(cast.staff_a["doctor"]).post(clinics(appointment)))["token"],
        ]
        link = invite(api, cast, appointment)
        tokens.append(joined(api().post("/api/v1/video/guest-joins", {"link": secret_of(link)}))["token"])
    events = AuditEvent.objects.filter(table_name__startswith="telehealth_")
    assert events.filter(table_name="telehealth_attendee").count() >= 3  # the audit saw the attendees made
    audit = json.dumps(list(events.values("before", "after", "changed_fields")), default=str)
    rows = json.dumps(
        [*Meeting.unscoped.values(), *Attendee.unscoped.values()],
        default=str,
    )
    for token in tokens:
        signature = token.rsplit(".", 1)[1]
        assert token not in audit and signature not in audit
        assert token not in rows and signature not in rows
        assert signature not in caplog.text
    # Nor is the guest's link: only its digest.
    assert secret_of(link) not in audit and secret_of(link) not in rows


# --- guests --------------------------------------------------------------------------------------------------------


def test_a_guest_link_works_once(cast, api):
    appointment = video_visit(cast)
    link = invite(api, cast, appointment)
    assert link["url"].startswith("http://testserver/call/guest/")
    assert link["attendee"]["role"] == "guest" and link["attendee"]["invited"]

    first = joined(api().post("/api/v1/video/guest-joins", {"link": secret_of(link)}))
    assert first["attendee"]["id"] == link["attendee"]["id"]
    assert first["attendee"]["admitted_at"] is None  # the doctor lets them in
    assert (
        read_token(first["token"])[1]
        == Attendee.unscoped.get(external_id=link["attendee"]["id"]).provider_attendee_id
    )

    second = api().post("/api/v1/video/guest-joins", {"link": secret_of(link)})
    assert second.status_code == 404 and second.json()["code"] == "invite_invalid"
    # the browser that used the link comes back with its key (a reloaded page); a wrong key does not
    assert first["resume"] and first["resume"] not in json.dumps(list(AuditEvent.objects.values("after")))
    stolen = api().post("/api/v1/video/guest-joins", {"link": secret_of(link), "resume": "guessed-key"})
    assert stolen.status_code == 404
    back = joined(
        api().post("/api/v1/video/guest-joins", {"link": secret_of(link), "resume": first["resume"]})
    )
    assert back["attendee"]["id"] == first["attendee"]["id"] and "resume" not in back
    made_up = api().post("/api/v1/video/guest-joins", {"link": "not-a-link-we-made"})
    assert made_up.status_code == 404
    # One guest at a time (three people in all).
    again = api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/guests", {"name": "Another"})
    assert again.status_code == 409 and again.json()["code"] == "guest_already_invited"


def test_an_expired_guest_link_is_409(cast, api):
    appointment = video_visit(cast, starts_in=-5, minutes=120)
    link = invite(api, cast, appointment)
    later = timezones.now() + dt.timedelta(minutes=settings.GUEST_LINK_MINUTES, seconds=5)
    with time_machine(later):
        response = api().post("/api/v1/video/guest-joins", {"link": secret_of(link)})
    assert response.status_code == 409 and response.json()["code"] == "invite_expired"
    # An unused link that expired does not block inviting someone else.
    with time_machine(later):
        assert (
            api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/guests", {"name": "B"}).status_code
            == 201
        )


def test_inviting_needs_a_name_and_the_appointments_doctor(cast, api):
    appointment = video_visit(cast)
    blank = api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/guests", {"name": "  "})
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "name"
    other_doctor = UserFactory()
    MembershipFactory(clinic=cast.clinic_a, user=other_doctor, role=Role.objects.get(code="doctor"))
    assert api(other_doctor).post(f"{clinics(appointment)}/guests", {"name": "X"}).status_code == 403
    assert api(cast.staff_a["nurse"]).post(f"{clinics(appointment)}/guests", {"name": "X"}).status_code == 403
    assert not Attendee.unscoped.filter(role="guest").exists()


def test_the_doctor_removes_a_guest(cast, api):
    appointment = video_visit(cast)
    link = invite(api, cast, appointment)
    guest_id = link["attendee"]["id"]
    joined(api().post("/api/v1/video/guest-joins", {"link": secret_of(link)}))

    removed = api(cast.staff_a["doctor"]).delete(f"{clinics(appointment)}/guests/{guest_id}")
    assert removed.status_code == 200, removed.content
    assert removed.json()["removed"] is True and removed.json()["left_at"] is not None
    guest = Attendee.unscoped.get(external_id=guest_id)
    assert guest.invite_digest is None  # the link is withdrawn
    # They can get no fresh token to reconnect with (the signaling refuses them the same way).
    with pytest.raises(Forbidden) as refused:
        actions.attendee_token(attendee_id=guest.pk)
    assert refused.value.code == "removed"
    # Removing twice is the same as once; another guest may be invited now.
    assert api(cast.staff_a["doctor"]).delete(f"{clinics(appointment)}/guests/{guest_id}").status_code == 200
    invite(api, cast, appointment, name="Second guest")
    # Only guests are removed this way, and only by the appointment's doctor.
    patient = joined(api(cast.patient_user).post(mine(appointment)))
    gone = api(cast.staff_a["doctor"]).delete(f"{clinics(appointment)}/guests/{patient['attendee']['id']}")
    assert gone.status_code == 404
    assert api(cast.staff_a["nurse"]).delete(f"{clinics(appointment)}/guests/{guest_id}").status_code == 403


def test_a_meeting_holds_three_people_at_most(cast, api):
    """Built-in video is a mesh of three: here the appointment moved to another doctor after the first had joined,
    and a guest is invited, so the patient finds the meeting full."""
    appointment = video_visit(cast)
    joined(api(cast.staff_a["doctor"]).post(clinics(appointment)))
    second = UserFactory(full_name="Second doctor")
    MembershipFactory(clinic=cast.clinic_a, user=second, role=Role.objects.get(code="doctor"))
    Appointment.unscoped.filter(pk=appointment.pk).update(doctor=second)
    joined(api(second).post(clinics(appointment)))
    response = api(second).post(f"{clinics(appointment)}/guests", {"name": "Interpreter"})
    assert response.status_code == 201
    full = api(cast.patient_user).post(mine(appointment))
    assert full.status_code == 409 and full.json()["code"] == "meeting_full"
    assert Attendee.unscoped.filter(meeting__appointment=appointment).count() == 3
    # Removing the guest makes room.
    guest_id = response.json()["attendee"]["id"]
    assert api(second).delete(f"{clinics(appointment)}/guests/{guest_id}").status_code == 200
    joined(api(cast.patient_user).post(mine(appointment)))


# --- the meeting ---------------------------------------------------------------------------------------------------


def test_the_doctor_ends_the_meeting_for_everyone(cast, api):
    appointment = video_visit(cast)
    joined(api(cast.patient_user).post(mine(appointment)))
    joined(api(cast.staff_a["doctor"]).post(clinics(appointment)))
    patient = Attendee.unscoped.get(meeting__appointment=appointment, role="patient")
    actions.attendee_connected(attendee_id=patient.pk)

    assert api(cast.staff_a["nurse"]).post(f"{clinics(appointment)}/end").status_code == 403
    ended = api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/end")
    assert ended.status_code == 200, ended.content
    assert ended.json()["status"] == "ended" and ended.json()["ended_at"] is not None
    meeting = Meeting.unscoped.get(appointment=appointment)
    assert meeting.ended_by == cast.staff_a["doctor"]
    patient.refresh_from_db()
    assert patient.left_at is not None  # everyone connected has left with it

    again = api(cast.patient_user).post(mine(appointment))
    assert again.status_code == 409 and again.json()["code"] == "meeting_ended"
    assert (
        api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/end").json()["ended_at"]
        == ended.json()["ended_at"]
    )


def test_ending_a_meeting_nobody_joined_is_404(cast, api):
    appointment = video_visit(cast)
    assert api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/end").status_code == 404


def test_the_meeting_record_shows_provider_ids_attendees_and_their_times(cast, api):
    appointment = video_visit(cast)
    assert joined(api(cast.staff_a["doctor"]).get(clinics(appointment))) == {"meeting": None, "attendees": []}
    patient = joined(api(cast.patient_user).post(mine(appointment)))
    doctor = joined(api(cast.staff_a["doctor"]).post(clinics(appointment)))
    patient_row = Attendee.unscoped.get(external_id=patient["attendee"]["id"])
    actions.attendee_connected(attendee_id=patient_row.pk)
    actions.attendee_disconnected(attendee_id=patient_row.pk)

    record = joined(api(cast.staff_a["doctor"]).get(clinics(appointment)))
    meeting = Meeting.unscoped.get(appointment=appointment)
    assert record["meeting"]["provider"] == "webrtc"
    assert record["meeting"]["provider_meeting_id"] == meeting.provider_meeting_id == str(meeting.external_id)
    assert record["meeting"]["external_meeting_id"] == meeting.external_meeting_id
    people = {a["role"]: a for a in record["attendees"]}
    assert set(people) == {"patient", "doctor"}
    assert people["patient"]["provider_attendee_id"] == patient_row.provider_attendee_id
    assert people["patient"]["joined_at"] is not None and people["patient"]["left_at"] is not None
    assert people["doctor"]["id"] == doctor["attendee"]["id"] and people["doctor"]["joined_at"] is None
    assert people["patient"]["capabilities"] == {"audio": "SendReceive", "video": "SendReceive"}
    assert "token" not in json.dumps(record)
    # The patient sees their meeting (without attendees); clinic B does not see it at all.
    assert joined(api(cast.patient_user).get(mine(appointment)))["meeting"]["id"] == str(meeting.external_id)
    assert api(cast.doctor_b).get(clinics(appointment)).status_code == 404


def test_a_provider_that_is_down_is_503_and_nothing_is_saved(cast, api, monkeypatch):
    appointment = video_visit(cast)

    def down(*args, **kwargs):
        raise VideoProviderError("connection refused")

    monkeypatch.setattr(WebRTCProvider, "create_meeting", down)
    response = api(cast.patient_user).post(mine(appointment))
    assert response.status_code == 503 and response.json()["code"] == "video_unavailable"
    assert "token" not in response.json()
    assert not Meeting.unscoped.exists() and not Attendee.unscoped.exists()
    monkeypatch.undo()

    # With the meeting made, a provider failing to issue the token keeps no new attendee either.
    joined(api(cast.staff_a["doctor"]).post(clinics(appointment)))
    monkeypatch.setattr(WebRTCProvider, "join_token", down)
    response = api(cast.patient_user).post(mine(appointment))
    assert response.status_code == 503
    assert list(Attendee.unscoped.values_list("role", flat=True)) == ["doctor"]
    invited = api(cast.staff_a["doctor"]).post(f"{clinics(appointment)}/guests", {"name": "Interpreter"})
    assert invited.status_code == 201  # inviting needs no token
    guest = api().post("/api/v1/video/guest-joins", {"link": secret_of(invited.json())})
    assert guest.status_code == 503
    assert Attendee.unscoped.get(role="guest").invite_used_at is None  # the link can still be used


def test_a_cancelled_appointment_lets_no_one_back_into_its_call(cast, api):
    from shifa.core.errors import Conflict

    appointment = video_visit(cast)
    token = joined(api(cast.patient_user).post(mine(appointment)))["token"]
    assert actions.signal_attendee(token=token).user == cast.patient_user
    Appointment.unscoped.filter(pk=appointment.pk).update(status="cancelled")
    with pytest.raises(Conflict) as refused:
        actions.signal_attendee(token=token)
    assert refused.value.code == "wrong_status"
    again = api(cast.patient_user).post(mine(appointment))
    assert again.status_code == 409 and again.json()["code"] == "wrong_status"
