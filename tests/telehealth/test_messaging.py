"""Messaging (TM-3): a patient and a clinic's care team write to each other, send files, see read receipts; those
who do not read in time are notified; only the people of a conversation can read it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.access.models import Role
from shifa.core import timezones
from shifa.notifications.models import Notification
from shifa.records.models import Patient
from shifa.telehealth.actions import ATTACHMENT_MAX, UNREAD_NOTICE_SECONDS, notify_unread
from shifa.telehealth.models import Conversation, Message, ReadMark
from shifa.tenancy.models import Membership
from tests.conftest import ApiClient
from tests.factories import MembershipFactory, UserFactory
from tests.support.records import base, in_care

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 40


def _open(cast, api, patient=None) -> dict:
    """The cast's patient (booked at clinic A) opens the conversation with clinic A."""
    in_care(cast, patient)
    body = {"clinic_id": str(cast.clinic_a.external_id)}
    if patient is not None:
        body["patient_id"] = str(patient.external_id)
    response = api(cast.patient_user).post("/api/v1/me/conversations", body)
    assert response.status_code == 200, response.content
    return response.json()


def _mine(conversation: dict) -> str:
    return f"/api/v1/me/conversations/{conversation['id']}"


def _team(cast, conversation: dict, clinic=None) -> str:
    return f"{base(clinic or cast.clinic_a)}/conversations/{conversation['id']}"


def _say(client: ApiClient, url: str, body: str, *, client_id: str = "", headers=None):
    payload = {"body": body}
    if client_id:
        payload["client_id"] = client_id
    return client.post(f"{url}/messages", payload, headers=headers)


def _sent(client: ApiClient, url: str, body: str) -> dict:
    response = _say(client, url, body)
    assert response.status_code == 201, response.content
    return response.json()


def _upload(
    client: ApiClient, url: str, name: str, content: bytes, content_type: str, headers=None, **fields
):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {client.token()}"}
    for header, value in (headers or {}).items():
        extra["HTTP_" + header.upper().replace("-", "_")] = value
    upload = SimpleUploadedFile(name, content, content_type=content_type)
    return client.client.post(f"{url}/attachments", {"file": upload, **fields}, **extra)


def _content(response) -> bytes:
    return b"".join(response.streaming_content)


# --- opening a conversation ----------------------------------------------------------------------------------------


def test_a_patient_writes_to_a_clinic_they_booked_with_and_not_to_others(cast, api):
    conversation = _open(cast, api)
    assert conversation["clinic"]["id"] == str(cast.clinic_a.external_id)
    assert conversation["patient"]["id"] == str(cast.patient.external_id)
    assert conversation["unread"] == 0 and conversation["last_message"] is None
    patient = api(cast.patient_user)
    again = patient.post("/api/v1/me/conversations", {"clinic_id": str(cast.clinic_a.external_id)})
    assert again.status_code == 200 and again.json()["id"] == conversation["id"]
    never = patient.post("/api/v1/me/conversations", {"clinic_id": str(cast.clinic_b.external_id)})
    assert never.status_code == 422
    assert [(e["field"], e["code"]) for e in never.json()["errors"]] == [("clinic_id", "unknown")]
    unknown = patient.post("/api/v1/me/conversations", {"clinic_id": str(uuid.uuid4())})
    assert unknown.status_code == 422
    malformed = patient.post("/api/v1/me/conversations", {"clinic_id": "clinic-a"})
    assert malformed.status_code == 422
    assert Conversation.unscoped.count() == 1
    # a patient who never booked there cannot write to it
    other = api(cast.other_patient_user)
    assert (
        other.post("/api/v1/me/conversations", {"clinic_id": str(cast.clinic_a.external_id)}).status_code
        == 422
    )


def test_a_guardian_writes_for_a_dependant(cast, api):
    child = Patient.objects.create(full_name="Lina", guardian=cast.patient, relation="child")
    conversation = _open(cast, api, child)
    assert conversation["patient"]["id"] == str(child.external_id)
    assert Conversation.unscoped.get(external_id=conversation["id"]).patient == child
    # another patient cannot open one for someone else's child
    response = api(cast.other_patient_user).post(
        "/api/v1/me/conversations",
        {"clinic_id": str(cast.clinic_a.external_id), "patient_id": str(child.external_id)},
    )
    assert response.status_code == 404


def test_the_care_team_opens_a_conversation_with_a_patient_of_the_clinic_only(cast, api):
    in_care(cast)
    nurse = api(cast.staff_a["nurse"])
    url = f"{base(cast.clinic_a)}/conversations"
    opened = nurse.post(url, {"patient_id": str(cast.patient.external_id)})
    assert opened.status_code == 200, opened.content
    assert opened.json()["patient"]["id"] == str(cast.patient.external_id)
    # the patient finds the same conversation
    mine = api(cast.patient_user).post(
        "/api/v1/me/conversations", {"clinic_id": str(cast.clinic_a.external_id)}
    )
    assert mine.json()["id"] == opened.json()["id"]
    # a patient of another clinic is not clinic A's to write to
    other = Patient.objects.get(user=cast.other_patient_user)
    in_care(cast, other, clinic=cast.clinic_b)
    refused = nurse.post(url, {"patient_id": str(other.external_id)})
    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("patient_id", "unknown")]
    assert nurse.post(url, {"patient_id": str(uuid.uuid4())}).status_code == 422
    assert Conversation.unscoped.count() == 1


# --- writing -------------------------------------------------------------------------------------------------------


def test_both_sides_write_and_read_the_same_history(cast, api):
    conversation = _open(cast, api)
    patient, nurse = api(cast.patient_user), api(cast.staff_a["nurse"])
    asked = _sent(patient, _mine(conversation), "Can I take the pills with food?")
    answered = _sent(nurse, _team(cast, conversation), "Yes, after meals.")
    assert asked["side"] == "patient" and asked["sender"]["id"] == str(cast.patient_user.external_id)
    assert answered["side"] == "clinic" and answered["sender"]["name"] == cast.staff_a["nurse"].full_name
    assert asked["conversation_id"] == conversation["id"] and asked["attachment"] is None
    for client, url in ((patient, _mine(conversation)), (nurse, _team(cast, conversation))):
        page = client.get(f"{url}/messages").json()
        assert [m["body"] for m in page["items"]] == ["Can I take the pills with food?", "Yes, after meals."]
        assert page["has_more"] is False
    # the body is stored encrypted
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT body FROM telehealth_message WHERE conversation_id = %s",
            [Conversation.unscoped.get(external_id=conversation["id"]).pk],
        )
        stored = [row[0] for row in cursor.fetchall()]
    assert all("pills" not in str(value) for value in stored)


def test_pages_of_history_go_backwards(cast, api):
    conversation = _open(cast, api)
    patient = api(cast.patient_user)
    sent = [_sent(patient, _mine(conversation), f"Message {i}") for i in range(5)]
    first = patient.get(f"{_mine(conversation)}/messages?limit=2").json()
    assert [m["body"] for m in first["items"]] == ["Message 3", "Message 4"] and first["has_more"] is True
    earlier = patient.get(f"{_mine(conversation)}/messages?limit=2&before={first['items'][0]['id']}").json()
    assert [m["body"] for m in earlier["items"]] == ["Message 1", "Message 2"]
    last = patient.get(f"{_mine(conversation)}/messages?limit=2&before={sent[1]['id']}").json()
    assert [m["body"] for m in last["items"]] == ["Message 0"] and last["has_more"] is False
    assert patient.get(f"{_mine(conversation)}/messages?before={uuid.uuid4()}").status_code == 404


def test_sending_twice_keeps_one_message(cast, api):
    conversation = _open(cast, api)
    patient, nurse = api(cast.patient_user), api(cast.staff_a["nurse"])
    url = _mine(conversation)
    first = _say(patient, url, "Hello", client_id="tap-1")
    assert first.status_code == 201
    again = _say(patient, url, "Hello", client_id="tap-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    keyed = _say(patient, url, "Are you there?", headers={"Idempotency-Key": "retry-7"})
    assert keyed.status_code == 201
    repeat = _say(patient, url, "Are you there?", headers={"Idempotency-Key": "retry-7"})
    assert repeat.status_code == 200 and repeat.json()["id"] == keyed.json()["id"]
    # the same client id from someone else is their own message
    theirs = _say(nurse, _team(cast, conversation), "Hello", client_id="tap-1")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert Message.unscoped.count() == 3


def test_empty_and_overlong_messages_are_refused(cast, api):
    conversation = _open(cast, api)
    patient = api(cast.patient_user)
    empty = _say(patient, _mine(conversation), "   ")
    assert empty.status_code == 422
    assert [(e["field"], e["code"]) for e in empty.json()["errors"]] == [("body", "required")]
    long = _say(patient, _mine(conversation), "x" * 4001)
    assert long.status_code == 422
    assert [(e["field"], e["code"]) for e in long.json()["errors"]] == [("body", "too_long")]
    huge = _say(patient, _mine(conversation), "x" * 30000)
    assert huge.status_code == 422 and "body" in [e["field"] for e in huge.json()["errors"]]
    missing = patient.post(f"{_mine(conversation)}/messages", {})
    assert missing.status_code == 422
    nul = _say(patient, _mine(conversation), "fever\x00")
    assert nul.status_code == 422
    odd_id = _say(patient, _mine(conversation), "Hello", client_id="tap 1\x00")
    assert odd_id.status_code == 422 and [e["field"] for e in odd_id.json()["errors"]] == ["client_id"]
    # any Idempotency-Key works: it is hashed into the message's client id
    keyed = _say(patient, _mine(conversation), "Hello", headers={"Idempotency-Key": "ключ / 7 ✓"})
    assert keyed.status_code == 201
    assert [m.body for m in Message.unscoped.all()] == ["Hello"]


# --- attachments ---------------------------------------------------------------------------------------------------


def test_files_are_sent_and_downloaded_by_both_sides(cast, api):
    conversation = _open(cast, api)
    patient, nurse = api(cast.patient_user), api(cast.staff_a["nurse"])
    report = _upload(
        patient, _mine(conversation), "lab report.pdf", PDF, "application/pdf", body="My results"
    )
    assert report.status_code == 201, report.content
    assert report.json()["attachment"] == {
        "name": "lab report.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
    }
    assert report.json()["body"] == "My results"
    photo = _upload(nurse, _team(cast, conversation), "rash.png", PNG, "image/png")
    assert photo.status_code == 201, photo.content
    assert photo.json()["body"] == "" and photo.json()["attachment"]["content_type"] == "image/png"

    for client, url in ((patient, _mine(conversation)), (nurse, _team(cast, conversation))):
        for message, content, kind in (
            (report.json(), PDF, "application/pdf"),
            (photo.json(), PNG, "image/png"),
        ):
            download = client.get(f"{url}/messages/{message['id']}/attachment")
            assert download.status_code == 200
            assert _content(download) == content and download["Content-Type"] == kind
            assert download["Content-Disposition"].startswith("attachment")
            assert download["Cache-Control"] == "private, no-store"
    # a message without a file has nothing to download
    text = _sent(patient, _mine(conversation), "Thanks")
    assert patient.get(f"{_mine(conversation)}/messages/{text['id']}/attachment").status_code == 404
    # the file's type comes from its content, not from what the sender claims
    stored = Message.unscoped.get(external_id=report.json()["id"])
    assert stored.attachment.name.endswith(".pdf") and "lab report" not in stored.attachment.name


def test_an_upload_sent_twice_with_the_same_key_is_kept_once(cast, api):
    conversation = _open(cast, api)
    patient = api(cast.patient_user)
    key = {"Idempotency-Key": "upload-1"}
    first = _upload(patient, _mine(conversation), "a.pdf", PDF, "application/pdf", headers=key)
    again = _upload(patient, _mine(conversation), "a.pdf", PDF, "application/pdf", headers=key)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert again.json()["id"] == first.json()["id"]
    by_client_id = _upload(patient, _mine(conversation), "b.pdf", PDF, "application/pdf", client_id="file-2")
    repeat = _upload(patient, _mine(conversation), "b.pdf", PDF, "application/pdf", client_id="file-2")
    assert by_client_id.status_code == 201 and repeat.status_code == 200
    assert repeat.json()["id"] == by_client_id.json()["id"]
    assert Message.unscoped.count() == 2


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("setup.exe", EXE, "application/x-msdownload"),
        ("notes.txt", b"just some text", "text/plain"),
        ("fake.pdf", b"<html>not a pdf</html>", "application/pdf"),
    ],
)
def test_files_of_other_kinds_are_refused(cast, api, name, content, content_type):
    conversation = _open(cast, api)
    response = _upload(api(cast.patient_user), _mine(conversation), name, content, content_type)
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("file", "unsupported_type")]
    assert not Message.unscoped.exists()


def test_files_over_ten_megabytes_are_refused(cast, api):
    conversation = _open(cast, api)
    patient = api(cast.patient_user)
    just = _upload(
        patient, _mine(conversation), "scan.pdf", PDF + b"0" * (ATTACHMENT_MAX - len(PDF)), "application/pdf"
    )
    assert just.status_code == 201, just.content
    over = _upload(patient, _mine(conversation), "big.pdf", PDF + b"0" * ATTACHMENT_MAX, "application/pdf")
    assert over.status_code == 422
    assert [(e["field"], e["code"]) for e in over.json()["errors"]] == [("file", "too_large")]
    assert Message.unscoped.count() == 1


# --- who may read --------------------------------------------------------------------------------------------------


def test_only_the_people_of_a_conversation_read_it(cast, api):
    conversation = _open(cast, api)
    patient, nurse = api(cast.patient_user), api(cast.staff_a["nurse"])
    file = _upload(patient, _mine(conversation), "a.pdf", PDF, "application/pdf").json()
    url = _mine(conversation)
    attachment = f"{url}/messages/{file['id']}/attachment"

    stranger = api(cast.other_patient_user)
    assert stranger.get(f"{url}/messages").status_code == 404
    assert stranger.get(attachment).status_code == 404
    assert _say(stranger, url, "Let me in").status_code == 404
    assert stranger.post(f"{url}/read", {"message_id": file["id"]}).status_code == 404
    assert _upload(stranger, url, "x.pdf", PDF, "application/pdf").status_code == 404
    assert stranger.get("/api/v1/me/conversations").json()["items"] == []

    # staff of another clinic: neither through clinic A's routes nor through their own
    doctor_b = api(cast.doctor_b)
    for clinic in (cast.clinic_a, cast.clinic_b):
        team = _team(cast, conversation, clinic)
        assert doctor_b.get(f"{team}/messages").status_code == 404
        assert doctor_b.get(f"{team}/messages/{file['id']}/attachment").status_code == 404
        assert _say(doctor_b, team, "Hello").status_code == 404
    assert doctor_b.get(f"{base(cast.clinic_b)}/conversations").json()["items"] == []

    # staff of the clinic whose role is not the care team
    for role in ("clinic_admin",):
        admin = api(cast.staff_a[role])
        team = _team(cast, conversation)
        assert admin.get(f"{base(cast.clinic_a)}/conversations").status_code == 403
        assert admin.get(f"{team}/messages").status_code == 403
        assert admin.get(f"{team}/messages/{file['id']}/attachment").status_code == 403
        assert _say(admin, team, "Hello").status_code == 403
    assert api(cast.general_admin).get(f"{_team(cast, conversation)}/messages").status_code == 403

    # the care team may: doctor, nurse, assistant doctor, secretary
    for role in ("doctor", "nurse", "assistant_doctor", "secretary"):
        assert api(cast.staff_a[role]).get(f"{_team(cast, conversation)}/messages").status_code == 200, role
    assert nurse.get(f"{_team(cast, conversation)}/messages/{file['id']}/attachment").status_code == 200
    assert Message.unscoped.count() == 1


# --- read receipts and unread counts -------------------------------------------------------------------------------


def test_read_receipts_move_forward_only(cast, api):
    conversation = _open(cast, api)
    patient, nurse = api(cast.patient_user), api(cast.staff_a["nurse"])
    team = _team(cast, conversation)
    first = _sent(nurse, team, "Your results are ready.")
    second = _sent(nurse, team, "Everything is normal.")
    page = nurse.get(f"{team}/messages").json()
    assert [m["read"] for m in page["items"]] == [False, False] and page["other_side_read_at"] is None

    read = patient.post(f"{_mine(conversation)}/read", {"message_id": second["id"]})
    assert read.status_code == 200 and read.json() == {"moved": True}
    page = nurse.get(f"{team}/messages").json()
    assert [m["read"] for m in page["items"]] == [True, True] and page["other_side_read_at"] is not None

    back = patient.post(f"{_mine(conversation)}/read", {"message_id": first["id"]})
    assert back.json() == {"moved": False}
    mark = ReadMark.unscoped.get(user=cast.patient_user)
    assert mark.message.external_id == uuid.UUID(second["id"])
    assert patient.post(f"{_mine(conversation)}/read", {"message_id": second["id"]}).json() == {
        "moved": False
    }

    third = _sent(nurse, team, "See you next week.")
    page = nurse.get(f"{team}/messages").json()
    assert [m["read"] for m in page["items"]] == [True, True, False]
    assert third["id"] == page["items"][-1]["id"]
    # a message of another conversation is not one to mark
    unknown = patient.post(f"{_mine(conversation)}/read", {"message_id": str(uuid.uuid4())})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "message_id"


def test_unread_counts_in_the_lists_of_conversations(cast, api):
    conversation = _open(cast, api)
    patient, nurse, doctor = api(cast.patient_user), api(cast.staff_a["nurse"]), api(cast.staff_a["doctor"])
    team = _team(cast, conversation)
    clinic_list = f"{base(cast.clinic_a)}/conversations"
    _sent(nurse, team, "Hello")
    latest = _sent(nurse, team, "Please bring your old reports")
    [mine] = patient.get("/api/v1/me/conversations").json()["items"]
    assert mine["unread"] == 2 and mine["last_message"]["id"] == latest["id"]
    [theirs] = nurse.get(clinic_list).json()["items"]
    assert theirs["unread"] == 0  # their own messages

    patient.post(f"{_mine(conversation)}/read", {"message_id": latest["id"]})
    assert patient.get("/api/v1/me/conversations").json()["items"][0]["unread"] == 0
    _sent(patient, _mine(conversation), "I will")
    assert nurse.get(clinic_list).json()["items"][0]["unread"] == 1
    assert doctor.get(clinic_list).json()["items"][0]["unread"] == 1  # each of the team counts their own
    assert patient.get("/api/v1/me/conversations").json()["items"][0]["unread"] == 0

    # the most recent conversation comes first
    other = Patient.objects.get(user=cast.other_patient_user)
    in_care(cast, other, hours=3)
    opened = nurse.post(clinic_list, {"patient_id": str(other.external_id)}).json()
    _sent(nurse, _team(cast, opened), "Welcome")
    assert [c["id"] for c in nurse.get(clinic_list).json()["items"]] == [opened["id"], conversation["id"]]


# --- notifying those who did not read -------------------------------------------------------------------------------


def _message(response_json) -> Message:
    return Message.unscoped.get(external_id=response_json["id"])


def test_a_message_unread_after_a_while_is_notified_to_the_other_side(cast, api):
    conversation = _open(cast, api)
    patient, nurse = api(cast.patient_user), api(cast.staff_a["nurse"])
    team = _team(cast, conversation)
    before = timezones.now()
    answer = _sent(nurse, team, "Your results are ready")
    job = ProcrastinateJob.objects.get(
        task_name="telehealth.notify_unread", args={"message_id": _message(answer).pk}
    )
    assert job.scheduled_at >= before + dt.timedelta(seconds=UNREAD_NOTICE_SECONDS - 1)

    assert notify_unread(message_id=_message(answer).pk) == 1
    told = Notification.objects.get(recipient=cast.patient_user, kind="message.received")
    assert told.title == "A message from Clinic A"
    assert told.url == f"/app/messages/{conversation['id']}" and told.clinic_id == cast.clinic_a.pk
    assert "Your results" not in told.title + told.body  # what was written stays in the conversation
    assert notify_unread(message_id=_message(answer).pk) == 1
    assert Notification.objects.filter(kind="message.received").count() == 1  # once

    # the patient writes back: the nurse who wrote and the doctor of the latest appointment hear of it
    question = _sent(patient, _mine(conversation), "What do they say?")
    assert notify_unread(message_id=_message(question).pk) == 2
    told = Notification.objects.filter(kind="message.received").exclude(recipient=cast.patient_user)
    assert {n.recipient for n in told} == {cast.staff_a["nurse"], cast.staff_a["doctor"]}
    assert all(n.url == f"/clinic/{cast.clinic_a.external_id}/messages/{conversation['id']}" for n in told)

    # a message already read is not notified
    read = _sent(nurse, team, "They are normal")
    patient.post(f"{_mine(conversation)}/read", {"message_id": read["id"]})
    assert notify_unread(message_id=_message(read).pk) == 0
    # someone who read a later message has read this one too
    early = _sent(patient, _mine(conversation), "Thank you")
    later = _sent(patient, _mine(conversation), "Bye")
    nurse.post(f"{team}/read", {"message_id": later["id"]})
    assert notify_unread(message_id=_message(early).pk) == 1  # the doctor only
    assert not Notification.objects.filter(
        recipient=cast.staff_a["nurse"], kind="message.received", idempotency_key=f"message:{early['id']}"
    ).exists()
    assert notify_unread(message_id=10**9) == 0


def test_the_guardian_hears_of_messages_about_a_dependant(cast, api):
    child = Patient.objects.create(full_name="Lina", guardian=cast.patient, relation="child")
    conversation = _open(cast, api, child)
    answer = _sent(api(cast.staff_a["doctor"]), _team(cast, conversation), "How is Lina today?")
    assert notify_unread(message_id=_message(answer).pk) == 1
    told = Notification.objects.get(kind="message.received")
    assert told.recipient == cast.patient_user


def test_without_anyone_who_wrote_or_saw_the_patient_the_clinics_doctors_hear(cast, api):
    conversation = _open(cast, api)
    second = UserFactory(full_name="Second doctor")
    MembershipFactory(clinic=cast.clinic_a, user=second, role=Role.objects.get(code="doctor"))
    # the doctor of the patient's appointment has left the clinic
    Membership.unscoped.filter(clinic=cast.clinic_a, user=cast.staff_a["doctor"]).update(is_active=False)
    question = _sent(api(cast.patient_user), _mine(conversation), "Is anyone there?")
    assert notify_unread(message_id=_message(question).pk) == 1
    assert Notification.objects.get(kind="message.received").recipient == second


# --- kept with the record ------------------------------------------------------------------------------------------


def test_messages_are_never_changed_or_deleted(cast, api):
    conversation = _open(cast, api)
    sent = _message(_sent(api(cast.patient_user), _mine(conversation), "Original words"))
    with pytest.raises(DatabaseError), transaction.atomic():
        Message.unscoped.filter(pk=sent.pk).update(client_id="changed")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM telehealth_message WHERE id = %s", [sent.pk])
    assert Message.unscoped.get(pk=sent.pk).body == "Original words"


def test_the_clinics_conversations_come_a_page_at_a_time_most_recent_first(cast, api):
    from shifa.telehealth.models import Conversation
    from tests.factories import PatientFactory

    nurse = api(cast.staff_a["nurse"])
    made = []
    for i in range(5):
        patient = PatientFactory(full_name=f"Paged patient {i}")
        made.append(
            Conversation.unscoped.create(
                clinic=cast.clinic_a, patient=patient, started_by=cast.staff_a["nurse"]
            )
        )
    # the oldest conversation has the newest message: it comes first
    Conversation.unscoped.filter(pk=made[0].pk).update(
        last_message_at=timezones.now() + dt.timedelta(minutes=1)
    )
    url = f"{base(cast.clinic_a)}/conversations"
    seen, cursor = [], None
    for _ in range(5):
        response = nurse.get(f"{url}?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = [made[0], *reversed(made[1:])]
    assert seen == [str(c.external_id) for c in expected]
    assert nurse.get(f"{url}?cursor=garbage").status_code == 422
    assert nurse.get(f"{url}?limit=0").status_code == 422
