"""Redis away (issue 13): the product degrades rather than fails, and comes back by itself.

Redis carries two things: the cache (rate-limit counters) and the channel layer (live events over WebSockets).
While it is away searches and sign-ins carry on, counted in the process's memory; messages are written and the
pages catch up by polling; WebSockets close with 4503 instead of failing; /healthz stays up and says Redis is
down. When Redis is back, live events flow again without a restart. A private ``redis-server`` is killed and
started again on the same port for each test.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client

from shifa.accounts import lockout
from shifa.asgi import router
from shifa.core import cache as shifa_cache
from shifa.core.consumers import LIVE_UNAVAILABLE
from shifa.telehealth.models import Message
from tests.conftest import ApiClient, sign_in_page
from tests.support.redis_server import RedisServer
from tests.telehealth.test_conversation_ws import _conversation, _in_thread, _joined, _paths, _until

pytestmark = pytest.mark.django_db(transaction=True)


def redis_settings(url: str) -> tuple[dict, dict]:
    """CACHES and CHANNEL_LAYERS as production sets them for REDIS_URL (shifa.settings.base)."""
    caches = {
        "default": {
            "BACKEND": "shifa.core.cache.ResilientRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": None, "socket_connect_timeout": 1}]},
        }
    }
    return caches, layers


@pytest.fixture
def redis_server(settings, monkeypatch):
    server = RedisServer().start()
    settings.CACHES, settings.CHANNEL_LAYERS = redis_settings(server.url)
    monkeypatch.setattr(shifa_cache, "RETRY_AFTER_SECONDS", 0.2)
    yield server
    server.stop()


def rate_keys(server: RedisServer) -> list[bytes]:
    return server.client().keys("*shifa:rate:*")


def test_searches_and_their_limits_carry_on_in_memory_while_redis_is_away(redis_server, monkeypatch, caplog):
    monkeypatch.setattr(lockout, "SEARCHES_FROM_ADDRESS", lockout.Window(limit=3, seconds=60))
    search = "/api/v1/search/doctors"
    assert Client(REMOTE_ADDR="10.9.0.1").get(search).status_code == 200
    assert rate_keys(redis_server), "the counter lives in Redis while it is there"

    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="shifa.core.cache")
    started = time.monotonic()
    away = Client(REMOTE_ADDR="10.9.0.2")
    assert [away.get(search).status_code for _ in range(4)] == [200, 200, 200, 429]  # still limited
    assert time.monotonic() - started < 5
    warnings = [r for r in caplog.records if "Redis cache unreachable" in r.getMessage()]
    assert len(warnings) == 1  # said once, not once per call

    redis_server.start()
    time.sleep(0.3)  # past RETRY_AFTER_SECONDS
    assert not rate_keys(redis_server)  # a new, empty Redis
    assert Client(REMOTE_ADDR="10.9.0.3").get(search).status_code == 200
    assert rate_keys(redis_server), "counting went back to Redis by itself"


def test_a_redis_that_does_not_answer_costs_one_timeout_not_one_per_call(settings, monkeypatch):
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the kernel; nothing ever answers
    try:
        settings.CACHES, _layers = redis_settings(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        monkeypatch.setattr(shifa_cache, "RETRY_AFTER_SECONDS", 30)
        started = time.monotonic()
        assert cache.get("anything", "default") == "default"
        first = time.monotonic() - started
        assert 0.3 < first < 3, first  # the socket timeout, then memory
        started = time.monotonic()
        for n in range(50):
            cache.set(f"k{n}", n)
            assert cache.get(f"k{n}") == n
        assert time.monotonic() - started < 0.5  # from memory, without asking Redis again
        assert Client().get("/healthz").json()["checks"]["redis"] == "down"
    finally:
        silent.close()


def test_messages_go_through_and_pages_catch_up_while_redis_is_away_then_live_again(cast, redis_server):
    conversation = _conversation(cast)
    _mine, team = _paths(cast, conversation)
    patient_api = ApiClient(cast.patient_user)
    nurse = cast.staff_a["nurse"]
    messages_url = f"/api/v1/me/conversations/{conversation['id']}/messages"

    def send(body: str, expect: int = 201, **extra):
        started = time.monotonic()
        response = patient_api.post(messages_url, {"body": body, **extra})
        assert response.status_code == expect, response.content
        assert time.monotonic() - started < 3
        return response.json()

    async def live_then_away():
        care_team = await _joined(team, nurse)
        first = await _in_thread(send, "Before the outage")
        heard = await _until(care_team, "message.created")
        assert heard["data"]["id"] == first["id"]
        await _in_thread(redis_server.stop)
        # the open connection is closed with 4503, and a new one too: the page polls instead
        closed = await care_team.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": LIVE_UNAVAILABLE}
        again = WebsocketCommunicator(router, team, headers=[(b"origin", b"http://127.0.0.1")])
        again.scope["user"], again.scope["shifa_mfa"] = nurse, True
        connected, code = await again.connect(timeout=10)
        if connected:
            code = (await again.receive_output(timeout=10))["code"]
        assert code == LIVE_UNAVAILABLE
        return first

    first = asyncio.run(live_then_away())

    # Messages are written while Redis is away, once each, even when sent twice.
    during = send("During the outage", client_id="outage-1")
    assert send("During the outage", expect=200, client_id="outage-1")["id"] == during["id"]
    patient_page = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.patient_user, mfa=False)
    page_url = f"/app/messages/{conversation['id']}"
    for _ in range(2):  # a double press of the form
        posted = patient_page.post(page_url, {"body": "From the page", "client_id": "outage-2"})
        assert posted.status_code == 302
    # The care team's page catches up without a live connection.
    team_page = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), nurse)
    team_url = f"/clinic/{cast.clinic_a.external_id}/messages/{conversation['id']}"
    caught_up = team_page.get(f"{team_url}?after={first['id']}", HTTP_HX_REQUEST="true").content.decode()
    assert "During the outage" in caught_up and "From the page" in caught_up
    health = Client().get("/healthz")
    assert health.status_code == 200 and health.json()["checks"]["redis"] == "down"

    redis_server.start()

    async def live_again():
        care_team = await _joined(team, nurse)
        after = await _in_thread(send, "After the outage")
        assert (await _until(care_team, "message.created"))["data"]["id"] == after["id"]
        await care_team.disconnect()

    asyncio.run(live_again())
    assert Client().get("/healthz").json()["checks"]["redis"] == "ok"
    bodies = list(Message.unscoped.order_by("pk").values_list("body", flat=True))
    assert bodies == ["Before the outage", "During the outage", "From the page", "After the outage"]
