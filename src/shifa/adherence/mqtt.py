"""The MQTT ingestion service (CP-5): devices publish to ``devices/<device id>/readings`` or ``.../doses`` a JSON
object carrying their ``secret``; each message is filed by ``actions.device_message`` (the same as over HTTPS) and
answered on ``devices/<device id>/replies`` with what was filed or why it was refused.

It runs inside ``shifa run`` when ``MQTT_URL`` is set (``mqtt://user:password@host:1883``, ``mqtts://`` for TLS),
or on its own with ``shifa manage ingest_mqtt``. It reconnects after the broker goes away, and since the
subscription is QoS 1 a message the broker redelivers is filed once (``message_id``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import ssl
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

TOPICS = ("devices/+/readings", "devices/+/doses")
RECONNECT_SECONDS = (1, 2, 5, 10, 30)


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def broker_of(url: str) -> Broker:
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
        raise ValueError(f"MQTT_URL must look like mqtt://host:1883, not {url!r}")
    tls = parts.scheme in {"mqtts", "ssl"}
    return Broker(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def handle(topic: str, body: bytes) -> tuple[str | None, dict]:
    """File one message (synchronously, with the database): returns (device id to answer, answer)."""
    from django.db import close_old_connections

    from shifa.core.errors import Problem

    from . import actions

    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "devices" or parts[2] not in {"readings", "doses"}:
        return None, {}
    try:
        device_id = str(uuid.UUID(parts[1]))
    except ValueError:
        return None, {}
    close_old_connections()
    try:
        try:
            payload = actions.device_payload(body)
        except Problem as problem:
            return device_id, _refused(problem)
        secret = payload.pop("secret", "")
        device = actions.device_authenticate(device_id, secret if isinstance(secret, str) else "")
        if device is None:
            # Not this device (or not any more): answer nothing, so that a stranger learns nothing.
            logger.warning("mqtt message refused: device not recognised", extra={"device": device_id})
            return None, {}
        try:
            filed = actions.device_message(device=device, channel=parts[2], payload=payload)
        except Problem as problem:
            return device_id, _refused(problem, payload.get("message_id"))
        return device_id, {"status": "filed", "message_id": payload.get("message_id"), **filed}
    finally:
        close_old_connections()


def _refused(problem, message_id=None) -> dict:
    return {
        "status": "refused",
        "message_id": message_id,
        "code": problem.code,
        "detail": str(problem.detail),
        "errors": [e.as_dict() for e in getattr(problem, "errors", [])],
    }


async def serve(url: str, *, ready: asyncio.Event | None = None) -> None:
    """Subscribe and file messages until cancelled, reconnecting whenever the connection drops."""
    broker = broker_of(url)
    # One thread files the messages, in order, over one database connection (closed when the service stops).
    filing = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mqtt-filing")
    loop = asyncio.get_running_loop()
    try:
        await _serve(broker, ready, lambda topic, body: loop.run_in_executor(filing, handle, topic, body))
    finally:
        await loop.run_in_executor(filing, _close_connections)
        filing.shutdown(wait=False)


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


async def _serve(broker: Broker, ready, file) -> None:
    import aiomqtt

    attempt = 0
    while True:
        try:
            async with aiomqtt.Client(
                hostname=broker.host,
                port=broker.port,
                username=broker.username,
                password=broker.password,
                identifier=f"shifa-ingest-{uuid.uuid4().hex[:12]}",
                tls_context=ssl.create_default_context() if broker.tls else None,
            ) as client:
                for topic in TOPICS:
                    await client.subscribe(topic, qos=1)
                attempt = 0
                logger.info("mqtt ingestion subscribed", extra={"host": broker.host, "port": broker.port})
                if ready is not None:
                    ready.set()
                async for message in client.messages:
                    try:
                        device_id, answer = await file(str(message.topic), bytes(message.payload))
                    except Exception:
                        # one message that cannot be filed (the database away, a bug) must not stop the others;
                        # the device gets no answer and sends it again
                        logger.exception("mqtt message not filed", extra={"topic": str(message.topic)})
                        continue
                    if device_id is not None and answer:
                        await client.publish(f"devices/{device_id}/replies", json.dumps(answer), qos=1)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker went away (MqttError), or anything else: connect again
            delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
            attempt += 1
            logger.warning(
                "mqtt connection lost; retrying",
                extra={"error": repr(exc), "retry_in_s": delay},
                exc_info=not isinstance(exc, aiomqtt.MqttError),
            )
            await asyncio.sleep(delay)


_task: asyncio.Task | None = None


async def start_in_process(url: str) -> None:
    """Start the service as a task of the running event loop (``shifa run``); the web server does not wait for
    the broker: it connects, and reconnects, in the background."""
    global _task
    if _task is None:
        _task = asyncio.get_running_loop().create_task(serve(url), name="mqtt-ingestion")


async def stop_in_process() -> None:
    global _task
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _task
        _task = None
