"""Video providers (TM-1): built-in WebRTC (default), LiveKit and Amazon Chime SDK, chosen by ``VIDEO_PROVIDER``."""

from __future__ import annotations

from django.conf import settings

from .base import (
    AttendeeRef,
    JoinToken,
    MeetingRef,
    ProviderAttendee,
    ProviderMeeting,
    VideoProvider,
    VideoProviderError,
)

__all__ = [
    "AttendeeRef",
    "JoinToken",
    "MeetingRef",
    "ProviderAttendee",
    "ProviderMeeting",
    "VideoProvider",
    "VideoProviderError",
    "get_provider",
]


def get_provider(name: str | None = None) -> VideoProvider:
    """The provider named (a meeting keeps the provider it was made with), else the configured one."""
    name = name or settings.VIDEO_PROVIDER
    if name == "webrtc":
        from .webrtc import WebRTCProvider

        return WebRTCProvider()
    if name == "livekit":
        from .livekit import LiveKitProvider

        return LiveKitProvider()
    if name == "chime":
        from .chime import ChimeProvider

        return ChimeProvider()
    raise ValueError(f"unknown video provider {name!r}")
