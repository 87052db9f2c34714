"""The whole ASGI application — pages, API and WebSockets — served by uvicorn on a free loopback port, in a thread
of the test process and against the test database. Django's ``live_server`` speaks WSGI only: no WebSockets.

Use the ``live_asgi`` fixture (it needs a transactional database: the server's threads do not see a test's
transaction)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from channels.layers import get_channel_layer


class LiveAsgiServer:
    def __init__(self) -> None:
        from shifa.asgi import router

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            router,
            lifespan="off",
            log_level="warning",
            access_log=False,
            loop="asyncio",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="live-asgi", daemon=True
        )

    def start(self) -> LiveAsgiServer:
        # Nothing left over from other tests' connections (flushed from a thread of its own: the caller's thread may
        # run an event loop, Playwright's).
        flush = threading.Thread(target=lambda: asyncio.run(get_channel_layer().flush()))
        flush.start()
        flush.join()
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the ASGI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.socket.close()


@pytest.fixture
def live_asgi(transactional_db):
    server = LiveAsgiServer().start()
    yield server
    server.stop()
