"""The API side of idempotency keys: read the header, fingerprint the request, answer once (API.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from .actions import fingerprint_of, idempotent_call

HEADER = "Idempotency-Key"


def once(request: HttpRequest, run: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """``run()`` returns (status, JSON body); a repeat of this request with the same key gets the same pair."""
    key = request.headers.get(HEADER, "").strip() or None
    body = request.body if request.method in {"POST", "PUT", "PATCH"} else b""
    return idempotent_call(
        user=request.user,
        key=key,
        fingerprint=fingerprint_of(request.method, request.path, body),
        run=run,
    )
