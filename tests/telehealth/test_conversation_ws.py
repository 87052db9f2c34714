"""Conversations and Treat Me Now live over WebSockets: new messages, typing and read receipts reach the other side;
doctors on duty hear the queue change; the patient hears the moment a doctor accepts."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from shifa.asgi import router
from shifa.telehealth.models import Message
from tests.conftest import ApiClient
from tests.support.records import base, in_care

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(path: str, user=None, *, bearer: str | None = None):
    headers = [(b"origin", b"http://127.0.0.1")]
    if bearer is not None:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    communicator = WebsocketCommunicator(router, path, headers=headers)
    if user is not None:
        communicator.scope["user"] = user
        communicator.scope["shifa_mfa"] = True  # as a session that passed the second factor
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _joined(path: str, user=None, *, bearer: str | None = None) -> WebsocketCommunicator:
    communicator, connected, code = await _connect(path, user, bearer=bearer)
    assert connected, code
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "connected", hello
    return communicator


async def _refused(path: str, user) -> int:
    """The close code of a connection that is refused (before or right after the handshake)."""
    communicator, connected, code = await _connect(path, user)
    if not connected:
        return code
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close", closed
    return closed["code"]


async def _in_thread(func, *args, **kwargs):
    """Run a blocking call (the API, an action) in a worker thread that hands its connection back."""

    def call():
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(call, thread_sensitive=False)()


async def _until(communicator: WebsocketCommunicator, kind: str) -> dict:
    """The next message of ``kind`` (others that come first, e.g. one's own echo, are passed over)."""
    for _ in range(10):
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind}")


def _conversation(cast) -> dict:
    in_care(cast)
    response = ApiClient(cast.patient_user).post(
        "/api/v1/me/conversations", {"clinic_id": str(cast.clinic_a.external_id)}
    )
    assert response.status_code == 200, response.content
    return response.json()


def _paths(cast, conversation: dict) -> tuple[str, str]:
    return (
        f"ws/me/conversations/{conversation['id']}",
        f"ws/clinics/{cast.clinic_a.external_id}/conversations/{conversation['id']}",
    )


def test_messages_typing_and_read_receipts_reach_the_other_side(cast):
    conversation = _conversation(cast)
    mine, team = _paths(cast, conversation)
    patient_api = ApiClient(cast.patient_user)
    patient_token = patient_api.token()
    nurse = cast.staff_a["nurse"]

    async def scenario():
        patient = await _joined(mine, bearer=patient_token)  # a native app, with its bearer token
        care_team = await _joined(team, nurse)

        # a message through the API reaches the care team (and the patient's other screens)
        sent = await _in_thread(
            patient_api.post,
            f"/api/v1/me/conversations/{conversation['id']}/messages",
            {"body": "I still have a fever"},
        )
        assert sent.status_code == 201
        created = await _until(care_team, "message.created")
        assert (
            created["data"]["id"] == sent.json()["id"] and created["data"]["body"] == "I still have a fever"
        )
        assert created["data"]["side"] == "patient"
        assert (await _until(patient, "message.created"))["data"]["id"] == sent.json()["id"]

        # a message over the WebSocket: the sender gets its id, the patient gets the message
        await care_team.send_json_to(
            {"type": "message.send", "data": {"body": "Take paracetamol", "client_id": "ws-1"}}
        )
        answer = await _until(patient, "message.created")
        assert answer["data"]["body"] == "Take paracetamol" and answer["data"]["side"] == "clinic"
        assert answer["data"]["sender"]["name"] == nurse.full_name
        acknowledged = await _until(care_team, "message.sent")
        assert acknowledged["data"] == {"id": answer["data"]["id"], "client_id": "ws-1"}
        await care_team.send_json_to(
            {"type": "message.send", "data": {"body": "Take paracetamol", "client_id": "ws-1"}}
        )
        assert (await _until(care_team, "message.sent"))["data"]["id"] == answer["data"]["id"]
        await care_team.send_json_to({"type": "message.send", "data": {"body": ""}})
        refused = await _until(care_team, "error")
        assert refused["data"]["code"] == "validation_failed"
        assert [e["field"] for e in refused["data"]["errors"]] == ["body"]
        assert await patient.receive_nothing(timeout=0.3)

        # typing reaches the other side, not the one typing
        await patient.send_json_to({"type": "typing", "data": {}})
        typing = await care_team.receive_json_from(timeout=5)
        assert typing == {"type": "typing", "data": {"side": "patient", "name": cast.patient_user.full_name}}
        assert await patient.receive_nothing(timeout=0.3)

        # reading gives the sender a read receipt
        await patient.send_json_to({"type": "read", "data": {"message_id": answer["data"]["id"]}})
        receipt = await _until(care_team, "message.read")
        assert receipt["data"]["side"] == "patient" and receipt["data"]["message_id"] == answer["data"]["id"]
        await patient.send_json_to({"type": "read", "data": {"message_id": "nonsense"}})
        assert (await _until(patient, "error"))["data"]["code"] == "validation_failed"

        await patient.send_json_to({"type": "dance", "data": {}})
        assert (await patient.receive_json_from(timeout=5))["data"]["code"] == "unknown_message"
        await patient.send_json_to({"type": "ping"})
        assert (await patient.receive_json_from(timeout=5))["type"] == "pong"
        await patient.disconnect()
        await care_team.disconnect()

    asyncio.run(scenario())
    assert [m.body for m in Message.unscoped.order_by("pk")] == ["I still have a fever", "Take paracetamol"]
    # what was written over the WebSocket is audited with who wrote it, in which clinic
    from shifa.audit.models import AuditEvent

    sent_over_ws = Message.unscoped.get(client_id="ws-1")
    event = AuditEvent.objects.get(table_name="telehealth_message", entity_id=str(sent_over_ws.pk))
    assert (event.actor_id, event.clinic_id, event.source) == (nurse.pk, cast.clinic_a.pk, "websocket")
    assert AuditEvent.objects.filter(
        table_name="telehealth_readmark", actor_id=cast.patient_user.pk, source="websocket"
    ).exists()


def test_people_outside_the_conversation_cannot_listen(cast):
    conversation = _conversation(cast)
    mine, team = _paths(cast, conversation)
    elsewhere = f"ws/clinics/{cast.clinic_b.external_id}/conversations/{conversation['id']}"

    async def scenario():
        return {
            "other patient": await _refused(mine, cast.other_patient_user),
            "staff on the patient's route": await _refused(mine, cast.staff_a["nurse"]),
            "doctor of B on A's route": await _refused(team, cast.doctor_b),
            "doctor of B on B's route": await _refused(elsewhere, cast.doctor_b),
            "clinic admin": await _refused(team, cast.staff_a["clinic_admin"]),
            "patient on the team's route": await _refused(team, cast.patient_user),
            "anonymous": await _refused(mine, None),
        }

    assert asyncio.run(scenario()) == {
        "other patient": 4404,
        "staff on the patient's route": 4403,
        "doctor of B on A's route": 4404,
        "doctor of B on B's route": 4404,
        "clinic admin": 4403,
        "patient on the team's route": 4404,
        "anonymous": 4401,
    }


def test_doctors_on_duty_hear_the_queue_change_and_the_patient_hears_the_acceptance(cast):
    doctor_api = ApiClient(cast.staff_a["doctor"])
    patient_api = ApiClient(cast.patient_user)
    duty = doctor_api.put(f"{base(cast.clinic_a)}/urgent-duty", {"on_duty": True})
    assert duty.status_code == 200
    queue_path = f"ws/clinics/{cast.clinic_a.external_id}/urgent-queue"

    async def scenario():
        queue = await _joined(queue_path, cast.staff_a["doctor"])
        made = await _in_thread(patient_api.post, "/api/v1/me/urgent-requests", {"complaint": "Chest pain"})
        assert made.status_code == 201
        assert await queue.receive_json_from(timeout=5) == {"type": "queue.changed", "data": {}}
        request_id = made.json()["id"]

        mine = f"ws/me/urgent-requests/{request_id}"
        assert await _refused(mine, cast.other_patient_user) == 4404
        waiting = await _connect(mine, cast.patient_user)
        patient, connected, _ = waiting
        assert connected
        assert await patient.receive_json_from(timeout=5) == {
            "type": "connected",
            "data": {"status": "waiting"},
        }

        accepted = await _in_thread(
            doctor_api.post, f"{base(cast.clinic_a)}/urgent-requests/{request_id}/accept"
        )
        assert accepted.status_code == 200, accepted.content
        told = await patient.receive_json_from(timeout=5)
        assert told == {"type": "accepted", "data": {"appointment_id": accepted.json()["appointment_id"]}}
        assert await queue.receive_json_from(timeout=5) == {"type": "queue.changed", "data": {}}
        await patient.disconnect()
        await queue.disconnect()

    asyncio.run(scenario())


def test_only_doctors_listen_to_the_urgent_queue(cast):
    path = f"ws/clinics/{cast.clinic_a.external_id}/urgent-queue"

    async def scenario():
        return {
            "nurse": await _refused(path, cast.staff_a["nurse"]),
            "doctor of B": await _refused(path, cast.doctor_b),
            "patient": await _refused(path, cast.patient_user),
        }

    assert asyncio.run(scenario()) == {"nurse": 4403, "doctor of B": 4404, "patient": 4404}
