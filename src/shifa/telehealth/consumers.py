"""WebSockets of telehealth.

``/ws/meetings/<id>/signal`` — the built-in video's signaling (TM-1). Public as a route: the join token (issued
only to the meeting's attendees, see ``actions.video_join_*``) is the credential, sent as the first message so that
it never appears in a URL or a log. Messages, each ``{"type": …, "data": {…}}``:

* client → server: ``join {token}`` (first); ``signal {to, description?, candidate?}`` (relayed to that one
  admitted peer only); ``media {audio, video, audio_only}`` (muted, camera off, audio only: shown to the others,
  who stop sending video to someone in audio only); ``admit {attendee}`` and ``end {}`` (doctor only);
  ``refresh {}`` (a fresh join token, to reconnect with later); ``leave {}``; ``ping``.
* server → client: ``joined {self}``; ``waiting {}`` (held in the waiting room until the doctor admits);
  ``admitted {self}``; ``peer.joined {attendee, media, offer}`` (an admitted peer is there: exactly one of the two
  gets ``offer: true`` — the one who came last — and sends the offer), ``peer.left {attendee}``,
  ``peer.media {attendee, audio, video, audio_only}``, ``lobby {waiting}`` (the doctor: who waits),
  ``signal {from, description?, candidate?}``, ``token {token, expires_at}``, ``removed``, ``ended``,
  ``replaced`` (the same attendee connected again elsewhere), ``error {code, detail}``.
  Close codes: 4000 ended, 4001 replaced, 4403 removed or a token of another meeting, 4404/4409 a join token
  that is not valid or a meeting that is over.

``/ws/me/conversations/<id>`` and ``/ws/clinics/<clinic>/conversations/<id>`` — a conversation live (TM-3):
``message.created``, ``message.read``, ``typing``; clients send ``message.send {body, client_id}``, ``read
{message_id}`` and ``typing {}``.

``/ws/clinics/<clinic>/urgent-queue`` — the urgent queue for doctors on duty (``queue.changed``), and
``/ws/me/urgent-requests/<id>`` — the patient's request (``accepted``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import DatabaseError, close_old_connections
from django.utils.translation import gettext as _

from shifa.audit.context import audit_context
from shifa.core.consumers import ClosesWhenLayerIsDown, ShifaConsumer
from shifa.core.errors import Problem

from . import events

logger = logging.getLogger(__name__)

#: A signaling connection that has not sent its join token by then is closed.
JOIN_WITHIN_SECONDS = 15
#: Signaling messages larger than this are refused (an SDP offer is a few kilobytes).
MAX_SIGNAL_BYTES = 64 * 1024
#: A client may not send more than this many messages in 10 seconds (ICE candidates come in bursts).
RATE_LIMIT = 400
SDP_TYPES = ("offer", "answer", "pranswer", "rollback")


def _db(func, *, thread_sensitive: bool = True, audit: dict | None = None):
    """Run ``func`` in a worker thread with its own database connection handling; its writes are audited with
    ``audit`` (who, in which clinic, over the WebSocket).

    By default every call runs on the one thread Django keeps for synchronous code, one after another. A
    self-contained transaction (``thread_sensitive=False``) runs on the executor's pool instead, so that while
    one waits for the database (a commit, a busy disk) the messages of other connections go on.
    """

    def call(*args, **kwargs):
        close_old_connections()
        try:
            with audit_context(**(audit or {"source": "websocket"})):
                return func(*args, **kwargs)
        finally:
            close_old_connections()

    return database_sync_to_async(call, thread_sensitive=thread_sensitive)


def _attendee_audit(attendee) -> dict:
    return {"actor_id": attendee.user_id, "clinic_id": attendee.clinic_id, "source": "websocket"}


def _problem_code(problem: Problem) -> dict:
    return {"code": problem.code, "detail": str(problem.detail)}


def _attendee_data(attendee) -> dict:
    return {
        "id": str(attendee.external_id),
        "role": attendee.role,
        "name": attendee.name,
        "admitted": attendee.admitted_at is not None,
    }


def _media(data: dict) -> dict:
    return {
        "audio": bool(data.get("audio", True)),
        "video": bool(data.get("video", True)),
        "audio_only": bool(data.get("audio_only", False)),
    }


def _signal_payload(data: dict) -> dict | None:
    """The SDP description and/or ICE candidate of a ``signal`` message, in the shapes browsers produce;
    None when neither is there or either is malformed."""
    payload = {}
    description = data.get("description")
    if description is not None:
        if (
            not isinstance(description, dict)
            or description.get("type") not in SDP_TYPES
            or not isinstance(description.get("sdp", ""), str)
        ):
            return None
        payload["description"] = {"type": description["type"], "sdp": description.get("sdp", "")}
    if "candidate" in data:
        candidate = data["candidate"]
        if candidate is not None and not isinstance(candidate, dict):
            return None
        payload["candidate"] = candidate
    return payload or None


class SignalingConsumer(ClosesWhenLayerIsDown, AsyncJsonWebsocketConsumer):
    """One attendee's signaling connection. Presence (who is connected, with what media) lives in the channel
    layer's groups and in each connection's memory; joins, admissions and leaves are written to the meeting.

    Each connection knows its peers with the channel they are connected on, so that a late ``peer.left`` of a
    connection that was replaced (a reconnect) does not drop the new one. Of two peers, the one that entered the
    call last (``since``, then its id to break a tie) sends the offer; both sides reach the same answer."""

    public = True
    permission = None
    route_key = ""

    def __init__(self, *args, route_key: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.route_key = route_key
        self.attendee = None
        self.meeting_id = None
        self.media = _media({})
        self.since = 0.0
        self.peers: dict[str, dict] = {}
        self.waiting: dict[str, dict] = {}
        self.replaced = False
        self.window_start = time.monotonic()
        self.window_count = 0

    async def connect(self) -> None:
        from shifa.access.policies import authorize

        try:
            await _db(authorize)(None, "WS", self.route_key, {}, mfa=False)
        except Problem as problem:
            await self.close(code=4000 + problem.status)
            return
        self.meeting_id = str(self.scope["url_route"]["kwargs"]["meeting_id"])
        await self.accept()
        self.join_deadline = asyncio.get_running_loop().call_later(
            JOIN_WITHIN_SECONDS, lambda: asyncio.ensure_future(self._close_if_not_joined())
        )

    async def _close_if_not_joined(self) -> None:
        if self.attendee is None:
            await self.close(code=4408)

    async def disconnect(self, code) -> None:
        deadline = getattr(self, "join_deadline", None)
        if deadline is not None:
            deadline.cancel()
        if self.attendee is None:
            return
        await self.channel_layer.group_discard(events.meeting_group(self.meeting_id), self.channel_name)
        await self.channel_layer.group_discard(self._own_group(self.attendee_id), self.channel_name)
        if not self.replaced:
            from .actions import attendee_disconnected

            await _db(attendee_disconnected, audit=self._audit())(attendee_id=self.attendee.pk)
        await self._broadcast("peer.left", {"attendee": self.attendee_id})

    def _audit(self) -> dict:
        return _attendee_audit(self.attendee)

    @property
    def attendee_id(self) -> str:
        return str(self.attendee.external_id)

    @property
    def admitted(self) -> bool:
        return self.attendee is not None and self.attendee.admitted_at is not None

    def _own_group(self, attendee_id: str) -> str:
        return f"{events.meeting_group(self.meeting_id)}.{attendee_id}"

    async def _relay(self, group: str, message: dict) -> None:
        from .actions import live_relay

        await live_relay(self.channel_layer, group, {**message, "sender": self.channel_name})

    async def _broadcast(self, event: str, data: dict) -> None:
        await self._relay(
            events.meeting_group(self.meeting_id), {"type": "meeting.peer", "event": event, "data": data}
        )

    def _presence(self) -> dict:
        return {"attendee": _attendee_data(self.attendee), "media": self.media, "since": self.since}

    async def _error(self, code: str, detail: str = "") -> None:
        await self.send_json({"type": "error", "data": {"code": code, "detail": detail}})

    def _limited(self) -> bool:
        now = time.monotonic()
        if now - self.window_start > 10:
            self.window_start, self.window_count = now, 0
        self.window_count += 1
        return self.window_count > RATE_LIMIT

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if bytes_data is not None or text_data is None or len(text_data) > MAX_SIGNAL_BYTES:
            await self._error("message_too_large")
            return
        await super().receive(text_data=text_data, **kwargs)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("unknown_message")
            return
        if self._limited():
            await self._error("rate_limited")
            return
        kind = content["type"]
        data = content.get("data") if isinstance(content.get("data"), dict) else {}
        if kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
            return
        if kind == "join":
            await self._join(data)
            return
        if self.attendee is None:
            await self._error("not_joined")
            return
        handler = {
            "signal": self._signal,
            "media": self._media,
            "admit": self._admit,
            "end": self._end,
            "refresh": self._refresh,
            "leave": self._leave,
        }.get(kind)
        if handler is None:
            await self._error("unknown_message")
            return
        await handler(data)

    async def _join(self, data: dict) -> None:
        from .actions import attendee_connected, signal_attendee

        if self.attendee is not None:
            await self._error("already_joined")
            return
        token = data.get("token")
        if not isinstance(token, str) or not token or len(token) > 4096:
            await self._error("token_invalid")
            await self.close(code=4404)
            return
        try:
            attendee = await _db(signal_attendee)(token=token)
        except Problem as problem:
            await self.send_json({"type": "error", "data": _problem_code(problem)})
            await self.close(code=4000 + problem.status)
            return
        if str(attendee.meeting.external_id) != self.meeting_id:
            await self._error("token_invalid", str(_("This join token is for another video visit.")))
            await self.close(code=4403)
            return
        self.attendee = await _db(attendee_connected, audit=_attendee_audit(attendee))(
            attendee_id=attendee.pk
        )
        self.since = time.time()
        own = self._own_group(self.attendee_id)
        await self.channel_layer.group_add(events.meeting_group(self.meeting_id), self.channel_name)
        await self.channel_layer.group_add(own, self.channel_name)
        # An older connection of the same attendee (another tab, a network that dropped) gives way to this one.
        await self._relay(own, {"type": "meeting.replaced"})
        await self.send_json({"type": "joined", "data": {"self": _attendee_data(self.attendee)}})
        await self._send_lobby()
        if not self.admitted:
            await self.send_json({"type": "waiting", "data": {}})
        # Everyone answers with "here" so that the newcomer learns who is connected.
        await self._broadcast("hello", self._presence())

    async def _signal(self, data: dict) -> None:
        target = data.get("to")
        if not self.admitted:
            await self._error("not_admitted")
            return
        if not isinstance(target, str) or target not in self.peers:
            await self._error("unknown_peer")
            return
        payload = _signal_payload(data)
        if payload is None:
            await self._error("invalid_signal")
            return
        await self._relay(
            self._own_group(target), {"type": "meeting.signal", "data": {"from": self.attendee_id, **payload}}
        )

    async def _media(self, data: dict) -> None:
        self.media = _media(data)
        await self._broadcast("peer.media", {"attendee": self.attendee_id, **self.media})

    async def _admit(self, data: dict) -> None:
        from .actions import attendee_admit

        try:
            admitted = await _db(attendee_admit, audit=self._audit())(
                by_attendee_id=self.attendee.pk, attendee_external_id=data.get("attendee")
            )
        except Problem as problem:
            await self.send_json({"type": "error", "data": _problem_code(problem)})
            return
        await self._relay(self._own_group(str(admitted.external_id)), {"type": "meeting.admitted"})

    async def _end(self, data: dict) -> None:
        from .actions import meeting_end_by_attendee

        try:
            await _db(meeting_end_by_attendee, audit=self._audit())(attendee_id=self.attendee.pk)
        except Problem as problem:
            await self.send_json({"type": "error", "data": _problem_code(problem)})

    async def _refresh(self, data: dict) -> None:
        from shifa.core import timezones

        from .actions import attendee_token

        try:
            token = await _db(attendee_token, audit=self._audit())(attendee_id=self.attendee.pk)
        except Problem as problem:
            await self.send_json({"type": "error", "data": _problem_code(problem)})
            return
        await self.send_json(
            {
                "type": "token",
                "data": {"token": token.token, "expires_at": timezones.isoformat_z(token.expires_at)},
            }
        )

    async def _leave(self, data: dict) -> None:
        await self.close(code=1000)

    # --- from the channel layer ---

    async def meeting_peer(self, message) -> None:
        """Presence among attendees: hello (a newcomer), here (an answer to it), peer.left, peer.media."""
        sender = message.get("sender")
        if self.attendee is None or sender == self.channel_name:
            return
        event, data = message["event"], message["data"]
        if event in ("hello", "here"):
            if event == "hello":
                await self.channel_layer.send(
                    sender,
                    {
                        "type": "meeting.peer",
                        "event": "here",
                        "data": self._presence(),
                        "sender": self.channel_name,
                    },
                )
            await self._know(data, sender)
            return
        other = data.get("attendee")
        if event == "peer.left":
            if self.peers.get(other, {}).get("channel") == sender:
                del self.peers[other]
                await self.send_json({"type": "peer.left", "data": {"attendee": other}})
            if self.waiting.get(other, {}).get("channel") == sender:
                del self.waiting[other]
                await self._send_lobby()
            return
        if event == "peer.media" and self.peers.get(other, {}).get("channel") == sender:
            self.peers[other]["media"] = _media(data)
            await self.send_json({"type": "peer.media", "data": {"attendee": other, **_media(data)}})

    async def _know(self, presence: dict, channel: str) -> None:
        """Someone else is connected: a peer if both are admitted, else (for the doctor) someone waiting."""
        other, media = presence["attendee"], _media(presence.get("media") or {})
        if other["id"] == self.attendee_id:
            return
        if other["admitted"] and self.admitted:
            waited = self.waiting.pop(other["id"], None)
            fresh = self.peers.get(other["id"], {}).get("channel") != channel
            self.peers[other["id"]] = {"channel": channel, "media": media}
            if fresh:
                since = float(presence.get("since") or 0)
                offer = (self.since, self.attendee_id) > (since, other["id"])
                await self.send_json(
                    {"type": "peer.joined", "data": {"attendee": other, "media": media, "offer": offer}}
                )
            if waited is not None:
                await self._send_lobby()
        elif not other["admitted"] and self.attendee.role == "doctor":
            self.waiting[other["id"]] = {"attendee": other, "channel": channel}
            await self._send_lobby()

    async def _send_lobby(self) -> None:
        if self.attendee.role == "doctor":
            waiting = [entry["attendee"] for entry in self.waiting.values()]
            await self.send_json({"type": "lobby", "data": {"waiting": waiting}})

    async def meeting_admitted(self, message) -> None:
        """This connection's attendee was let in: say hello again, as admitted, to start the calls."""
        from .actions import attendee_connected

        if self.attendee is None:
            return
        self.attendee = await _db(attendee_connected, audit=self._audit())(attendee_id=self.attendee.pk)
        self.since = time.time()
        await self.send_json({"type": "admitted", "data": {"self": _attendee_data(self.attendee)}})
        await self._broadcast("hello", self._presence())

    async def meeting_signal(self, message) -> None:
        sender = message["data"].get("from")
        if self.admitted and self.peers.get(sender, {}).get("channel") == message.get("sender"):
            await self.send_json({"type": "signal", "data": message["data"]})

    async def meeting_replaced(self, message) -> None:
        if message.get("sender") == self.channel_name:
            return
        self.replaced = True
        await self.send_json({"type": "replaced", "data": {}})
        await self.close(code=4001)

    async def meeting_event(self, message) -> None:
        """From actions: ended (everyone), removed (one guest)."""
        event, data = message["event"], message.get("data", {})
        if event == "removed" and (self.attendee is None or data.get("attendee") != self.attendee_id):
            return
        await self.send_json({"type": event, "data": data})
        await self.close(code=4000 if event == "ended" else 4403)


class ConversationConsumer(ShifaConsumer):
    """A conversation live, for its patient (and guardian) or for the clinic's care team."""

    side = ""

    async def joined(self) -> None:
        from . import queries

        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.conversation = await _db(queries.conversation_for, thread_sensitive=False)(
                actor=self.actor, side=self.side, conversation_id=kwargs["conversation_id"]
            )
        except Problem as problem:
            await self.close(code=4000 + problem.status)
            return
        self.group = events.conversation_group(self.conversation.external_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(
            {"type": "connected", "data": {"conversation_id": str(self.conversation.external_id)}}
        )

    async def disconnect(self, code) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        from . import actions

        if not isinstance(content, dict) or getattr(self, "group", None) is None:
            await self.send_json({"type": "error", "data": {"code": "unknown_message"}})
            return
        kind = content.get("type")
        data = content.get("data") if isinstance(content.get("data"), dict) else {}
        if kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        elif kind == "typing":
            await actions.live_relay(
                self.channel_layer,
                self.group,
                {
                    "type": "conversation.event",
                    "event": "typing",
                    "data": {"side": self.side, "name": self.actor.user.full_name},
                    "sender": self.channel_name,
                },
            )
        elif kind == "message.send":
            try:
                message, _ = await _db(
                    actions.message_send, thread_sensitive=False, audit=self.audit_metadata()
                )(
                    actor=self.actor,
                    conversation=self.conversation,
                    side=self.side,
                    body=data.get("body", ""),
                    client_id=data.get("client_id", ""),
                )
            except Problem as problem:
                errors = [{"field": e.field, "code": e.code, "message": e.message} for e in problem.errors]
                await self.send_json({"type": "error", "data": {**_problem_code(problem), "errors": errors}})
            except DatabaseError:
                logger.exception("a message over the WebSocket could not be written")
                await self.send_json({"type": "error", "data": {"code": "not_saved", "errors": []}})
            else:
                await self.send_json(
                    {
                        "type": "message.sent",
                        "data": {"id": str(message.external_id), "client_id": message.client_id},
                    }
                )
        elif kind == "read":
            try:
                await _db(actions.conversation_read, audit=self.audit_metadata())(
                    actor=self.actor,
                    conversation=self.conversation,
                    side=self.side,
                    message_id=data.get("message_id"),
                )
            except Problem as problem:
                await self.send_json({"type": "error", "data": _problem_code(problem)})
        else:
            await self.send_json({"type": "error", "data": {"code": "unknown_message"}})

    async def conversation_event(self, message) -> None:
        if message.get("sender") == self.channel_name:
            return
        await self.send_json({"type": message["event"], "data": message.get("data", {})})


class MyConversationConsumer(ConversationConsumer):
    permission = "messaging.use_own"
    side = "patient"


class ClinicConversationConsumer(ConversationConsumer):
    permission = "messaging.care_team"
    side = "clinic"


class UrgentQueueConsumer(ShifaConsumer):
    """Doctors watching the urgent queue hear when it changes (then fetch it through the API)."""

    permission = "telehealth.urgent_care"

    async def joined(self) -> None:
        self.group = events.QUEUE_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "connected", "data": {}})

    async def disconnect(self, code) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def queue_changed(self, message) -> None:
        await self.send_json({"type": "queue.changed", "data": {}})


class MyUrgentRequestConsumer(ShifaConsumer):
    """The patient waiting for a doctor hears the moment one accepts."""

    permission = "telehealth.use_own"

    async def joined(self) -> None:
        from . import queries

        kwargs = self.scope["url_route"]["kwargs"]
        try:
            request = await _db(queries.my_urgent_request)(actor=self.actor, request_id=kwargs["request_id"])
        except Problem as problem:
            await self.close(code=4000 + problem.status)
            return
        self.group = events.urgent_group(request.external_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "connected", "data": {"status": request.status}})

    async def disconnect(self, code) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def urgent_event(self, message) -> None:
        await self.send_json({"type": message["event"], "data": message.get("data", {})})
