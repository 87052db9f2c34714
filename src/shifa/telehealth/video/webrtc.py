"""Built-in video: peer-to-peer WebRTC between up to three attendees, signaled over our own WebSocket
(``/ws/meetings/<id>/signal``, ``shifa.telehealth.consumers``). Nothing to run besides Shifa itself; STUN and TURN
servers come from settings, with TURN credentials made per join from the shared secret (the TURN REST scheme that
coturn's ``use-auth-secret`` checks: username ``<expiry>:<attendee>``, password base64 HMAC-SHA1 of it)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import jwt
from django.conf import settings

from shifa.core import timezones

from .base import AttendeeRef, JoinToken, MeetingRef, ProviderAttendee, ProviderMeeting, VideoProviderError

AUDIENCE = "shifa-meeting"
ALGORITHM = "HS256"
TURN_SECONDS = 3600


def signaling_path(meeting_id: str) -> str:
    return f"/ws/meetings/{meeting_id}/signal"


class WebRTCProvider:
    name = "webrtc"

    def create_meeting(self, *, external_meeting_id: str, max_participants: int) -> ProviderMeeting:
        return ProviderMeeting(
            meeting_id=external_meeting_id,
            join_info={
                "signaling": signaling_path(external_meeting_id),
                "max_participants": max_participants,
            },
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
        now = timezones.now()
        expires_at = now + dt.timedelta(seconds=seconds)
        payload = {
            "aud": AUDIENCE,
            "mtg": meeting.meeting_id,
            "sub": attendee.attendee_id,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(payload, settings.SHIFA_JWT_KEY, algorithm=ALGORITHM)
        return JoinToken(
            token=token, expires_at=expires_at, connection={"ice_servers": ice_servers(attendee)}
        )

    def end_meeting(self, meeting: MeetingRef) -> None:
        """Nothing to tell: the signaling consumer closes every connection of an ended meeting."""


def read_token(token: str) -> tuple[str, str]:
    """The (meeting id, attendee id) a join token of ours is for; ``VideoProviderError`` if it is not valid."""
    try:
        payload = jwt.decode(
            token,
            settings.SHIFA_JWT_KEY,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "mtg", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise VideoProviderError("invalid join token") from exc
    return str(payload["mtg"]), str(payload["sub"])


def ice_servers(attendee: AttendeeRef) -> list[dict]:
    servers: list[dict] = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    if settings.TURN_URLS and settings.TURN_SECRET:
        expiry = int(timezones.now().timestamp()) + TURN_SECONDS
        username = f"{expiry}:{attendee.external_user_id}"
        digest = hmac.new(settings.TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
        servers.append(
            {
                "urls": list(settings.TURN_URLS),
                "username": username,
                "credential": base64.b64encode(digest).decode(),
            }
        )
    return servers
