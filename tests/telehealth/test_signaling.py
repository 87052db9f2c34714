"""The built-in video's signaling WebSocket (TM-1), driven through the real ASGI router: a join token as the first
message, the waiting room until the doctor admits, the newcomer offering, signals relayed to the named peer only,
guests removed, the meeting ended, reconnecting, and tokens that do not open someone else's meeting."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from shifa.asgi import router
from shifa.telehealth.models import Attendee, Meeting
from shifa.telehealth.video.webrtc import read_token
from tests.telehealth.test_meetings import clinics, invite, joined, mine, secret_of, video_visit

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://127.0.0.1")]
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


class Client:
    """One attendee's signaling connection, keeping what it was sent."""

    def __init__(self, meeting_id: str, token: str | None = None) -> None:
        self.token = token
        self.ws = WebsocketCommunicator(router, f"ws/meetings/{meeting_id}/signal", headers=ORIGIN)
        self.seen: list[dict] = []

    async def open(self, *, join: bool = True) -> Client:
        connected, _ = await self.ws.connect()
        assert connected
        if join:
            await self.send("join", token=self.token)
        return self

    async def send(self, kind: str, **data) -> None:
        await self.ws.send_json_to({"type": kind, "data": data})

    async def until(self, kind: str, timeout: float = 3) -> dict:
        """The next message of this kind (the ones before it are kept in ``seen``)."""
        while True:
            message = await self.ws.receive_json_from(timeout=timeout)
            self.seen.append(message)
            if message["type"] == kind:
                return message["data"]

    async def closed(self, timeout: float = 3) -> int:
        """The close code, once the server closes (messages before it are kept in ``seen``)."""
        while True:
            output = await self.ws.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                code = output.get("code", 1000)
                await self.ws.disconnect(code)  # as a server does once the socket is closed
                return code
            self.seen.append(json.loads(output["text"]))

    async def silent(self, timeout: float = 0.3) -> bool:
        return await self.ws.receive_nothing(timeout=timeout)

    def kinds(self) -> list[str]:
        return [m["type"] for m in self.seen]

    async def close(self) -> None:
        await self.ws.disconnect()


def tokens(cast, api, appointment, *, guest: bool = False) -> dict:
    """Join tokens of the doctor and the patient (and of an invited guest) through the API."""
    found = {
        "doctor": joined(api(cast.staff_a["doctor"]).post(clinics(appointment))),
        "patient": joined(api(cast.patient_user).post(mine(appointment))),
    }
    if guest:
        link = invite(api, cast, appointment)
        found["guest"] = joined(api().post("/api/v1/video/guest-joins", {"link": secret_of(link)}))
    return found


def scenario(coroutine):
    async def run():
        await get_channel_layer().flush()
        return await coroutine

    return asyncio.run(run())


async def admitted_pair(meeting_id, joins) -> tuple[Client, Client]:
    """The doctor and the patient, both in the call."""
    doctor = await Client(meeting_id, joins["doctor"]["token"]).open()
    await doctor.until("joined")
    patient = await Client(meeting_id, joins["patient"]["token"]).open()
    await patient.until("waiting")
    waiting = await doctor.until("lobby")
    while not waiting["waiting"]:
        waiting = await doctor.until("lobby")
    await doctor.send("admit", attendee=joins["patient"]["attendee"]["id"])
    await patient.until("peer.joined")
    await doctor.until("peer.joined")
    return doctor, patient


def test_a_bad_token_or_none_closes_the_connection(cast, api):
    appointment = video_visit(cast)
    joins = tokens(cast, api, appointment)
    meeting_id = joins["doctor"]["meeting"]["id"]

    async def run():
        nonsense = await Client(meeting_id, "not-a-token").open()
        assert (await nonsense.until("error"))["code"] == "token_invalid"
        assert await nonsense.closed() == 4404

        forged = joins["patient"]["token"][:-4] + "AAAA"
        tampered = await Client(meeting_id, forged).open()
        assert (await tampered.until("error"))["code"] == "token_invalid"
        assert await tampered.closed() == 4404

        silent = await Client(meeting_id).open(join=False)
        await silent.send("signal", to=joins["doctor"]["attendee"]["id"], description=OFFER)
        assert (await silent.until("error"))["code"] == "not_joined"  # nothing happens before joining
        await silent.send("ping")
        await silent.until("pong")
        await silent.close()

    scenario(run())
    assert Attendee.unscoped.filter(joined_at__isnull=False).count() == 0


def test_the_waiting_room_then_the_doctor_admits_and_the_newcomer_offers(cast, api):
    appointment = video_visit(cast)
    joins = tokens(cast, api, appointment)
    meeting_id = joins["doctor"]["meeting"]["id"]
    patient_id = joins["patient"]["attendee"]["id"]
    doctor_id = joins["doctor"]["attendee"]["id"]

    async def run():
        doctor = await Client(meeting_id, joins["doctor"]["token"]).open()
        assert (await doctor.until("joined"))["self"]["role"] == "doctor"
        assert (await doctor.until("lobby"))["waiting"] == []
        patient = await Client(meeting_id, joins["patient"]["token"]).open()
        assert (await patient.until("joined"))["self"] == {
            "id": patient_id,
            "role": "patient",
            "name": cast.patient_user.full_name,
            "admitted": False,
        }
        await patient.until("waiting")
        lobby = await doctor.until("lobby")
        assert [w["id"] for w in lobby["waiting"]] == [patient_id]
        assert "peer.joined" not in doctor.kinds()

        # Waiting, the patient can neither signal the doctor nor let themselves in.
        await patient.send("signal", to=doctor_id, description=OFFER)
        assert (await patient.until("error"))["code"] == "not_admitted"
        await patient.send("admit", attendee=patient_id)
        assert (await patient.until("error"))["code"] == "not_the_doctor"

        await doctor.send("admit", attendee=patient_id)
        assert (await patient.until("admitted"))["self"]["admitted"] is True
        to_patient = await patient.until("peer.joined")
        to_doctor = await doctor.until("peer.joined")
        assert to_patient["attendee"]["id"] == doctor_id and to_doctor["attendee"]["id"] == patient_id
        assert (to_patient["offer"], to_doctor["offer"]) == (True, False)  # the newcomer offers
        assert (await doctor.until("lobby"))["waiting"] == []
        assert await patient.silent() and await doctor.silent()  # exactly one peer.joined each
        await patient.close()
        assert (await doctor.until("peer.left"))["attendee"] == patient_id
        await doctor.close()

    scenario(run())
    meeting = Meeting.unscoped.get(external_id=meeting_id)
    patient = Attendee.unscoped.get(external_id=patient_id)
    assert meeting.started_at is not None and patient.admitted_at is not None
    assert patient.joined_at is not None and patient.left_at is not None


def test_signals_reach_only_the_named_peer(cast, api):
    appointment = video_visit(cast)
    joins = tokens(cast, api, appointment, guest=True)
    meeting_id = joins["doctor"]["meeting"]["id"]
    ids = {role: body["attendee"]["id"] for role, body in joins.items()}

    async def run():
        doctor, patient = await admitted_pair(meeting_id, joins)
        guest = await Client(meeting_id, joins["guest"]["token"]).open()
        await guest.until("waiting")
        await doctor.send("admit", attendee=ids["guest"])
        offers = {}
        for name, client in (("guest", guest), ("guest", guest), ("doctor", doctor), ("patient", patient)):
            joined_peer = await client.until("peer.joined")
            offers[(name, joined_peer["attendee"]["id"])] = joined_peer["offer"]
        # The guest came last: it offers to both; the two already in the call wait for its offers.
        assert offers == {
            ("guest", ids["doctor"]): True,
            ("guest", ids["patient"]): True,
            ("doctor", ids["guest"]): False,
            ("patient", ids["guest"]): False,
        }

        candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"}
        await patient.send("signal", to=ids["doctor"], description=OFFER, candidate=candidate)
        relayed = await doctor.until("signal")
        assert relayed == {"from": ids["patient"], "description": OFFER, "candidate": candidate}
        assert await guest.silent()  # not sent to the others

        await patient.send("signal", to="00000000-0000-0000-0000-000000000000", description=OFFER)
        assert (await patient.until("error"))["code"] == "unknown_peer"
        await patient.send("signal", to=ids["doctor"], description={"type": "nonsense", "sdp": 1})
        assert (await patient.until("error"))["code"] == "invalid_signal"
        await patient.send("signal", to=ids["doctor"])
        assert (await patient.until("error"))["code"] == "invalid_signal"

        # Media states go to everyone in the call.
        await guest.send("media", audio=True, video=False, audio_only=True)
        for client in (doctor, patient):
            shown = await client.until("peer.media")
            assert shown == {"attendee": ids["guest"], "audio": True, "video": False, "audio_only": True}
        for client in (doctor, patient, guest):
            await client.close()

    scenario(run())


def test_a_removed_guest_is_let_go_and_cannot_come_back(cast, api):
    appointment = video_visit(cast)
    joins = tokens(cast, api, appointment, guest=True)
    meeting_id = joins["doctor"]["meeting"]["id"]
    guest_id = joins["guest"]["attendee"]["id"]
    remove = api(cast.staff_a["doctor"]).delete

    async def run():
        doctor = await Client(meeting_id, joins["doctor"]["token"]).open()
        await doctor.until("joined")
        guest = await Client(meeting_id, joins["guest"]["token"]).open()
        await guest.until("waiting")
        lobby = await doctor.until("lobby")
        while not lobby["waiting"]:
            lobby = await doctor.until("lobby")
        assert lobby["waiting"][0] == {
            "id": guest_id,
            "role": "guest",
            "name": "Rana (interpreter)",
            "admitted": False,
        }

        response = await sync_to_async(remove)(f"{clinics(appointment)}/guests/{guest_id}")
        assert response.status_code == 200
        assert await guest.closed() == 4403
        assert {"type": "removed", "data": {"attendee": guest_id}} in guest.seen
        assert (await doctor.until("lobby"))["waiting"] == []
        assert await doctor.silent()

        again = await Client(meeting_id, joins["guest"]["token"]).open()
        assert (await again.until("error"))["code"] == "removed"
        assert await again.closed() == 4403
        await doctor.close()

    scenario(run())


def test_ending_closes_everyone(cast, api):
    appointment = video_visit(cast)
    joins = tokens(cast, api, appointment)
    meeting_id = joins["doctor"]["meeting"]["id"]

    async def run():
        doctor, patient = await admitted_pair(meeting_id, joins)
        await patient.send("end")
        assert (await patient.until("error"))["code"] == "not_the_doctor"
        await doctor.send("end")
        assert await patient.closed() == 4000
        assert await doctor.closed() == 4000
        assert "ended" in patient.kinds() and "ended" in doctor.kinds()
        late = await Client(meeting_id, joins["patient"]["token"]).open()
        assert (await late.until("error"))["code"] == "meeting_ended"
        assert await late.closed() == 4409

    scenario(run())
    meeting = Meeting.unscoped.get(external_id=meeting_id)
    assert meeting.status == "ended" and meeting.ended_by == cast.staff_a["doctor"]
    assert not Attendee.unscoped.filter(
        meeting=meeting, left_at__isnull=True, joined_at__isnull=False
    ).exists()


def test_a_token_for_one_meeting_does_not_open_another(cast, api):
    from shifa.access.models import Role
    from tests.factories import MembershipFactory, PatientFactory, UserFactory

    first = video_visit(cast)
    other_doctor = UserFactory(full_name="Dr Other")
    MembershipFactory(clinic=cast.clinic_a, user=other_doctor, role=Role.objects.get(code="doctor"))
    second = video_visit(cast, patient=PatientFactory(), doctor=other_doctor)
    joins_a = tokens(cast, api, first)
    joined_b = joined(api(other_doctor).post(clinics(second)))
    meeting_a, meeting_b = joins_a["doctor"]["meeting"]["id"], joined_b["meeting"]["id"]
    assert meeting_a != meeting_b

    async def run():
        wrong = await Client(meeting_b, joins_a["patient"]["token"]).open()
        assert (await wrong.until("error"))["code"] == "token_invalid"
        assert await wrong.closed() == 4403
        doctor_b = await Client(meeting_b, joined_b["token"]).open()
        await doctor_b.until("joined")
        assert (await doctor_b.until("lobby"))["waiting"] == []
        assert await doctor_b.silent()  # nobody from meeting A showed up here
        await doctor_b.close()

    scenario(run())


def test_reconnecting_replaces_the_old_connection_and_gets_fresh_tokens(cast, api):
    appointment = video_visit(cast)
    joins = tokens(cast, api, appointment)
    meeting_id = joins["doctor"]["meeting"]["id"]
    patient_id = joins["patient"]["attendee"]["id"]

    async def run():
        doctor, patient = await admitted_pair(meeting_id, joins)
        await patient.send("refresh")
        fresh = await patient.until("token")
        assert read_token(fresh["token"])[1] == read_token(joins["patient"]["token"])[1]

        # The same patient again (a network that dropped, another tab): the new connection takes over.
        second = await Client(meeting_id, fresh["token"]).open()
        assert (await second.until("joined"))["self"]["admitted"] is True
        assert await patient.closed() == 4001
        assert "replaced" in patient.kinds()
        again = await doctor.until("peer.joined")
        assert again["attendee"]["id"] == patient_id and again["offer"] is False
        assert (await second.until("peer.joined"))["offer"] is True
        assert await doctor.silent(0.5)  # the old connection's leaving does not drop the new one
        assert "peer.left" not in doctor.kinds()
        await second.close()
        assert (await doctor.until("peer.left"))["attendee"] == patient_id
        await doctor.close()

    scenario(run())
    assert Attendee.unscoped.get(external_id=patient_id).left_at is not None


def test_a_connection_that_never_joins_is_closed(monkeypatch):
    from shifa.telehealth import consumers

    monkeypatch.setattr(consumers, "JOIN_WITHIN_SECONDS", 0.2)

    async def scenario() -> int:
        idle = await Client("00000000-0000-4000-8000-000000000000").open(join=False)
        return await idle.closed(timeout=3)

    assert asyncio.run(scenario()) == 4408
