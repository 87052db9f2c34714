"""Web Push (RFC 8030) with VAPID (RFC 8292) and encrypted payloads (RFC 8291), through pywebpush.

The VAPID key pair is generated into the data folder on first use (``VAPID_PRIVATE_KEY`` overrides it); browsers
subscribe with the public key. ``send_push`` raises ``PushError`` saying whether a retry may help and whether the
subscription is gone (404/410: the browser unsubscribed) so the caller can forget it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import serialization
from django.conf import settings

logger = logging.getLogger(__name__)


class PushError(Exception):
    def __init__(self, message: str, *, retryable: bool, gone: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.gone = gone


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str


@cache
def _vapid(pem: str):
    from py_vapid import Vapid02

    return Vapid02.from_pem(pem.encode())


def vapid():
    return _vapid(settings.VAPID_PRIVATE_KEY)


def public_key() -> str:
    """The application server key for ``PushManager.subscribe`` (uncompressed P-256 point, base64url)."""
    raw = vapid().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def topic_for(key: str) -> str:
    """A Topic header (at most 32 URL-safe characters): a push service keeps only the newest undelivered
    message of a topic, so a retried send replaces rather than repeats."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()[:24]).decode()


def send_push(
    subscription: Subscription, payload: dict, *, key: str, urgent: bool = False, ttl: int = 24 * 3600
) -> str:
    """Encrypt ``payload`` for the subscription and hand it to its push service; returns the service's
    message location when it gives one."""
    from pywebpush import WebPushException, webpush

    info = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    try:
        response = webpush(
            info,
            data=json.dumps(payload, ensure_ascii=False),
            vapid_private_key=vapid(),
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            ttl=ttl,
            timeout=10,
            headers={"Topic": topic_for(key), "Urgency": "high" if urgent else "normal"},
        )
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        gone = status in {404, 410}
        retryable = status is None or status == 429 or status >= 500
        raise PushError(f"push refused ({status})", retryable=retryable and not gone, gone=gone) from exc
    except Exception as exc:  # network errors from requests
        raise PushError(f"push service unreachable: {type(exc).__name__}", retryable=True) from exc
    return response.headers.get("Location", "") if hasattr(response, "headers") else ""
