"""Acceptance (TM-1): an aiortc client joins a meeting through the same signaling as the browsers.

Two aiortc peers — the doctor and the patient — each ask the join API of a live ASGI server for a token over HTTP,
open the signaling WebSocket, go through the waiting room and exchange SDP through our consumer; then media flows
peer to peer over loopback, and switching to audio only keeps the call."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aioice.ice
import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from websockets.asyncio.client import connect

from shifa.telehealth.models import Attendee, Meeting
from tests.conftest import ApiClient
from tests.support.live_asgi import live_asgi  # noqa: F401  (fixture)
from tests.telehealth.test_meetings import clinics, mine, video_visit

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 20


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Host candidates on 127.0.0.1 only (aioice leaves loopback out by default): both peers live in this process,
    and no packet needs to leave the machine."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class Peer:
    """An aiortc client of a video visit: the join API over HTTP, the signaling over a real WebSocket, media peer to
    peer with a test pattern and a tone-less audio track."""

    def __init__(self, server, user, join_path: str) -> None:
        self.server, self.join_path = server, join_path
        self.bearer = ApiClient(user).token()
        self.audio, self.video = AudioStreamTrack(), VideoStreamTrack()
        self.received: dict[str, object] = {}
        self.pc: RTCPeerConnection | None = None
        self.peer_id: str | None = None
        self.seen: list[dict] = []

    async def join(self) -> dict:
        async with httpx.AsyncClient(base_url=self.server.url, trust_env=False) as http:
            response = await http.post(self.join_path, headers={"Authorization": f"Bearer {self.bearer}"})
        assert response.status_code == 200, response.text
        body = response.json()
        self.me = body["attendee"]["id"]
        self.ice = body["connection"]["ice_servers"]
        url = self.server.ws_url + body["meeting"]["join_info"]["signaling"]
        self.ws = await connect(url, origin=self.server.url, proxy=None)
        await self.send("join", token=body["token"])
        return body

    async def send(self, kind: str, **data) -> None:
        await self.ws.send(json.dumps({"type": kind, "data": data}))

    async def until(self, kind: str) -> dict:
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
            self.seen.append(message)
            if message["type"] == kind:
                return message["data"]
            if message["type"] == "signal":
                await self.on_signal(message["data"])

    def connection(self, peer: dict) -> RTCPeerConnection:
        assert self.ice == []  # no STUN or TURN configured: loopback host candidates are enough
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.peer_id = peer["id"]

        @self.pc.on("track")
        def on_track(track):
            self.received[track.kind] = track

        return self.pc

    async def start(self, joined: dict) -> None:
        """peer.joined: the one told to offer makes the offer; the other waits for it (in ``on_signal``)."""
        pc = self.connection(joined["attendee"])
        if joined["offer"]:
            self.audio_sender = pc.addTrack(self.audio)
            self.video_sender = pc.addTrack(self.video)
            await pc.setLocalDescription(await pc.createOffer())
            await self.describe()

    async def describe(self) -> None:
        # aiortc gathers every candidate before setLocalDescription returns: they are in the SDP.
        description = {"type": self.pc.localDescription.type, "sdp": self.pc.localDescription.sdp}
        await self.send("signal", to=self.peer_id, description=description)

    async def on_signal(self, data: dict) -> None:
        assert data["from"] == self.peer_id
        description = data["description"]
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=description["sdp"], type=description["type"])
        )
        if description["type"] == "offer":
            self.audio_sender = self.pc.addTrack(self.audio)
            self.video_sender = self.pc.addTrack(self.video)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.describe()

    async def pump(self, seconds: float) -> None:
        """Read signaling messages (answering offers) for a while."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.until("never"), seconds)

    async def inbound(self) -> dict[str, int]:
        stats = await self.pc.getStats()
        return {s.kind: s.packetsReceived for s in stats.values() if s.type == "inbound-rtp"}

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()


async def connected(*peers: Peer) -> None:
    for _ in range(TIMEOUT * 10):
        if all(p.pc is not None and p.pc.connectionState == "connected" for p in peers):
            return
        await asyncio.sleep(0.1)
    raise AssertionError([p.pc.connectionState if p.pc else None for p in peers])


def test_an_aiortc_client_joins_a_meeting_through_our_signaling(cast, live_asgi):  # noqa: F811
    appointment = video_visit(cast)
    doctor = Peer(live_asgi, cast.staff_a["doctor"], clinics(appointment))
    patient = Peer(live_asgi, cast.patient_user, mine(appointment))

    async def run():
        await doctor.join()
        await doctor.until("joined")
        await patient.join()
        await patient.until("waiting")
        lobby = await doctor.until("lobby")
        while not lobby["waiting"]:
            lobby = await doctor.until("lobby")
        await doctor.send("admit", attendee=lobby["waiting"][0]["id"])

        # Both are told of the other; the patient, admitted last, offers.
        to_patient, to_doctor = await patient.until("peer.joined"), await doctor.until("peer.joined")
        assert (to_patient["offer"], to_doctor["offer"]) == (True, False)
        await doctor.start(to_doctor)
        await patient.start(to_patient)
        await asyncio.gather(doctor.pump(3), patient.pump(3), connected(doctor, patient))
        await connected(doctor, patient)

        # Each receives the other's audio and video.
        for side in (doctor, patient):
            assert set(side.received) == {"audio", "video"}
            frame = await asyncio.wait_for(side.received["video"].recv(), TIMEOUT)
            assert (frame.width, frame.height) == (640, 480)
            await asyncio.wait_for(side.received["audio"].recv(), TIMEOUT)
        await asyncio.sleep(1)
        before = {side: await side.inbound() for side in (doctor, patient)}
        for side in (doctor, patient):
            assert before[side]["audio"] > 0 and before[side]["video"] > 0, before[side]

        # The patient switches to audio only: no more video from them, the call goes on with sound.
        patient.video_sender.replaceTrack(None)
        await patient.send("media", audio=True, video=False, audio_only=True)
        shown = await doctor.until("peer.media")
        assert shown == {"attendee": patient.me, "audio": True, "video": False, "audio_only": True}
        doctor.video_sender.replaceTrack(None)  # nobody sends video to someone in audio only
        await asyncio.sleep(2)
        after = {side: await side.inbound() for side in (doctor, patient)}
        assert doctor.pc.connectionState == patient.pc.connectionState == "connected"
        for side in (doctor, patient):
            assert after[side]["audio"] > before[side]["audio"]
            await asyncio.wait_for(side.received["audio"].recv(), TIMEOUT)

        # The doctor ends the visit: both are told and let go.
        await doctor.send("end")
        await doctor.until("ended")
        await patient.until("ended")
        await doctor.close()
        await patient.close()

    asyncio.run(run())
    meeting = Meeting.unscoped.get(appointment=appointment)
    assert meeting.status == "ended" and meeting.started_at is not None
    people = {a.role: a for a in Attendee.unscoped.filter(meeting=meeting)}
    assert people["patient"].admitted_at is not None and people["patient"].joined_at is not None
    assert people["doctor"].left_at is not None and people["patient"].left_at is not None
