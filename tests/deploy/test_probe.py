"""The liveness probe of the processes without HTTP (deploy/container/probe.py), against a real PostgreSQL and a
real TCP connection: it must fail, not only pass."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from django.db import connection
from psycopg.conninfo import make_conninfo

from .support import DEPLOY

PROBE = DEPLOY / "container" / "probe.py"


def _probe(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROBE), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def conninfo(db):
    params = connection.get_connection_params()
    return make_conninfo(**{k: params[k] for k in ("dbname", "user", "host", "port") if params.get(k)})


def test_worker_probe_sees_its_own_connections_speak_and_fall_silent(conninfo):
    name = f"shifa-worker-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo, application_name=name, autocommit=True) as worker:
        worker.execute("SELECT 1")
        alive = _probe("worker", DATABASE_URL=conninfo, PGAPPNAME=name)
        assert alive.returncode == 0, alive.stderr
        time.sleep(2.5)
        silent = _probe("worker", "--within", "1", DATABASE_URL=conninfo, PGAPPNAME=name)
        assert silent.returncode == 1 and "silent" in silent.stderr
    gone = _probe("worker", DATABASE_URL=conninfo, PGAPPNAME=name)
    assert gone.returncode == 1 and "no connection" in gone.stderr
    unset = _probe("worker", DATABASE_URL=conninfo, PGAPPNAME="")
    assert unset.returncode == 1


def test_mqtt_probe_needs_an_established_connection_to_the_broker_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        url = f"mqtt://shifa:secret@127.0.0.1:{port}"
        assert _probe("mqtt", MQTT_URL=url).returncode == 1  # listening is not connected
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = server.accept()
            with accepted:
                connected = _probe("mqtt", MQTT_URL=url)
                assert connected.returncode == 0, connected.stderr
    assert _probe("mqtt", MQTT_URL="").returncode == 1
