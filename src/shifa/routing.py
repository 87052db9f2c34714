"""WebSocket routes. Each consumer declares its permission; ``ws_path`` hands it the route key."""

from django.urls import path

from shifa.access.registry import path_key
from shifa.notifications.consumers import NotificationsConsumer
from shifa.telehealth.consumers import (
    ClinicConversationConsumer,
    MyConversationConsumer,
    MyUrgentRequestConsumer,
    SignalingConsumer,
    UrgentQueueConsumer,
)
from shifa.tenancy.consumers import ClinicEventsConsumer


def ws_path(route: str, consumer, name: str):
    return path(route, consumer.as_asgi(route_key=path_key(route)), name=name)


websocket_urlpatterns = [
    ws_path("ws/clinics/<uuid:clinic_id>/events", ClinicEventsConsumer, "clinic_events"),
    ws_path("ws/notifications", NotificationsConsumer, "notifications"),
    ws_path("ws/meetings/<uuid:meeting_id>/signal", SignalingConsumer, "meeting_signal"),
    ws_path("ws/me/conversations/<uuid:conversation_id>", MyConversationConsumer, "my_conversation"),
    ws_path(
        "ws/clinics/<uuid:clinic_id>/conversations/<uuid:conversation_id>",
        ClinicConversationConsumer,
        "clinic_conversation",
    ),
    ws_path("ws/clinics/<uuid:clinic_id>/urgent-queue", UrgentQueueConsumer, "urgent_queue"),
    ws_path("ws/me/urgent-requests/<uuid:request_id>", MyUrgentRequestConsumer, "my_urgent_request"),
]
