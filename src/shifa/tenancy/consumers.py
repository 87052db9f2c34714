"""Live events of a clinic for its console (group ``clinic.<external_id>.events``; tenant-prefixed)."""

from __future__ import annotations

from shifa.core.consumers import ShifaConsumer


def clinic_group(clinic_external_id) -> str:
    return f"clinic.{clinic_external_id}.events"


class ClinicEventsConsumer(ShifaConsumer):
    """Messages: ``{"type": "pong"}`` to a ping; domain events ``{"type": "<event>", "data": {...}}``."""

    permission = "tenancy.view_clinic"

    async def joined(self) -> None:
        self.group = clinic_group(self.actor.clinic.external_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "connected", "data": {"clinic_id": str(self.actor.clinic.external_id)}})

    async def disconnect(self, code) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def clinic_event(self, message) -> None:
        await self.send_json({"type": message["event"], "data": message.get("data", {})})
