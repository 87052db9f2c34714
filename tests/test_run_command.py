"""`make run`'s command on a machine with no PostgreSQL configured: embedded server, healthz, OpenAPI, clean stop,
and a second start that reuses the data."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyotp
import pytest
from openapi_spec_validator import validate

from shifa.demo.constants import DEMO_TOTP_SECRET

pytestmark = pytest.mark.heavy(300)

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, *, token: str | None = None, data: dict | None = None):
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data else None)
    if data:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        # Generous: this checks what is served, not how fast (the server shares two busy cores with the suite, and
        # at start its worker sends the demo's records to the local Hakeem); speed is in benchmarks/.
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def _start(data_dir: Path, port: int, *, via_make: bool = False, env: dict | None = None) -> subprocess.Popen:
    """Start Shifa as `make run` would (its own process group, like a terminal), or its command directly."""
    extra = env or {}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "MAKEFLAGS", "REDIS_URL"}
    }
    env.update({"SHIFA_DATA_DIR": str(data_dir), "PORT": str(port), "LOG_LEVEL": "WARNING", **extra})
    command = ["make", "--no-print-directory", "run"] if via_make else [sys.executable, "-m", "shifa", "run"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_healthy(process: subprocess.Popen, base: str, timeout: float = 300) -> dict:
    """The health report once Shifa serves. A first start creates the database and migrates it, which takes two
    minutes on two cores that the rest of the suite keeps busy: the limit is there to catch a hang, not to time it
    (benchmarks/ does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode()[-3000:])
        try:
            status, body = _get(f"{base}/healthz")
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("Shifa did not become healthy")


def _stop(process: subprocess.Popen) -> int:
    """Ctrl-C: SIGINT to the whole process group, as a terminal sends it."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


@pytest.fixture
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("shifa-data")
    yield path
    pid_file = path / "postgres" / "postmaster.pid"
    if pid_file.exists():  # never leave a server behind, even when the test fails
        pid = int(pid_file.read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def test_make_run_serves_health_and_openapi_and_reuses_data(data_dir):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port, via_make=True)
    try:
        health = _wait_healthy(process, base)
        assert health["checks"] == {"database": "ok", "job_queue": "ok", "worker": "ok", "redis": "not_used"}
        status, document = _get(f"{base}/api/v1/openapi.json")
        assert status == 200
        validate(document)
        status, signed_in = _get(
            f"{base}/api/v1/auth/tokens",
            data={"email": "doctor@demo.shifa.jo", "password": "shifa-demo-2026"},
        )
        assert status == 202  # demo staff use the published authenticator secret
        status, tokens = _get(
            f"{base}/api/v1/auth/tokens/mfa",
            data={"mfa_token": signed_in["mfa_token"], "code": pyotp.TOTP(DEMO_TOTP_SECRET).now()},
        )
        assert status == 201
        assert _get(f"{base}/api/v1/me", token=tokens["access_token"])[0] == 200
    finally:
        _stop(process)  # make reports the interrupt itself; what matters is what Shifa did
    assert "Shifa stopped." in process.stdout.read().decode()
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"
    secret = (data_dir / "secrets" / "secret_key").read_text()

    again = _start(data_dir, port, via_make=True)
    try:
        _wait_healthy(again, base)
        # The sign-in of the first run still works: its refresh token buys a new pair.
        status, renewed = _get(
            f"{base}/api/v1/auth/tokens/refresh", data={"refresh_token": tokens["refresh_token"]}
        )
        assert status == 200
        status, me = _get(f"{base}/api/v1/me", token=renewed["access_token"])
        assert status == 200 and me["user"]["email"] == "doctor@demo.shifa.jo"
    finally:
        _stop(again)
    assert "Shifa stopped." in again.stdout.read().decode()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert (data_dir / "secrets" / "secret_key").read_text() == secret
    assert oct((data_dir / "secrets" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_a_busy_port_fails_at_once_with_a_clear_message(data_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _start(data_dir, port)
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    output = process.stdout.read().decode()
    assert code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in output


def test_recovers_after_crashes_and_still_stops_postgres(data_dir):
    import psutil

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    pid_file = data_dir / "postgres" / "postmaster.pid"

    # 1. The web process dies hard; PostgreSQL outlives it. The next run attaches, and Ctrl-C still stops it.
    first = _start(data_dir, port)
    _wait_healthy(first, base)
    first.kill()
    first.wait(timeout=30)
    assert pid_file.exists()
    second = _start(data_dir, port)
    try:
        _wait_healthy(second, base)
    finally:
        assert _stop(second) == 0
    assert not pid_file.exists(), "a dead process's handle kept PostgreSQL running"

    # 2. Everything dies hard, and the pid in postmaster.pid now belongs to another program.
    third = _start(data_dir, port)
    _wait_healthy(third, base)
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    third.kill()
    third.wait(timeout=30)
    for process in [*postmaster.children(recursive=True), postmaster]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs([postmaster], timeout=30)
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    fourth = _start(data_dir, port)
    try:
        _wait_healthy(fourth, base)
    finally:
        assert _stop(fourth) == 0
    assert not pid_file.exists(), fourth.stdout.read().decode()[-3000:]


def test_several_web_processes_need_redis_and_then_serve_together(data_dir):
    import psutil

    from tests.support.redis_server import RedisServer

    port = _free_port()
    alone = _start(data_dir, port, env={"SHIFA_WEB_PROCESSES": "2", "SHIFA_DEMO": "0"})
    assert alone.wait(timeout=120) == 2
    assert "SHIFA_WEB_PROCESSES above 1 needs REDIS_URL" in alone.stdout.read().decode()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()

    redis_server = RedisServer().start()
    try:
        env = {
            "SHIFA_WEB_PROCESSES": "2",
            "SHIFA_DEMO": "0",
            "REDIS_URL": redis_server.url,
            "SHIFA_METRICS_TOKEN": "scrape",
        }
        served = _start(data_dir, port, env=env)
        try:
            health = _wait_healthy(served, f"http://127.0.0.1:{port}")
            assert health["checks"]["redis"] == "ok" and health["checks"]["worker"] == "ok"
            for _ in range(19):  # each on a new connection: the two processes share them
                _get(f"http://127.0.0.1:{port}/healthz")
            scraped = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
            scraped.add_header("Authorization", "Bearer scrape")
            with urllib.request.urlopen(scraped, timeout=30) as response:
                text = response.read().decode()
            healthz = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith('shifa_http_requests_total{method="GET",route="healthz",status="200"}')
            ]
            assert healthz and healthz[0] >= 20, text[:2000]  # every process's answers, counted together
            web = [
                child
                for child in psutil.Process(served.pid).children(recursive=True)
                if "multiprocessing.spawn" in " ".join(child.cmdline())
                and "spawn_main" in " ".join(child.cmdline())
            ]
            assert len(web) == 2, [c.cmdline() for c in web]
        finally:
            assert _stop(served) == 0
        assert "Shifa stopped." in served.stdout.read().decode()
        assert not (data_dir / "postgres" / "postmaster.pid").exists(), (
            "the embedded PostgreSQL was left running"
        )
    finally:
        redis_server.stop()


def _server_running(data_dir: Path, patience: float = 15) -> bool:
    """Whether the embedded PostgreSQL of ``data_dir`` still runs after ``patience`` seconds. On a busy machine its
    stop can outlast pg_ctl's wait, and the server is then killed, leaving its postmaster.pid behind: the process
    is what counts."""
    import psutil

    pid_file = data_dir / "postgres" / "postmaster.pid"
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return False
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.5)
    return True


def test_web_processes_that_do_not_migrate_wait_for_shifa_migrate(data_dir):
    """Pods of a Deployment start with SHIFA_MIGRATE=0: before the migrations Job they refuse to serve (exit 3, so
    they restart until it is done), after `shifa migrate` they serve without migrating themselves."""
    port = _free_port()
    env = {"SHIFA_MIGRATE": "0", "SHIFA_DEMO": "0"}
    early = _start(data_dir, port, env=env)
    try:
        code = early.wait(timeout=120)
    finally:
        if early.poll() is None:
            early.kill()
    output = early.stdout.read().decode()
    assert code == 3, output[-3000:]
    assert "run `shifa migrate`" in output and "Shifa is running" not in output
    assert not _server_running(data_dir)

    migrated = subprocess.run(
        [sys.executable, "-m", "shifa", "migrate"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}},
            "SHIFA_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    assert "Reference data ready" in migrated.stdout and "Demo data" not in migrated.stdout
    assert not _server_running(data_dir), migrated.stderr[-3000:]

    served = _start(data_dir, port, env=env)
    try:
        health = _wait_healthy(served, f"http://127.0.0.1:{port}")
        assert health["checks"]["database"] == "ok"
        # The image's HEALTHCHECK asks under the first allowed host name: Django refuses any other (400).
        from tests.deploy.support import final_stage

        check = json.loads(dict(final_stage())["HEALTHCHECK"].partition(" CMD ")[2])
        for hosts, expected in (("localhost,127.0.0.1", 0), ("elsewhere.example", 1)):
            checked = subprocess.run(
                [sys.executable, *check[1:]],
                env={**os.environ, "PORT": str(port), "ALLOWED_HOSTS": hosts},
                capture_output=True,
                timeout=30,
            )
            assert checked.returncode == expected, (hosts, checked.stderr[-2000:])
    finally:
        assert _stop(served) == 0
    output = served.stdout.read().decode()
    assert "Shifa stopped." in output and "Reference data ready" not in output
