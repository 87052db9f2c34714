"""A real Shifa server process for the HTTP benchmarks: ``shifa run`` on a free local port, against the benchmark
database, stopped (Ctrl-C, as a person would) when the benchmark is done."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .runtime import ROOT, log

READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command() -> list[str]:
    """The ``shifa`` command installed next to this Python, else the same entry point through ``-m``."""
    script = Path(sys.executable).with_name("shifa")
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "shifa.cli", "run"]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Server:
    base: str
    log_file: Path
    keep_log: bool = False

    def errors(self, limit: int = 3) -> list[str]:
        """The first log records of level ERROR (tracebacks of 5xx answers), shortened."""
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            if '"level": "ERROR"' in line or line.startswith("Traceback") or "Error:" in line:
                found.append(line[:300])
                if len(found) >= limit:
                    break
        return found


@contextlib.contextmanager
def running(*, demo: bool = False, env: dict | None = None) -> Iterator[Server]:
    """Start the server and yield it once ``/healthz`` answers; its log file is removed at the end unless the
    caller asks to keep it (``keep_log``) or the server fails. ``demo`` loads the demo data (``SHIFA_DEMO=1``),
    for the benchmarks that browse the pages as a demo account; ``env`` adds to its environment.

    It gets this process's environment (database name or ``DATABASE_URL``, data folder) with its own port,
    without demo data and without the in-process job worker, whose periodic jobs would compete for the CPU while
    the figures are taken. Its settings are those ``shifa run`` picks by itself (``shifa.settings.embedded``,
    with the connection pool), not this process's test settings, unless ``SHIFA_BENCH_SERVER_SETTINGS`` names
    another module. Its output goes to a log file, shown if it fails.
    """
    port = free_port()
    env = (
        {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        | {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SHIFA_DEMO": "1" if demo else "0",
            "SHIFA_RUN_WORKER": "0",
            "LOG_LEVEL": "WARNING",
        }
        | (env or {})
    )
    if os.environ.get("SHIFA_BENCH_SERVER_SETTINGS"):
        env["DJANGO_SETTINGS_MODULE"] = os.environ["SHIFA_BENCH_SERVER_SETTINGS"]
    log_file = Path(tempfile.mkstemp(prefix="shifa-bench-server-", suffix=".log")[1])
    base = f"http://127.0.0.1:{port}"
    with log_file.open("w") as out:
        process = subprocess.Popen(
            command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    log(f"server started (pid {process.pid}) on {base}, log in {log_file}")
    running = Server(base, log_file)
    try:
        _wait_ready(process, base, log_file)
        yield running
    finally:
        _stop(process)
        log(f"server stopped (exit code {process.returncode})")
    if not running.keep_log:
        log_file.unlink(missing_ok=True)


def _wait_ready(process: subprocess.Popen, base: str, log_file: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}:\n{_tail(log_file)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within {READY_TIMEOUT_S:.0f} s:\n{_tail(log_file)}")


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C first (uvicorn finishes its requests and the embedded database handle is released), then SIGTERM,
    then SIGKILL — always to this one process."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
