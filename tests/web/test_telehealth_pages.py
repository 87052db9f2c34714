"""The telehealth pages through the test client: Treat Me Now for the patient (ask, wait, cancel, join) and for the
doctor on duty (the duty switch, the queue, accepting), the platform's waiting times, and the conversations
between patients and care teams (start, send once, attachments, read receipts, earlier messages) — with who may
open what."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from shifa.catalog.actions import reference_list_load
from shifa.catalog.models import Specialty
from shifa.core import timezones
from shifa.records.models import Patient
from shifa.telehealth.models import Conversation, Duty, Message, UrgentRequest
from tests.conftest import sign_in_page
from tests.support.records import in_care

PDF = b"%PDF-1.4 blood test results"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def browser(user, language="en") -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def clinic_url(clinic, rest: str = "") -> str:
    return f"/clinic/{clinic.external_id}{rest}"


def page(response) -> str:
    return response.content.decode()


def on_duty(doctor, clinic) -> None:
    Duty.unscoped.update_or_create(
        doctor=doctor, defaults={"clinic": clinic, "on_duty": True, "since": timezones.now()}
    )


def ask(cast, client=None, **form) -> UrgentRequest:
    client = client or browser(cast.patient_user)
    response = client.post("/app/urgent", {"complaint": "Fever and a sore throat", **form})
    assert response.status_code == 302, page(response)[:2000]
    request = UrgentRequest.objects.get(external_id=response["Location"].rsplit("/", 1)[-1])
    assert response["Location"] == f"/app/urgent/{request.external_id}"
    return request


def conversation_of(cast, patient=None, clinic=None) -> Conversation:
    clinic = clinic or cast.clinic_a
    return Conversation.unscoped.create(
        clinic=clinic, patient=patient or cast.patient, started_by=cast.patient_user
    )


def write(conversation, sender, side: str, body: str) -> Message:
    return Message.unscoped.create(
        clinic_id=conversation.clinic_id, conversation=conversation, sender=sender, side=side, body=body
    )


def error_text(body: str, field: str) -> str:
    match = re.search(rf'data-error="{field}"[^>]*>([^<]*)<', body)
    assert match, f"no error shown for {field}"
    return match.group(1)


# --- Treat Me Now: the patient ------------------------------------------------------------------------------------


def test_asking_for_a_doctor_shows_the_place_in_the_queue_and_no_doctor_on_duty(cast):
    patient = browser(cast.patient_user)
    form = page(patient.get("/app/urgent"))
    assert "Ask for a doctor now" in form and 'name="complaint"' in form
    assert 'href="/app/urgent" aria-current="page"' in form  # the tab bar
    request = ask(cast, patient)
    assert request.status == "waiting" and request.patient == cast.patient
    assert request.complaint == "Fever and a sore throat" and request.requested_by == cast.patient_user
    shown = page(patient.get(f"/app/urgent/{request.external_id}"))
    assert 'data-position="1"' in shown and "You are number 1 in the queue" in shown
    assert "data-no-doctor" in shown and "we keep your place" in shown
    assert f'data-ws="/ws/me/urgent-requests/{request.external_id}"' in shown
    assert 'hx-trigger="every 10s, urgent-changed from:body"' in shown
    assert "Cancel my request" in shown


def test_the_estimate_appears_once_a_doctor_is_on_duty_and_the_poll_returns_the_status_alone(cast):
    earlier = UrgentRequest.objects.create(
        patient=Patient.objects.create(full_name="First in line"), requested_by=cast.other_patient_user
    )
    request = ask(cast)
    on_duty(cast.staff_a["doctor"], cast.clinic_a)
    patient = browser(cast.patient_user)
    polled = patient.get(f"/app/urgent/{request.external_id}", HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    body = page(polled)
    assert body.lstrip().startswith("<section") and "<html" not in body
    assert 'data-position="2"' in body
    # Two places, eight minutes each by default, one doctor: about 16 minutes.
    assert 'data-estimate="16"' in body and "about 16 minutes" in body
    assert "data-no-doctor" not in body
    assert earlier.status == "waiting"


def test_asking_twice_while_waiting_keeps_one_request(cast):
    patient = browser(cast.patient_user)
    first = ask(cast, patient)
    second = ask(cast, patient, complaint="Still feverish")
    assert first.pk == second.pk
    assert UrgentRequest.objects.filter(patient=cast.patient).count() == 1
    listed = page(patient.get("/app/urgent"))
    assert "data-open-requests" in listed and f'data-request="{first.external_id}"' in listed


def test_asking_for_a_dependant_with_a_specialty(cast):
    reference_list_load("specialties")
    child = Patient.objects.create(full_name="Little Sami", guardian=cast.patient)
    pediatrics = Specialty.objects.get(code="pediatrics")
    patient = browser(cast.patient_user)
    form = page(patient.get("/app/urgent"))
    assert f'value="{child.external_id}"' in form and "Little Sami" in form
    request = ask(cast, patient, patient=str(child.external_id), specialty=str(pediatrics.external_id))
    assert request.patient == child and request.specialty == pediatrics
    shown = page(patient.get(f"/app/urgent/{request.external_id}"))
    assert "Little Sami" in shown and pediatrics.name_en in shown


def test_bad_input_on_the_ask_form_is_shown_with_400(cast):
    patient = browser(cast.patient_user)
    too_long = patient.post("/app/urgent", {"complaint": "x" * 501})
    assert too_long.status_code == 400
    assert "at most 500 characters" in page(too_long)
    unknown = patient.post("/app/urgent", {"complaint": "Fever", "specialty": str(uuid.uuid4())})
    assert unknown.status_code == 400
    assert "Select a valid choice" in page(unknown)
    someone_else = patient.post("/app/urgent", {"patient": str(uuid.uuid4())})
    assert someone_else.status_code == 400
    assert not UrgentRequest.objects.exists()


def test_cancelling_takes_the_request_out_of_the_queue(cast):
    request = ask(cast)
    patient = browser(cast.patient_user)
    response = patient.post(f"/app/urgent/{request.external_id}/cancel")
    assert response.status_code == 302 and response["Location"] == f"/app/urgent/{request.external_id}"
    request.refresh_from_db()
    assert request.status == "cancelled" and request.cancelled_at is not None
    shown = page(patient.get(f"/app/urgent/{request.external_id}"))
    assert 'data-urgent-status="cancelled"' in shown and "Your request is cancelled." in shown
    assert "hx-trigger" not in shown.split('id="urgent-status"')[1].split(">")[0]
    again = patient.post(f"/app/urgent/{request.external_id}/cancel")
    assert again.status_code == 302


def test_another_patients_request_is_404(cast):
    request = ask(cast)
    other = browser(cast.other_patient_user)
    assert other.get(f"/app/urgent/{request.external_id}").status_code == 404
    assert other.post(f"/app/urgent/{request.external_id}/cancel").status_code == 404
    request.refresh_from_db()
    assert request.status == "waiting"
    assert browser(cast.staff_a["doctor"]).get(f"/app/urgent/{request.external_id}").status_code == 403


# --- Treat Me Now: the doctor -----------------------------------------------------------------------------------


def test_the_duty_switch_turns_the_queue_on_and_off(cast):
    request = ask(cast)
    doctor = browser(cast.staff_a["doctor"])
    url = clinic_url(cast.clinic_a, "/urgent")
    off = page(doctor.get(url))
    assert 'role="switch" aria-checked="false"' in off and "data-go-on-duty" in off
    assert "1 patient waiting" in off and str(request.external_id) not in off
    assert doctor.post(clinic_url(cast.clinic_a, "/urgent/duty"), {"on_duty": "on"}).status_code == 302
    duty = Duty.unscoped.get(doctor=cast.staff_a["doctor"])
    assert duty.on_duty and duty.clinic == cast.clinic_a
    on = page(doctor.get(url))
    assert 'aria-checked="true"' in on and f'data-request="{request.external_id}"' in on
    assert "Fever and a sore throat" in on and "Patient" in on
    assert f'data-ws="/ws/clinics/{cast.clinic_a.external_id}/urgent-queue"' in on
    assert doctor.post(clinic_url(cast.clinic_a, "/urgent/duty"), {"on_duty": "off"}).status_code == 302
    duty.refresh_from_db()
    assert not duty.on_duty
    wrong = doctor.post(clinic_url(cast.clinic_a, "/urgent/duty"), {"on_duty": "maybe"})
    assert wrong.status_code == 400 and "Choose on duty or off duty." in page(wrong)


def test_the_queue_shows_age_sex_specialty_waited_minutes_and_escalation(cast):
    reference_list_load("specialties")
    Patient.objects.filter(pk=cast.patient.pk).update(sex="female", date_of_birth=dt.date(1990, 1, 1))
    request = ask(cast, specialty=str(Specialty.objects.get(code="pediatrics").external_id))
    UrgentRequest.objects.filter(pk=request.pk).update(
        created_at=timezones.now() - dt.timedelta(minutes=14), escalated_at=timezones.now()
    )
    on_duty(cast.staff_a["doctor"], cast.clinic_a)
    doctor = browser(cast.staff_a["doctor"])
    queue = doctor.get(clinic_url(cast.clinic_a, "/urgent"), HTTP_HX_REQUEST="true")
    body = page(queue)
    assert body.lstrip().startswith("<section") and 'id="urgent-queue"' in body
    row = body.split(f'data-request="{request.external_id}"')[1].split("</tr>")[0]
    assert "queue-row--escalated" in body and "data-escalated" in row
    assert "Female" in row and "years" in row and "Pediatrics" in row
    assert "14 min" in row


def test_accepting_opens_the_call_screen_and_the_patient_gets_the_join_button(cast):
    request = ask(cast)
    doctor_user = cast.staff_a["doctor"]
    on_duty(doctor_user, cast.clinic_a)
    doctor = browser(doctor_user)
    response = doctor.post(clinic_url(cast.clinic_a, f"/urgent/{request.external_id}/accept"))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "accepted" and request.doctor == doctor_user and request.clinic == cast.clinic_a
    appointment = request.meeting.appointment
    assert response["Location"] == clinic_url(cast.clinic_a, f"/appointments/{appointment.external_id}/call")
    shown = page(browser(cast.patient_user).get(f"/app/urgent/{request.external_id}"))
    assert 'data-urgent-status="accepted"' in shown and doctor_user.full_name in shown
    assert f'href="/app/appointments/{appointment.external_id}/call"' in shown
    assert "Join the video call" in shown and "Cancel my request" not in shown
    # The queue no longer lists the patient.
    assert f'data-request="{request.external_id}"' not in page(
        doctor.get(clinic_url(cast.clinic_a, "/urgent"))
    )


def test_a_request_already_taken_is_said_kindly(cast):
    request = ask(cast)
    on_duty(cast.doctor_b, cast.clinic_b)
    on_duty(cast.staff_a["doctor"], cast.clinic_a)
    quick = browser(cast.doctor_b).post(clinic_url(cast.clinic_b, f"/urgent/{request.external_id}/accept"))
    assert quick.status_code == 302
    late = browser(cast.staff_a["doctor"]).post(
        clinic_url(cast.clinic_a, f"/urgent/{request.external_id}/accept")
    )
    assert late.status_code == 409
    assert "Another doctor has just taken this patient" in page(late)
    request.refresh_from_db()
    assert request.doctor == cast.doctor_b


def test_accepting_while_off_duty_is_refused_with_the_reason(cast):
    request = ask(cast)
    response = browser(cast.staff_a["doctor"]).post(
        clinic_url(cast.clinic_a, f"/urgent/{request.external_id}/accept")
    )
    assert response.status_code == 409 and "Go on duty for urgent requests first." in page(response)
    request.refresh_from_db()
    assert request.status == "waiting"


def test_only_doctors_of_the_clinic_see_the_queue(cast):
    request = ask(cast)
    accept = clinic_url(cast.clinic_a, f"/urgent/{request.external_id}/accept")
    for role in ("secretary", "nurse", "clinic_admin", "assistant_doctor"):
        staff = browser(cast.staff_a[role])
        assert staff.get(clinic_url(cast.clinic_a, "/urgent")).status_code == 403, role
        assert staff.post(clinic_url(cast.clinic_a, "/urgent/duty"), {"on_duty": "on"}).status_code == 403
        assert staff.post(accept).status_code == 403
    outsider = browser(cast.doctor_b)
    assert outsider.get(clinic_url(cast.clinic_a, "/urgent")).status_code == 404
    assert outsider.post(accept).status_code == 404
    assert browser(cast.patient_user).get(clinic_url(cast.clinic_a, "/urgent")).status_code == 404
    assert not Duty.unscoped.exists()


# --- the platform ---------------------------------------------------------------------------------------------------


def test_the_platform_sees_waiting_times_and_volumes(cast):
    now = timezones.now()
    for seconds in (60, 120, 180, 240, 600):
        patient = Patient.objects.create(full_name=f"Seen {seconds}")
        UrgentRequest.objects.create(
            patient=patient,
            requested_by=cast.other_patient_user,
            status="accepted",
            clinic=cast.clinic_a,
            doctor=cast.staff_a["doctor"],
            accepted_at=now,
            wait_seconds=seconds,
        )
    ask(cast)
    on_duty(cast.staff_a["doctor"], cast.clinic_a)
    admin = browser(cast.platform_admin)
    body = page(admin.get("/platform/urgent-care?days=30"))
    assert re.search(r'data-stat="median">3 min 0 s<', body)
    assert re.search(r'data-stat="p90">10 min 0 s<', body)
    assert re.search(r'data-stat="longest">10 min 0 s<', body)
    assert re.search(r'data-stat="requested">6<', body) and re.search(r'data-stat="waiting_now">1<', body)
    assert re.search(r'data-stat="on_duty_now">1<', body)
    assert 'href="?days=30" aria-current="page"' in body
    assert 'href="/platform/urgent-care" aria-current="page"' in body
    odd = admin.get("/platform/urgent-care?days=abc")
    assert odd.status_code == 200 and 'href="?days=7" aria-current="page"' in page(odd)
    assert browser(cast.staff_a["doctor"]).get("/platform/urgent-care").status_code == 403


# --- conversations: the patient -----------------------------------------------------------------------------------


def test_a_patient_starts_a_conversation_with_a_clinic_they_booked_with(cast):
    patient = browser(cast.patient_user)
    before = page(patient.get("/app/messages"))
    assert "You can write to a clinic once you have booked with it." in before
    in_care(cast)
    listed = page(patient.get("/app/messages"))
    assert 'href="/app/messages" aria-current="page"' in listed
    target = f"{cast.clinic_a.external_id}:{cast.patient.external_id}"
    assert f'value="{target}"' in listed and "Clinic A" in listed
    assert str(cast.clinic_b.external_id) not in listed
    response = patient.post("/app/messages", {"target": target})
    conversation = Conversation.unscoped.get(clinic=cast.clinic_a, patient=cast.patient)
    assert response.status_code == 302 and response["Location"] == f"/app/messages/{conversation.external_id}"
    again = patient.post("/app/messages", {"target": target})
    assert again["Location"] == response["Location"] and Conversation.unscoped.count() == 1
    refused = patient.post(
        "/app/messages", {"target": f"{cast.clinic_b.external_id}:{cast.patient.external_id}"}
    )
    assert refused.status_code == 400 and "Select a valid choice" in page(refused)


def test_a_message_sent_twice_with_the_same_client_id_is_one_message(cast):
    conversation = conversation_of(cast)
    patient = browser(cast.patient_user)
    url = f"/app/messages/{conversation.external_id}"
    shown = page(patient.get(url))
    client_id = re.search(r'name="client_id" value="([0-9a-f]{32})"', shown).group(1)
    assert f'data-ws="/ws/me/conversations/{conversation.external_id}"' in shown
    form = {"body": "My fever is back since last night", "client_id": client_id}
    first = patient.post(url, form)
    second = patient.post(url, form)
    message = Message.unscoped.get(conversation=conversation)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"{url}#message-{message.external_id}"
    assert message.body == form["body"] and message.side == "patient" and message.sender == cast.patient_user
    after = page(patient.get(url))
    assert f'id="message-{message.external_id}"' in after and "My fever is back" in after
    assert re.search(r'name="client_id" value="([0-9a-f]{32})"', after).group(1) != client_id


def test_an_empty_message_or_a_wrong_file_is_refused_on_the_form(cast):
    conversation = conversation_of(cast)
    patient = browser(cast.patient_user)
    url = f"/app/messages/{conversation.external_id}"
    empty = patient.post(url, {"body": "   ", "client_id": "a1"})
    assert empty.status_code == 400
    assert error_text(page(empty), "body") == "Write a message or attach a file."
    assert 'name="client_id" value="a1"' in page(empty)  # sending it again still counts once
    wrong = patient.post(url, {"body": "", "file": SimpleUploadedFile("x.pdf", b"MZ\x90\x00 not a pdf")})
    assert wrong.status_code == 400 and error_text(page(wrong), "file") == "Attach a PDF, JPEG or PNG file."
    too_long = patient.post(url, {"body": "x" * 4001})
    assert too_long.status_code == 400 and "at most 4000 characters" in error_text(page(too_long), "body")
    assert not Message.unscoped.exists()


def test_a_file_goes_with_the_form_and_downloads_for_both_sides_only(cast):
    conversation = conversation_of(cast)
    patient = browser(cast.patient_user)
    url = f"/app/messages/{conversation.external_id}"
    upload = SimpleUploadedFile("blood-test.pdf", PDF, content_type="application/pdf")
    response = patient.post(url, {"body": "My results", "file": upload, "client_id": "f1"})
    assert response.status_code == 302
    message = Message.unscoped.get(conversation=conversation)
    assert message.attachment_name == "blood-test.pdf" and message.attachment_type == "application/pdf"
    shown = page(patient.get(url))
    mine = f"/api/v1/me/conversations/{conversation.external_id}/messages/{message.external_id}/attachment"
    assert f'href="{mine}"' in shown and "blood-test.pdf" in shown
    download = patient.get(mine)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    nurse = browser(cast.staff_a["nurse"])
    in_care(cast)
    theirs = (
        f"/api/v1/clinics/{cast.clinic_a.external_id}/conversations/{conversation.external_id}"
        f"/messages/{message.external_id}/attachment"
    )
    team_page = page(nurse.get(clinic_url(cast.clinic_a, f"/messages/{conversation.external_id}")))
    assert f'href="{theirs}"' in team_page
    assert nurse.get(theirs).status_code == 200
    assert browser(cast.other_patient_user).get(mine).status_code == 404
    png = SimpleUploadedFile("rash.png", PNG, content_type="image/png")
    assert patient.post(url, {"file": png, "client_id": "f2"}).status_code == 302
    assert Message.unscoped.filter(attachment_type="image/png").count() == 1


def test_read_receipts_and_unread_counts(cast):
    in_care(cast)
    conversation = conversation_of(cast)
    patient = browser(cast.patient_user)
    url = f"/app/messages/{conversation.external_id}"
    patient.post(url, {"body": "Can I take paracetamol?", "client_id": "q1"})
    question = Message.unscoped.get(conversation=conversation)
    assert 'data-receipt="sent"' in page(patient.get(url))
    nurse = browser(cast.staff_a["nurse"])
    team_list = page(nurse.get(clinic_url(cast.clinic_a, "/messages")))
    assert 'data-unread="1"' in team_list and "Can I take paracetamol?" in team_list
    team_url = clinic_url(cast.clinic_a, f"/messages/{conversation.external_id}")
    opened = page(nurse.get(team_url))  # opening it reads it
    assert "Can I take paracetamol?" in opened and 'data-side="clinic"' in opened
    assert "data-unread" not in page(nurse.get(clinic_url(cast.clinic_a, "/messages")))
    assert f'data-message="{question.external_id}" data-side="patient" data-mine' in page(patient.get(url))
    assert 'data-receipt="read"' in page(patient.get(url))
    nurse.post(team_url, {"body": "Yes, up to three times a day.", "client_id": "a1"})
    listed = page(patient.get("/app/messages"))
    assert 'data-unread="1"' in listed and "Yes, up to three times a day." in listed
    assert "Yes, up to three times a day." in page(patient.get(url))
    assert "data-unread" not in page(patient.get("/app/messages"))


def test_earlier_messages_load_in_pages(cast):
    conversation = conversation_of(cast)
    doctor = cast.staff_a["doctor"]
    sent = [write(conversation, doctor, "clinic", f"Note {n}") for n in range(60)]
    patient = browser(cast.patient_user)
    url = f"/app/messages/{conversation.external_id}"
    latest = page(patient.get(url))
    assert latest.count('id="message-') == 50
    assert "Note 10<" in latest and "Note 9<" not in latest
    earlier_url = f"{url}?before={sent[10].external_id}"
    assert f'hx-get="{earlier_url}"' in latest
    partial = page(patient.get(earlier_url, HTTP_HX_REQUEST="true"))
    assert "<html" not in partial and partial.count('id="message-') == 10
    assert "Note 0<" in partial and "Note 9<" in partial and "data-load-earlier" not in partial
    full = page(patient.get(earlier_url))
    assert "Back to the latest messages" in full and "Note 0<" in full
    assert patient.get(f"{url}?before={uuid.uuid4()}").status_code == 404


def test_the_page_catches_up_on_messages_after_the_last_one_shown(cast):
    """What chat.js asks for while its live connection is down: the messages after the last one it shows (its own
    and the other side's), newest last, read only when the reader has the page in front of them."""
    conversation = conversation_of(cast)
    doctor = cast.staff_a["doctor"]
    shown = write(conversation, doctor, "clinic", "Shown already")
    patient = browser(cast.patient_user)
    url = f"/app/messages/{conversation.external_id}"
    nothing = page(patient.get(f"{url}?after={shown.external_id}&read=1", HTTP_HX_REQUEST="true"))
    assert "<html" not in nothing and 'id="message-' not in nothing
    later = [write(conversation, doctor, "clinic", f"Later {n}") for n in range(3)]
    hidden = page(patient.get(f"{url}?after={shown.external_id}&read=0", HTTP_HX_REQUEST="true"))
    assert [f'id="message-{m.external_id}"' in hidden for m in later] == [True] * 3
    assert "Shown already" not in hidden and hidden.index("Later 0") < hidden.index("Later 2")
    assert "data-load-earlier" not in hidden
    assert 'data-unread="4"' in page(patient.get("/app/messages"))  # not read while the page was hidden
    page(patient.get(f"{url}?after={later[0].external_id}&read=1", HTTP_HX_REQUEST="true"))
    assert "data-unread" not in page(patient.get("/app/messages"))
    # The clinic side catches up the same way; an id that is not a message of this conversation is 404.
    nurse = browser(cast.staff_a["nurse"])
    team_url = clinic_url(cast.clinic_a, f"/messages/{conversation.external_id}")
    answered = page(nurse.get(f"{team_url}?after={later[1].external_id}", HTTP_HX_REQUEST="true"))
    assert "Later 2" in answered and "Later 1" not in answered
    elsewhere = write(conversation_of(cast, clinic=cast.clinic_b), cast.doctor_b, "clinic", "Not yours")
    for anchor in (elsewhere.external_id, uuid.uuid4(), "nonsense"):
        assert patient.get(f"{url}?after={anchor}", HTTP_HX_REQUEST="true").status_code == 404


def test_another_patients_or_clinics_conversation_is_404(cast):
    conversation = conversation_of(cast)
    url = f"/app/messages/{conversation.external_id}"
    other = browser(cast.other_patient_user)
    assert other.get(url).status_code == 404
    assert other.post(url, {"body": "Hello", "client_id": "x"}).status_code == 404
    doctor_b = browser(cast.doctor_b)
    assert doctor_b.get(clinic_url(cast.clinic_b, f"/messages/{conversation.external_id}")).status_code == 404
    assert (
        doctor_b.post(
            clinic_url(cast.clinic_b, f"/messages/{conversation.external_id}"),
            {"body": "Hi", "client_id": "y"},
        ).status_code
        == 404
    )
    assert doctor_b.get(clinic_url(cast.clinic_a, f"/messages/{conversation.external_id}")).status_code == 404
    assert str(conversation.external_id) not in page(doctor_b.get(clinic_url(cast.clinic_b, "/messages")))
    assert not Message.unscoped.exists()


def test_a_dependants_conversation_is_the_guardians(cast):
    child = Patient.objects.create(full_name="Little Sami", guardian=cast.patient)
    in_care(cast, child)
    patient = browser(cast.patient_user)
    listed = page(patient.get("/app/messages"))
    target = f"{cast.clinic_a.external_id}:{child.external_id}"
    assert f'value="{target}"' in listed and "for Little Sami" in listed
    response = patient.post("/app/messages", {"target": target})
    conversation = Conversation.unscoped.get(patient=child)
    assert response["Location"] == f"/app/messages/{conversation.external_id}"
    shown = page(patient.get(response["Location"]))
    assert "data-about" in shown and "Little Sami" in shown


# --- conversations: the care team ---------------------------------------------------------------------------------


def test_the_care_team_opens_a_conversation_from_the_chart(cast):
    in_care(cast)
    doctor = browser(cast.staff_a["doctor"])
    chart = page(doctor.get(clinic_url(cast.clinic_a, f"/patients/{cast.patient.external_id}")))
    assert "data-message-patient" in chart and "Message the patient" in chart
    response = doctor.post(
        clinic_url(cast.clinic_a, "/messages"), {"patient_id": str(cast.patient.external_id)}
    )
    conversation = Conversation.unscoped.get(clinic=cast.clinic_a, patient=cast.patient)
    assert response.status_code == 302
    assert response["Location"] == clinic_url(cast.clinic_a, f"/messages/{conversation.external_id}")
    team_url = response["Location"]
    shown = page(doctor.get(team_url))
    assert (
        f'data-ws="/ws/clinics/{cast.clinic_a.external_id}/conversations/{conversation.external_id}"' in shown
    )
    assert "Open the chart" in shown
    assert doctor.post(team_url, {"body": "How is the fever today?", "client_id": "d1"}).status_code == 302
    message = Message.unscoped.get(conversation=conversation)
    assert message.side == "clinic" and message.sender == cast.staff_a["doctor"]
    stranger = Patient.objects.create(full_name="Not ours")
    refused = doctor.post(clinic_url(cast.clinic_a, "/messages"), {"patient_id": str(stranger.external_id)})
    assert refused.status_code == 400 and "Choose a patient of this clinic." in page(refused)
    malformed = doctor.post(clinic_url(cast.clinic_a, "/messages"), {"patient_id": "nope"})
    assert malformed.status_code == 400


def test_who_in_the_clinic_reads_the_conversations(cast):
    in_care(cast)
    conversation = conversation_of(cast)
    list_url = clinic_url(cast.clinic_a, "/messages")
    team_url = clinic_url(cast.clinic_a, f"/messages/{conversation.external_id}")
    for role in ("doctor", "nurse", "secretary", "assistant_doctor"):
        staff = browser(cast.staff_a[role])
        shown = page(staff.get(list_url))
        assert f'data-conversation="{conversation.external_id}"' in shown, role
        assert f'href="{list_url}" aria-current="page"' in shown
        assert staff.get(team_url).status_code == 200, role
    admin = browser(cast.staff_a["clinic_admin"])
    assert admin.get(list_url).status_code == 403 and admin.get(team_url).status_code == 403
    assert admin.post(list_url, {"patient_id": str(cast.patient.external_id)}).status_code == 403
    assert f'href="{list_url}"' not in page(admin.get(clinic_url(cast.clinic_a)))
    assert browser(cast.patient_user).get(list_url).status_code == 404


def test_the_navigation_shows_each_page_to_those_who_may_open_it(cast):
    doctor_nav = page(browser(cast.staff_a["doctor"]).get(clinic_url(cast.clinic_a)))
    assert f'href="{clinic_url(cast.clinic_a, "/messages")}"' in doctor_nav
    assert f'href="{clinic_url(cast.clinic_a, "/urgent")}"' in doctor_nav
    nurse_nav = page(browser(cast.staff_a["nurse"]).get(clinic_url(cast.clinic_a)))
    assert f'href="{clinic_url(cast.clinic_a, "/messages")}"' in nurse_nav
    assert f'href="{clinic_url(cast.clinic_a, "/urgent")}"' not in nurse_nav
    patient = browser(cast.patient_user)
    assert re.search(r'<a href="/app/messages"\s+data-doctor-tab>', page(patient.get("/app")))
    # a public page of the app (find a doctor) authorizes nobody: the tab bar is still the patient's own
    searching = page(patient.get("/app/search"))
    assert re.search(r'<a href="/app/messages"\s+data-doctor-tab>', searching)
    assert 'href="/app/search" aria-current="page"' in searching
    # someone not signed in has nothing to talk about yet: the tab leads nowhere for them
    assert "data-doctor-tab" not in page(Client().get("/app/search"))
    # the account links (notifications, one's name, sign out) are in the top bar and, shown on a phone instead
    # (shifa.css), in the tab bar's "More"; the consoles keep theirs in the top bar at every width
    home = page(patient.get("/app"))
    assert home.count('class="topbar__account"') == 3 and home.count('class="tabbar__account"') == 3
    more = home[home.index("data-tabbar-more") :]
    assert 'href="/accounts/notifications"' in more and 'action="/accounts/sign-out"' in more
    assert "topbar__account" not in doctor_nav and "tabbar__account" not in doctor_nav
    for url, current in (("/app/messages", "/app/messages"), ("/app/urgent", "/app/urgent")):
        shown = page(patient.get(url))
        assert re.search(r'<a href="/app/messages" aria-current="page"\s+data-doctor-tab>', shown)
        assert 'href="/app/urgent"' in shown and 'href="/app/messages"' in shown
        assert f'href="{current}" aria-current="page">' in shown
    platform_nav = page(browser(cast.platform_admin).get("/platform"))
    assert 'href="/platform/urgent-care"' in platform_nav


def test_the_pages_work_right_to_left_in_arabic(cast):
    conversation = conversation_of(cast)
    arabic = browser(cast.patient_user, language="ar")
    for url in ("/app/urgent", "/app/messages", f"/app/messages/{conversation.external_id}"):
        response = arabic.get(url)
        assert response.status_code == 200, url
        assert 'dir="rtl"' in page(response)
