"""The simulator's Pub/Sub: pushes a real-time developer notification to our endpoint, as Pub/Sub push does
(``{"message": {"data": base64 JSON, "messageId": …}, "subscription": …}``), authenticated with the shared
``?token=``."""

from __future__ import annotations

import base64
import json
import secrets
import time

import httpx
from django.conf import settings

from shifa.subscriptions import config

from .models import SimPurchase

#: A test hook: an ``httpx`` transport that carries the pushes (the tests route them in-process).
transport: httpx.BaseTransport | None = None
SUBSCRIPTION = "projects/shifa-simulator/subscriptions/play-rtdn-push"


def endpoint() -> str:
    return (
        settings.SHIFA_PUBLIC_URL
        + "/api/v1/subscriptions/google-play/notifications?token="
        + config.push_token()
    )


def envelope(purchase: SimPurchase, notification_type: int, message_id: str | None = None) -> dict:
    data = {
        "version": "1.0",
        "packageName": purchase.package_name,
        "eventTimeMillis": str(int(time.time() * 1000)),
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": notification_type,
            "purchaseToken": purchase.purchase_token,
            "subscriptionId": purchase.product_id,
        },
    }
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "messageId": message_id or str(secrets.randbelow(10**16)),
            "publishTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "attributes": {},
        },
        "subscription": SUBSCRIPTION,
    }


def push(purchase: SimPurchase, notification_type: int, *, message_id: str | None = None) -> tuple[int, str]:
    """Deliver one notification; returns our endpoint's HTTP status and the message id (Pub/Sub would retry a
    non-2xx answer)."""
    body = envelope(purchase, notification_type, message_id)
    try:
        with httpx.Client(transport=transport, timeout=15) as http:
            response = http.post(endpoint(), json=body)
    except httpx.HTTPError:
        return 0, body["message"]["messageId"]
    return response.status_code, body["message"]["messageId"]
