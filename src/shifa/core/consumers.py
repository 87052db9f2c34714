"""WebSocket consumers share one base: the same ``authorize`` as pages and the API runs in ``connect()``."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import connections

from shifa.access.policies import Actor, authorize
from shifa.core.cache import UNREACHABLE
from shifa.core.errors import Problem

logger = logging.getLogger(__name__)
#: The close code of a connection whose live updates cannot work now (the channel layer is unreachable); pages
#: then catch up by polling and connect again later.
LIVE_UNAVAILABLE = 4503


def _authorize_in_thread(scope, user, method: str, path: str, params: dict) -> Actor:
    """Authorize from a pool thread (handshakes do not queue behind one another on Django's one synchronous
    thread) and hand its database connection back (a WebSocket lives long)."""
    try:
        return authorize(user, method, path, params, mfa=_second_factor_passed(scope))
    finally:
        connections.close_all()


def _second_factor_passed(scope) -> bool:
    """From the bearer token's claims (native apps) or the session (our pages)."""
    if "shifa_mfa" in scope:
        return bool(scope["shifa_mfa"])
    from shifa.accounts.queries import session_passed_second_factor

    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return session_passed_second_factor(scope.get("session"), user)


class ClosesWhenLayerIsDown:
    """A consumer whose connection is closed with LIVE_UNAVAILABLE, not failed with a traceback, when the channel
    layer (Redis) cannot be reached: as it connects, or later."""

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except UNREACHABLE as exc:
            logger.warning("WebSocket %s closed: channel layer unreachable (%s)", scope.get("path", ""), exc)
            await send({"type": "websocket.close", "code": LIVE_UNAVAILABLE})


class ShifaConsumer(ClosesWhenLayerIsDown, AsyncJsonWebsocketConsumer):
    """Subclasses set ``permission`` (for api_resources) and get ``self.actor`` once connected.

    ``route_key`` is the route's path key, passed by ``shifa.routing.ws_path``.
    """

    permission: str | None = None
    route_key: str = ""
    actor: Actor | None = None

    def __init__(self, *args, route_key: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.route_key = route_key

    async def connect(self) -> None:
        user = self.scope.get("user")
        user = user if user is not None and getattr(user, "is_authenticated", False) else None
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        try:
            self.actor = await database_sync_to_async(_authorize_in_thread, thread_sensitive=False)(
                self.scope, user, "WS", self.route_key, kwargs
            )
        except Problem as problem:
            await self.close(code=4000 + problem.status)
            return
        await self.accept()
        await self.joined()

    async def joined(self) -> None:
        """Called after a successful connect."""

    def audit_metadata(self) -> dict:
        """Who writes through this connection, for the audit trail of the actions it calls."""
        actor = self.actor
        return {
            "actor_id": actor.user.pk if actor and actor.user else None,
            "clinic_id": actor.clinic.pk if actor and actor.clinic else None,
            "source": "websocket",
        }

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "data": {"code": "unknown_message"}})
            return
        await self.send_json({"type": "pong", "data": {}})
