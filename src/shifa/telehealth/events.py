"""Live events of telehealth, sent to Channels groups once the transaction that caused them commits:

* ``meeting.<id>``: everyone connected to a meeting's signaling (ended, removed);
* ``urgent.queue``: doctors on duty watching the urgent queue (changed);
* ``urgent.<id>``: the patient watching their urgent request (accepted);
* ``conversation.<id>``: the people in a conversation (message.created, message.read, typing).
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from shifa.core import timezones
from shifa.core.cache import UNREACHABLE

logger = logging.getLogger(__name__)
QUEUE_GROUP = "urgent.queue"


def meeting_group(meeting_external_id) -> str:
    return f"meeting.{meeting_external_id}"


def urgent_group(request_external_id) -> str:
    return f"urgent.{request_external_id}"


def conversation_group(conversation_external_id) -> str:
    return f"conversation.{conversation_external_id}"


def _send(group: str, message: dict) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, message)
        except UNREACHABLE as exc:  # Redis is away: pages catch up by polling until it is back
            logger.warning(
                "live event %s to %s not sent: channel layer unreachable (%s)", message["type"], group, exc
            )

    transaction.on_commit(send, robust=True)  # a channel layer that fails loses live events, not writes


def meeting_send(meeting, event: str, data: dict) -> None:
    _send(meeting_group(meeting.external_id), {"type": "meeting.event", "event": event, "data": data})


def queue_changed() -> None:
    _send(QUEUE_GROUP, {"type": "queue.changed"})


def urgent_send(request, event: str, data: dict) -> None:
    _send(urgent_group(request.external_id), {"type": "urgent.event", "event": event, "data": data})


def conversation_send(conversation, event: str, data: dict) -> None:
    _send(
        conversation_group(conversation.external_id),
        {"type": "conversation.event", "event": event, "data": data},
    )


def message_data(message) -> dict:
    """A message as clients see it (the same shape over the API and the WebSocket)."""
    return {
        "id": str(message.external_id),
        "conversation_id": str(message.conversation.external_id),
        "side": message.side,
        "sender": {"id": str(message.sender.external_id), "name": message.sender.full_name},
        "body": message.body,
        "attachment": (
            {
                "name": message.attachment_name,
                "content_type": message.attachment_type,
                "size": message.attachment_size,
            }
            if message.attachment_name
            else None
        ),
        "client_id": message.client_id,
        "created_at": timezones.isoformat_z(message.created_at),
    }
