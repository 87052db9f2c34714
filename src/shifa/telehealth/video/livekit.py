"""LiveKit (https://docs.livekit.io): rooms made through its Twirp server API, attendees joining with access
tokens we sign ourselves (an HS256 JWT with a ``video`` grant, keyed by the API key and secret)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx
import jwt
from django.conf import settings

from shifa.core import timezones

from .base import AttendeeRef, JoinToken, MeetingRef, ProviderAttendee, ProviderMeeting, VideoProviderError

ALGORITHM = "HS256"
TIMEOUT = 10.0
#: How long a token for our own calls to the server API lives.
SERVER_TOKEN_SECONDS = 600
#: A room nobody joins, or everybody left, closes after this many seconds.
EMPTY_TIMEOUT = 600


@dataclass(frozen=True)
class _Config:
    http_url: str
    ws_url: str
    api_key: str
    api_secret: str


def _config() -> _Config:
    url = (settings.LIVEKIT_URL or "").strip().rstrip("/")
    if not (url and settings.LIVEKIT_API_KEY and settings.LIVEKIT_API_SECRET):
        raise VideoProviderError("LiveKit is not configured")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise VideoProviderError("LiveKit is not configured")
    scheme = scheme.lower()
    secure = scheme in ("https", "wss")
    if scheme not in ("http", "https", "ws", "wss"):
        raise VideoProviderError("LiveKit is not configured")
    return _Config(
        http_url=f"{'https' if secure else 'http'}://{rest}",
        ws_url=f"{'wss' if secure else 'ws'}://{rest}",
        api_key=settings.LIVEKIT_API_KEY,
        api_secret=settings.LIVEKIT_API_SECRET,
    )


def _sign(config: _Config, claims: dict, *, seconds: int) -> tuple[str, dt.datetime]:
    now = timezones.now()
    expires_at = now + dt.timedelta(seconds=seconds)
    payload = {
        "iss": config.api_key,
        "nbf": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        **claims,
    }
    return jwt.encode(payload, config.api_secret, algorithm=ALGORITHM), expires_at


class LiveKitProvider:
    name = "livekit"

    def __init__(self, client: httpx.Client | None = None) -> None:
        self.client = client

    def create_meeting(self, *, external_meeting_id: str, max_participants: int) -> ProviderMeeting:
        config = _config()
        room = self._call(
            config,
            "CreateRoom",
            {
                "name": external_meeting_id,
                "max_participants": max_participants,
                "empty_timeout": EMPTY_TIMEOUT,
            },
        )
        name = str(room.get("name") or external_meeting_id)
        return ProviderMeeting(
            meeting_id=name, media_region="", join_info={"url": config.ws_url, "room": name}
        )

    def create_attendee(self, meeting: MeetingRef, attendee: AttendeeRef) -> ProviderAttendee:
        return ProviderAttendee(
            attendee_id=attendee.external_user_id,
            capabilities={
                "audio": "SendReceive",
                "video": "SendReceive" if attendee.can_publish else "Receive",
            },
        )

    def join_token(self, meeting: MeetingRef, attendee: AttendeeRef, *, seconds: int) -> JoinToken:
        config = _config()
        token, expires_at = _sign(
            config,
            {
                "sub": attendee.attendee_id or attendee.external_user_id,
                "name": attendee.name,
                "video": {
                    "roomJoin": True,
                    "room": meeting.meeting_id,
                    "canPublish": attendee.can_publish,
                    "canSubscribe": True,
                },
            },
            seconds=seconds,
        )
        return JoinToken(token=token, expires_at=expires_at, connection={"url": config.ws_url})

    def end_meeting(self, meeting: MeetingRef) -> None:
        self._call(_config(), "DeleteRoom", {"room": meeting.meeting_id}, missing_ok=True)

    def _call(self, config: _Config, method: str, body: dict, *, missing_ok: bool = False) -> dict:
        token, _ = _sign(
            config,
            {"video": {"roomCreate": True, "roomAdmin": True, "room": body.get("room") or body.get("name")}},
            seconds=SERVER_TOKEN_SECONDS,
        )
        url = f"{config.http_url}/twirp/livekit.RoomService/{method}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            if self.client is not None:
                response = self.client.post(url, json=body, headers=headers, timeout=TIMEOUT)
            else:
                with httpx.Client(timeout=TIMEOUT) as client:
                    response = client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise VideoProviderError(f"LiveKit unreachable: {type(exc).__name__}") from exc
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.is_success:
            return answer
        code = str(answer.get("code", ""))
        if missing_ok and (response.status_code == 404 or code == "not_found"):
            return {}
        raise VideoProviderError(f"LiveKit {method} failed: {response.status_code} {code}".strip())
