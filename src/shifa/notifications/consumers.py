"""Live in-app notifications for the signed-in person (group ``user.<id>.notifications``)."""

from __future__ import annotations

from shifa.core.consumers import ShifaConsumer

from .channels import user_group


class NotificationsConsumer(ShifaConsumer):
    """Sends ``{"type": "notification.created", "data": {...}}`` as each notification is delivered in-app."""

    permission = "notifications.manage_own"

    async def joined(self) -> None:
        self.group = user_group(self.actor.user)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "connected", "data": {}})

    async def disconnect(self, code) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def notification_created(self, message) -> None:
        await self.send_json({"type": "notification.created", "data": message["data"]})
