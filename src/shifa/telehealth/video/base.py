"""The interface every video provider implements (ARCHITECTURE: every external system sits behind one).

A provider makes a meeting (a room) and an attendee in it, and issues the attendee's join token. Tokens are
short-lived and never stored or logged by us: they are handed to the client that joins, once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


class VideoProviderError(Exception):
    """The provider could not be reached or refused the request; the caller answers 503 and nothing is saved."""


@dataclass(frozen=True)
class ProviderMeeting:
    meeting_id: str
    media_region: str = ""
    join_info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderAttendee:
    attendee_id: str
    capabilities: dict = field(default_factory=dict)


@dataclass(frozen=True)
class JoinToken:
    token: str
    expires_at: dt.datetime
    #: Per-join connection details for the client (e.g. short-lived TURN credentials); never stored.
    connection: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MeetingRef:
    """What a provider needs to know of a meeting we keep."""

    meeting_id: str  # the provider's id
    external_meeting_id: str  # ours, given to the provider (idempotent creation)
    media_region: str = ""
    join_info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AttendeeRef:
    attendee_id: str  # the provider's id ("" before it is created)
    external_user_id: str  # ours, given to the provider
    name: str
    can_publish: bool = True


class VideoProvider(Protocol):
    name: str

    def create_meeting(self, *, external_meeting_id: str, max_participants: int) -> ProviderMeeting:
        """Create the meeting, idempotently for the same ``external_meeting_id``."""

    def create_attendee(self, meeting: MeetingRef, attendee: AttendeeRef) -> ProviderAttendee:
        """Register an attendee, idempotently for the same ``external_user_id``."""

    def join_token(self, meeting: MeetingRef, attendee: AttendeeRef, *, seconds: int) -> JoinToken:
        """A token that lets this attendee into this meeting for ``seconds``."""

    def end_meeting(self, meeting: MeetingRef) -> None:
        """End the meeting for everyone (a meeting already gone is not an error)."""
