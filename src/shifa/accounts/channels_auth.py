"""WebSocket authentication like the API's: a bearer token in the handshake's Authorization header (native apps),
else the session cookie (our pages)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import connections

from .actions import access_token_authenticate


def _authenticate(token: str):
    try:
        return access_token_authenticate(token)
    finally:
        connections.close_all()


class BearerTokenAuthMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
        if header is not None:
            scheme, _, token = header.decode("latin-1").partition(" ")
            found = (
                await database_sync_to_async(_authenticate, thread_sensitive=False)(token.strip())
                if scheme.lower() == "bearer"
                else None
            )
            user, claims = found if found is not None else (AnonymousUser(), None)
            scope = {**scope, "user": user, "shifa_mfa": bool(claims and claims.mfa)}
        return await self.inner(scope, receive, send)
