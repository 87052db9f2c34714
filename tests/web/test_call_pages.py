"""The call screens of video visits through the test client: the patient's, the doctor's (waiting room, guest link,
the visit's notes beside the video) and an invited guest's — for the right people only, with what the browser needs
to join (never a token), and the links to them from the appointment pages."""

from __future__ import annotations

import datetime as dt
import json
import re

from django.test import Client

from shifa.access.models import Role
from shifa.core import timezones
from shifa.records.models import Patient, Visit
from shifa.telehealth.models import Attendee
from tests.conftest import sign_in_page, time_machine
from tests.factories import MembershipFactory, UserFactory
from tests.telehealth.test_meetings import clinics, invite, joined, secret_of, video_visit


def browser(user, language="en") -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def config(response) -> dict:
    found = re.search(
        r'<script id="call-config" type="application/json">(.*?)</script>', response.content.decode()
    )
    assert found, "the call screen's configuration is missing"
    return json.loads(found.group(1))


def patient_url(appointment) -> str:
    return f"/app/appointments/{appointment.external_id}/call"


def clinic_url(appointment, clinic=None) -> str:
    clinic_id = (clinic or appointment.clinic).external_id
    return f"/clinic/{clinic_id}/appointments/{appointment.external_id}/call"


# --- the patient's screen ------------------------------------------------------------------------------------------


def test_the_patient_gets_the_device_check_and_what_it_takes_to_join(cast):
    appointment = video_visit(cast)
    response = browser(cast.patient_user).get(patient_url(appointment))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    for part in ("data-call", "data-preview", 'data-check="camera"', 'data-check="microphone"', "data-join"):
        assert part in body, part
    assert 'data-stage="call" hidden' in body and 'data-action="audio-only"' in body
    assert 'data-action="end"' not in body  # only the doctor ends for everyone
    settings = config(response)
    assert settings["role"] == "patient"
    assert settings["join"]["url"] == f"/api/v1/me/appointments/{appointment.external_id}/video"
    assert settings["probe"].startswith("/ws/meetings/") and settings["probe"].endswith("/signal")
    assert settings["strings"]["waiting"]
    assert "token" not in json.dumps(settings).replace("token_", "")
    assert "shifa/js/call.js" in body and cast.staff_a["doctor"].full_name in body


def test_the_call_screen_is_in_arabic_right_to_left(cast):
    appointment = video_visit(cast)
    response = browser(cast.patient_user, "ar").get(patient_url(appointment))
    assert response.status_code == 200
    assert '<html lang="ar" dir="rtl">' in response.content.decode()


def test_a_guardian_opens_the_call_screen_of_their_dependant(cast):
    child = Patient.objects.create(full_name="Salma junior", guardian=cast.patient)
    appointment = video_visit(cast, patient=child)
    response = browser(cast.patient_user).get(patient_url(appointment))
    assert response.status_code == 200 and "Salma junior" in response.content.decode()


def test_the_patients_call_screen_is_for_them_only(cast):
    appointment = video_visit(cast)
    assert browser(cast.other_patient_user).get(patient_url(appointment)).status_code == 404
    assert browser(cast.staff_a["doctor"]).get(patient_url(appointment)).status_code == 403
    assert browser(cast.outsider).get(patient_url(appointment)).status_code == 403
    anonymous = Client().get(patient_url(appointment))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/sign-in")


def test_before_the_visit_opens_the_check_is_there_but_not_the_join_button(cast):
    appointment = video_visit(cast, starts_in=90)
    response = browser(cast.patient_user).get(patient_url(appointment))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-refusal="too_early"' in body and "data-preview" in body and "data-join" not in body
    opens = appointment.starts_at - dt.timedelta(minutes=15)
    assert config(response)["opens_at"] == timezones.isoformat_z(opens)  # the page reloads itself then
    with time_machine(opens + dt.timedelta(minutes=1)):
        assert "data-join" in browser(cast.patient_user).get(patient_url(appointment)).content.decode()


def test_an_office_visit_a_cancelled_or_an_ended_one_has_no_call(cast, api):
    office = video_visit(cast, visit_type="office")
    page = browser(cast.patient_user).get(patient_url(office))
    assert page.status_code == 200 and 'data-refusal="not_video"' in page.content.decode()
    assert "data-call" not in page.content.decode()

    ended = video_visit(cast, starts_in=60 * 24)
    with time_machine(ended.starts_at):
        joined(api(cast.staff_a["doctor"]).post(clinics(ended)))
        assert api(cast.staff_a["doctor"]).post(f"{clinics(ended)}/end").status_code == 200
        page = browser(cast.patient_user).get(patient_url(ended))
    assert (
        'data-refusal="meeting_ended"' in page.content.decode() and "data-call" not in page.content.decode()
    )


# --- the doctor's screen -------------------------------------------------------------------------------------------


def test_the_doctor_gets_the_call_the_waiting_room_the_guest_link_and_the_notes(cast):
    appointment = video_visit(cast)
    response = browser(cast.staff_a["doctor"]).get(clinic_url(appointment))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    for part in (
        "data-call",
        "data-lobby",
        "data-invite",
        'data-action="end"',
        "data-notes-panel",
        "data-open-visit",
    ):
        assert part in body, part
    settings = config(response)
    base = f"/api/v1/clinics/{cast.clinic_a.external_id}/appointments/{appointment.external_id}/video"
    assert settings["role"] == "doctor" and settings["join"]["url"] == base
    assert settings["api"] == {"guests": f"{base}/guests", "end": f"{base}/end"}
    assert f'name="appointment_id" value="{appointment.external_id}"' in body


def test_the_notes_beside_the_video_are_the_visits_own(cast, api):
    appointment = video_visit(cast)
    doctor = browser(cast.staff_a["doctor"])
    opened = doctor.post(
        f"/clinic/{cast.clinic_a.external_id}/visits/open", {"appointment_id": str(appointment.external_id)}
    )
    assert opened.status_code == 302
    visit = Visit.unscoped.get(appointment=appointment)
    link = invite(api, cast, appointment, name="Uncle Omar")

    body = doctor.get(clinic_url(appointment)).content.decode()
    write = f"/clinic/{cast.clinic_a.external_id}/visits/{visit.external_id}/write"
    assert f'action="{write}"' in body and "data-notes" in body and "data-open-visit" not in body
    assert (
        f"/clinic/{cast.clinic_a.external_id}/visits/{visit.external_id}" in body
    )  # the whole visit, new tab
    assert f'data-guest="{link["attendee"]["id"]}"' in body and "Uncle Omar" in body
    # The panel's form is the visit page's own: what the doctor writes during the call lands in the visit.
    saved = doctor.post(write, {"step": "notes", "complaint": "Sore throat", "notes": "Seen by video."})
    assert saved.status_code == 302
    visit.refresh_from_db()
    assert (visit.complaint, visit.notes) == ("Sore throat", "Seen by video.")
    assert "Sore throat" in doctor.get(clinic_url(appointment)).content.decode()


def test_the_doctors_call_screen_is_for_the_appointments_doctor_only(cast):
    appointment = video_visit(cast)
    colleague = UserFactory(full_name="Another doctor")
    MembershipFactory(clinic=cast.clinic_a, user=colleague, role=Role.objects.get(code="doctor"))
    assert browser(colleague).get(clinic_url(appointment)).status_code == 403
    assert browser(cast.staff_a["nurse"]).get(clinic_url(appointment)).status_code == 403
    assert browser(cast.staff_a["secretary"]).get(clinic_url(appointment)).status_code == 403
    assert browser(cast.doctor_b).get(clinic_url(appointment)).status_code == 404
    assert browser(cast.doctor_b).get(clinic_url(appointment, cast.clinic_b)).status_code == 404
    assert browser(cast.patient_user).get(clinic_url(appointment)).status_code == 404


# --- the guest's screen --------------------------------------------------------------------------------------------


def test_a_guest_opens_their_link_without_using_it(cast, api):
    appointment = video_visit(cast)
    link = invite(api, cast, appointment, name="Rana")
    secret = secret_of(link)
    response = Client().get(f"/call/guest/{secret}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "same-origin"
    body = response.content.decode()
    assert "Rana" in body and cast.staff_a["doctor"].full_name in body and "data-join" in body
    settings = config(response)
    assert settings["role"] == "guest"
    assert settings["join"] == {"url": "/api/v1/video/guest-joins", "body": {"link": secret}}
    assert Attendee.unscoped.get(external_id=link["attendee"]["id"]).invite_used_at is None
    # Joining uses it: the page still opens (for the browser that used it to come back with its key) until the
    # doctor withdraws the link.
    joined(api().post("/api/v1/video/guest-joins", {"link": secret}))
    assert Client().get(f"/call/guest/{secret}").status_code == 200
    removed = api(cast.staff_a["doctor"]).delete(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/appointments/{appointment.external_id}"
        f"/video/guests/{link['attendee']['id']}"
    )
    assert removed.status_code == 200, removed.content
    assert Client().get(f"/call/guest/{secret}").status_code == 404


def test_a_bad_or_expired_guest_link_shows_no_call(cast, api):
    made_up = Client().get("/call/guest/not-a-link-we-made")
    assert made_up.status_code == 404 and "data-call" not in made_up.content.decode()
    assert Client().get("/call/guest/" + "x" * 300).status_code == 404

    appointment = video_visit(cast, minutes=120)
    link = invite(api, cast, appointment)
    with time_machine(timezones.now() + dt.timedelta(minutes=61)):
        expired = Client().get(f"/call/guest/{secret_of(link)}")
    assert expired.status_code == 409 and "data-call" not in expired.content.decode()

    removed = video_visit(cast, starts_in=60 * 24)
    with time_machine(removed.starts_at):
        second = invite(api, cast, removed)
        api(cast.staff_a["doctor"]).delete(f"{clinics(removed)}/guests/{second['attendee']['id']}")
    assert Client().get(f"/call/guest/{secret_of(second)}").status_code == 404


# --- links to the call screens -------------------------------------------------------------------------------------


def test_the_appointment_pages_link_to_the_call_screen_of_video_visits(cast):
    video = video_visit(cast)
    office = video_visit(cast, starts_in=60 * 24, visit_type="office")
    patient = browser(cast.patient_user)
    assert (
        f'href="{patient_url(video)}"'
        in patient.get(f"/app/appointments/{video.external_id}").content.decode()
    )
    assert "data-video-call" not in patient.get(f"/app/appointments/{office.external_id}").content.decode()
    # days ahead, the page says when the call opens instead of offering a button that cannot work yet
    later = video_visit(cast, starts_in=60 * 24 * 3)
    page = patient.get(f"/app/appointments/{later.external_id}").content.decode()
    opens = timezones.to_local(later.starts_at, cast.clinic_a.time_zone)
    assert "data-video-call" not in page and "data-video-opens" in page and "The video visit opens on" in page
    assert opens.strftime("%H:") in page

    doctor = browser(cast.staff_a["doctor"])
    day = timezones.to_local(video.starts_at, cast.clinic_a.time_zone).date().isoformat()
    visits = doctor.get(f"/clinic/{cast.clinic_a.external_id}/visits?day={day}").content.decode()
    assert f'href="{clinic_url(video)}"' in visits
    nurse = browser(cast.staff_a["nurse"])
    assert (
        "data-video-call"
        not in nurse.get(f"/clinic/{cast.clinic_a.external_id}/visits?day={day}").content.decode()
    )
