"""Amazon Chime SDK Meetings (https://docs.aws.amazon.com/chime-sdk/latest/APIReference/welcome.html).

``CHIME_REGION`` is both the control region the API is called in and the meeting's media region; Chime has no
Middle East media region, so a clinic there picks the nearest one (e.g. eu-central-1). An attendee's join token
comes with the attendee, and Chime gives the same attendee and token back for the same external user id: a join
asks for it again rather than keeping it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from shifa.core import timezones

from .base import AttendeeRef, JoinToken, MeetingRef, ProviderAttendee, ProviderMeeting, VideoProviderError

SERVICE = "chime-sdk-meetings"
TIMEOUT = 10
DEFAULT_CAPABILITIES = {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"}
MEETING_FIELDS = ("MeetingId", "ExternalMeetingId", "MediaRegion")


def meeting_info(meeting: dict) -> dict:
    """The part of Chime's ``Meeting`` a client needs to join, as plain JSON."""
    info = {key: str(meeting[key]) for key in MEETING_FIELDS if meeting.get(key) is not None}
    info["MediaPlacement"] = {str(k): str(v) for k, v in (meeting.get("MediaPlacement") or {}).items()}
    return info


class ChimeProvider:
    name = "chime"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            if not settings.CHIME_REGION:
                raise VideoProviderError("Chime is not configured")
            try:
                self._client = boto3.client(
                    SERVICE,
                    region_name=settings.CHIME_REGION,
                    config=Config(connect_timeout=TIMEOUT, read_timeout=TIMEOUT, retries={"max_attempts": 2}),
                )
            except BotoCoreError as exc:
                raise VideoProviderError(f"Chime client unavailable: {type(exc).__name__}") from exc
        return self._client

    def create_meeting(self, *, external_meeting_id: str, max_participants: int) -> ProviderMeeting:
        answer = self._call(
            "CreateMeeting",
            lambda: self.client.create_meeting(
                ClientRequestToken=external_meeting_id,
                MediaRegion=settings.CHIME_REGION,
                ExternalMeetingId=external_meeting_id,
            ),
        )
        meeting = answer["Meeting"]
        return ProviderMeeting(
            meeting_id=meeting["MeetingId"],
            media_region=meeting.get("MediaRegion", ""),
            join_info={"meeting": meeting_info(meeting)},
        )

    def create_attendee(self, meeting: MeetingRef, attendee: AttendeeRef) -> ProviderAttendee:
        created = self._attendee(meeting, attendee)
        return ProviderAttendee(
            attendee_id=created["AttendeeId"],
            capabilities=dict(created.get("Capabilities") or DEFAULT_CAPABILITIES),
        )

    def join_token(self, meeting: MeetingRef, attendee: AttendeeRef, *, seconds: int) -> JoinToken:
        created = self._attendee(meeting, attendee)
        info = meeting.join_info.get("meeting")
        if not info:
            answer = self._call("GetMeeting", lambda: self.client.get_meeting(MeetingId=meeting.meeting_id))
            info = meeting_info(answer["Meeting"])
        return JoinToken(
            token=created["JoinToken"],
            expires_at=timezones.now() + dt.timedelta(seconds=seconds),
            connection={"attendee_id": created["AttendeeId"], "meeting": info},
        )

    def end_meeting(self, meeting: MeetingRef) -> None:
        try:
            self.client.delete_meeting(MeetingId=meeting.meeting_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return
            raise VideoProviderError(f"Chime DeleteMeeting failed: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise VideoProviderError(f"Chime unreachable: {type(exc).__name__}") from exc

    def _attendee(self, meeting: MeetingRef, attendee: AttendeeRef) -> dict:
        answer = self._call(
            "CreateAttendee",
            lambda: self.client.create_attendee(
                MeetingId=meeting.meeting_id, ExternalUserId=attendee.external_user_id
            ),
        )
        return answer["Attendee"]

    @staticmethod
    def _call(operation: str, call: Callable[[], dict]) -> dict:
        try:
            return call()
        except ClientError as exc:
            raise VideoProviderError(f"Chime {operation} failed: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise VideoProviderError(f"Chime unreachable: {type(exc).__name__}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))
