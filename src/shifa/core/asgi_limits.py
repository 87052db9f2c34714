"""ASGI-level limits, applied before Django buffers a request body (Django's ASGI handler reads the whole body
into a temporary file before any middleware runs)."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from django.utils.translation import gettext as _
from django.utils.translation import override


class _BodyTooLarge(Exception):
    pass


def body_limit_for(path: str, default: int) -> int:
    """The largest body ``path`` accepts: the default, or more for the few routes that take uploads (a key is a
    path prefix, or a pattern where ``*`` stands for an id)."""
    from django.conf import settings

    for prefix, limit in getattr(settings, "SHIFA_UPLOAD_LIMITS", {}).items():
        if "*" in prefix:
            if fnmatchcase(path, prefix):
                return limit
        elif path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return limit
    return default


class BodyLimit:
    """Answers 413 as soon as a request body is declared or found to be larger than ``limit`` bytes, and 400 for
    a malformed Content-Length. Counts the bytes as they arrive, so a body without a length is capped too."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.default_limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit_for(scope.get("path", ""), self.default_limit)
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                declared = value
        if declared is not None:
            try:
                size = int(declared)
                if size < 0:
                    raise ValueError
            except ValueError:
                return await self._refuse(scope, send, 400)
            if size > limit:
                return await self._refuse(scope, send, 413)

        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, send, 413)

    async def _refuse(self, scope, send, status: int) -> None:
        language = "ar" if _accepts_arabic(scope) else "en"
        with override(language):
            if status == 413:
                code, detail = "payload_too_large", _("The request body is too large.")
            else:
                code, detail = "bad_request", _("The Content-Length header is not valid.")
        body = json.dumps(
            {
                "type": f"/problems/{code}",
                "title": code,
                "status": status,
                "detail": detail,
                "code": code,
                "errors": [],
            },
            ensure_ascii=False,
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _accepts_arabic(scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            return value.strip().lower().startswith(b"ar")
    return False
