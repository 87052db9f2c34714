"""The API side of idempotency keys: read the header, fingerprint the request, answer once (API.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.request import RawPostDataException

from .actions import fingerprint_of, idempotent_call

HEADER = "Idempotency-Key"


def once(request: HttpRequest, run: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """``run()`` returns (status, JSON body); a repeat of this request with the same key gets the same pair."""
    key = request.headers.get(HEADER, "").strip() or None
    body = _body_of(request) if key and request.method in {"POST", "PUT", "PATCH"} else b""
    return idempotent_call(
        user=request.user,
        key=key,
        fingerprint=fingerprint_of(request.method, request.path, body),
        run=run,
    )


def _body_of(request: HttpRequest) -> bytes:
    """The raw body; for a multipart upload already parsed, its fields and the SHA-256 of each file instead."""
    try:
        return request.body
    except RawPostDataException:
        import hashlib

        parts = [f"{k}={v}".encode() for k, v in sorted(request.POST.items())]
        for name, upload in sorted(request.FILES.items()):
            upload.seek(0)
            digest = hashlib.sha256(upload.read()).hexdigest()
            upload.seek(0)
            parts.append(f"{name}:{upload.size}:{digest}".encode())
        return b"\n".join(parts)
