"""ASGI entry point: HTTP (Django), WebSocket (Channels) and the lifespan that runs the job worker in-process
(and the MQTT ingestion of devices' messages when ``MQTT_URL`` is set)."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shifa.settings.embedded")

from django.core.asgi import get_asgi_application

django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from shifa.accounts.channels_auth import BearerTokenAuthMiddleware  # noqa: E402
from shifa.adherence import mqtt  # noqa: E402
from shifa.core import jobs, tracing  # noqa: E402
from shifa.core.asgi_limits import BodyLimit  # noqa: E402
from shifa.routing import websocket_urlpatterns  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": BodyLimit(django_asgi, settings.SHIFA_MAX_BODY_BYTES),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(BearerTokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)


async def application(scope, receive, send):
    if scope["type"] != "lifespan":
        return await router(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                if settings.SHIFA_RUN_WORKER:
                    await jobs.start_in_process_worker()
                if settings.MQTT_URL:
                    await mqtt.start_in_process(settings.MQTT_URL)
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            # What is loaded by now lives as long as the process: keep it out of the garbage collector's full
            # passes, whose pauses would otherwise stall every connection (thousands of WebSockets).
            gc.collect()
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await mqtt.stop_in_process()
            await jobs.stop_in_process_worker()
            # The last requests' and jobs' spans leave before the process does (exit flushes again, if it can).
            tracing.flush()
            await send({"type": "lifespan.shutdown.complete"})
            return
