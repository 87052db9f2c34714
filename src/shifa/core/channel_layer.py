"""The in-memory Channels layer of the single-process mode, with its expiry sweep throttled.

Channels' own layer sweeps every channel and every group membership on each send and receive: with thousands of
connected WebSockets that sweep costs more than the delivery itself. Expiry (a minute for messages, a day for
memberships) does not need to be checked more than once a second."""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer

SWEEP_SECONDS = 1.0


class ThrottledInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        super()._clean_expired()
