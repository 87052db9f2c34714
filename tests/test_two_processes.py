"""Shifa beyond one process (issue 14): two `shifa run` processes on one machine share the database and Redis (the
channel layer). A chat message sent through process A reaches a WebSocket connected to process B, and the job the
message deferred (the care team's unread notice, half a minute later) runs exactly once, on one of the two
processes' workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from tests.support.redis_server import RedisServer
from tests.test_run_command import _free_port, _get, _start, _stop, _wait_healthy

pytestmark = pytest.mark.heavy(110)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "shifa-demo-2026"


@pytest.fixture
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("shifa-two")
    yield path
    pid_file = path / "postgres" / "postmaster.pid"
    if pid_file.exists():
        import signal

        os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)


def _query(data_dir, code: str):
    """Run ``code`` (which prints one JSON value) in a Django shell on the processes' database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL"}
    }
    env["SHIFA_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "shifa", "manage", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _hear_message(port: int, conversation: str, token: str, send) -> dict:
    import websockets

    url = f"ws://127.0.0.1:{port}/ws/me/conversations/{conversation}"
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(
        url, additional_headers=headers, origin=f"http://127.0.0.1:{port}"
    ) as socket:
        hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert hello["type"] == "connected", hello
        sent = await asyncio.to_thread(send)
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if event["type"] == "message.created":
                return sent, event


def test_a_message_through_one_process_reaches_a_socket_on_the_other_and_its_job_runs_once(data_dir):
    redis_server = RedisServer().start()
    processes = []
    try:
        env = {"REDIS_URL": redis_server.url, "SHIFA_DEMO": "1"}
        port_a, port_b = _free_port(), _free_port()
        processes.append(_start(data_dir, port_a, env=env))
        _wait_healthy(processes[0], f"http://127.0.0.1:{port_a}", timeout=240)
        processes.append(_start(data_dir, port_b, env=env))
        health = _wait_healthy(processes[1], f"http://127.0.0.1:{port_b}", timeout=240)
        assert health["checks"]["redis"] == "ok" and health["checks"]["worker"] == "ok"

        a, b = f"http://127.0.0.1:{port_a}/api/v1", f"http://127.0.0.1:{port_b}/api/v1"
        status, tokens = _get(
            f"{a}/auth/tokens", data={"email": "patient1@demo.shifa.jo", "password": PASSWORD}
        )
        assert status == 201, tokens
        token = tokens["access_token"]
        status, page = _get(f"{b}/me/conversations", token=token)
        assert status == 200 and page["items"], page
        conversation = page["items"][0]["id"]

        def send_through_a():
            status, message = _get(
                f"{a}/me/conversations/{conversation}/messages", token=token, data={"body": "Through A"}
            )
            assert status == 201, message
            return message

        sent, heard = asyncio.run(_hear_message(port_b, conversation, token, send_through_a))
        assert heard["data"]["id"] == sent["id"] and heard["data"]["body"] == "Through A"

        # The unread notice this message deferred runs half a minute later, once, on one worker.
        code = (
            "import json; from procrastinate.contrib.django.models import ProcrastinateJob as J, "
            "ProcrastinateEvent as E; from shifa.telehealth.models import Message as M; "
            f"m = M.unscoped.get(external_id='{sent['id']}'); "
            "jobs = list(J.objects.filter(task_name='telehealth.notify_unread', args__message_id=m.pk)); "
            "print(json.dumps([{'status': j.status, 'worker': j.worker_id, "
            "'started': E.objects.filter(job_id=j.id, type='started').count()} for j in jobs]))"
        )
        deadline = time.monotonic() + 90
        while True:
            jobs = _query(data_dir, code)
            if (jobs and jobs[0]["status"] not in {"todo", "doing"}) or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert len(jobs) == 1, jobs
        assert jobs[0]["status"] == "succeeded" and jobs[0]["started"] == 1, jobs
    finally:
        for process in processes:
            _stop(process)
        redis_server.stop()
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"
