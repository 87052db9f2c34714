"""The single-process channel layer delivers like Channels' own and still expires old messages and memberships,
sweeping for them at most once a second."""

from __future__ import annotations

import asyncio

from shifa.core import channel_layer
from shifa.core.channel_layer import ThrottledInMemoryChannelLayer


def test_group_messages_reach_every_member():
    async def scenario():
        layer = ThrottledInMemoryChannelLayer()
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("conversation.x", first)
        await layer.group_add("conversation.x", second)
        await layer.group_send("conversation.x", {"type": "message.created", "n": 1})
        return await layer.receive(first), await layer.receive(second)

    assert asyncio.run(scenario()) == ({"type": "message.created", "n": 1},) * 2


def test_expired_memberships_are_swept_but_not_on_every_send(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr(channel_layer.time, "monotonic", lambda: clock["now"])
    sweeps = []

    async def scenario():
        layer = ThrottledInMemoryChannelLayer(group_expiry=60)
        original = channel_layer.InMemoryChannelLayer._clean_expired

        def counted(self):
            sweeps.append(clock["now"])
            original(self)

        monkeypatch.setattr(channel_layer.InMemoryChannelLayer, "_clean_expired", counted)
        member = await layer.new_channel()
        await layer.group_add("queue", member)
        for _ in range(50):
            await layer.group_send("queue", {"type": "queue.changed"})
            await layer.receive(member)
        assert len(sweeps) == 1
        layer.groups["queue"][member] = 1.0  # joined long ago: past the group expiry
        clock["now"] += 1.5
        await layer.group_send("queue", {"type": "queue.changed"})
        return layer.groups["queue"]

    assert asyncio.run(scenario()) == {}
    assert len(sweeps) == 2
