"""A private PostgreSQL server for one test (pgserver's bundled binaries, a temporary folder, its own loopback
port) that the test may stop, crash and start again, or stream to a standby; and ``shifa run`` serving from it."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path:
    """pgserver's bundled PostgreSQL (a dependency of the product: the embedded database)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("pgserver is not installed: it is a dependency of Shifa (make install)")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    missing = [tool for tool in ("initdb", "pg_ctl", "postgres") if not (path / tool).exists()]
    if missing:
        pytest.fail(f"pgserver's PostgreSQL binaries are missing from {path}: {', '.join(missing)}")
    return path


class PrivatePostgres:
    """A PostgreSQL server of this test only, on a loopback port, in a temporary folder. As root, PostgreSQL runs
    as the unprivileged user pgserver creates for the embedded server (PostgreSQL refuses to run as root)."""

    def __init__(self, prefix: str = "shifa-pgrestart-") -> None:
        self.bin = _postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.pgdata = self.folder / "pgdata"
        self.log = self.folder / "postgres.log"
        self.port = _free_port()
        self.system_user = None
        if os.geteuid() == 0:
            import pwd

            self.system_user = "pgserver"
            try:
                entry = pwd.getpwnam(self.system_user)
            except KeyError:
                subprocess.run(
                    ["useradd", "-s", "/bin/bash", self.system_user], check=True, capture_output=True
                )
                entry = pwd.getpwnam(self.system_user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        # Output to a file, not a pipe: the server started by pg_ctl would hold a pipe open.
        with (self.folder / f"{tool}.out").open("a") as out:
            result = subprocess.run(
                [str(self.bin / tool), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.system_user,
                timeout=timeout,
                cwd=self.folder,
            )
        if result.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(args)} failed:\n{(self.folder / f'{tool}.out').read_text()[-3000:]}\n"
                f"{self.log.read_text()[-3000:] if self.log.exists() else ''}"
            )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-sync"
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = ''\n"
                # nothing here outlives the test: skip the disk flushes (a restart does not need them either)
                "fsync = off\n"
            )

    def init_standby_of(self, primary: PrivatePostgres) -> None:
        """A hot standby of ``primary``: its base backup (``pg_basebackup -R``: it then streams the primary's WAL
        through a replication connection, which initdb's pg_hba.conf allows on loopback), on a port of its own."""
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.pgdata), "-R", "-X", "stream", "--no-sync", "-c", "fast"),
            timeout=180,
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nhot_standby = on\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "-t", "60", "stop")

    def start_with_copy_of(self, source: dict, database: str) -> None:
        """Initialise and start the server, holding ``database``: a copy of ``source`` (Django connection settings),
        or empty when it cannot be copied (``shifa run`` then migrates it, more slowly)."""
        self.init()
        self.start()
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        if not self.copy_database(source, database):
            print("the test database could not be copied: shifa run migrates an empty one (slower)")

    def copy_database(self, source: dict, database: str) -> bool:
        """Copy the suite's test database (``source``: Django's settings of it; migrated, with the reference data)
        into ``database`` here: migrating an empty database takes a minute on two cores. False when it could not
        be copied (say a newer server than these tools); ``database`` is then left empty, for ``shifa run`` to
        migrate."""
        dump = self.folder / "test-database.dump"
        server = [
            "-h",
            source["HOST"] or "localhost",
            "-p",
            str(source["PORT"] or 5432),
            "-U",
            source["USER"],
        ]
        # data keys are wrapped by the suite's master key: the server under test makes its own
        options = ["-Fc", "-Z0", "--exclude-table-data=core_data_key", "-f", str(dump)]
        dumped = subprocess.run(
            [str(self.bin / "pg_dump"), *server, *options, source["NAME"]],
            env={**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""},
            capture_output=True,
            timeout=120,
        )
        here = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]
        copied = (
            dumped.returncode == 0
            and subprocess.run(
                [str(self.bin / "pg_restore"), "--no-owner", "--exit-on-error", *here, str(dump)],
                capture_output=True,
                timeout=120,
            ).returncode
            == 0
        )
        if not copied:
            with self.connect() as conn:
                conn.execute(f'DROP DATABASE "{database}"')
                conn.execute(f'CREATE DATABASE "{database}"')
        return copied

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if (self.pgdata / "postmaster.pid").exists():
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class ShifaProcess:
    """``shifa run`` against the private server: migrates (nothing to do after a copy), loads the demo data and
    serves, with its job worker."""

    def __init__(self, database_url: str, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "shifa.log"
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "TMPDIR", "PYTHONPATH"}
        env = {k: v for k, v in os.environ.items() if k in keep}
        env |= {
            "DATABASE_URL": database_url,
            "SHIFA_DATA_DIR": str(folder / "shifa-data"),
            # its own static files: the checkout's are shared with `make run` and the other tests
            "STATIC_ROOT": str(folder / "static"),
            "HOST": "127.0.0.1",
            "SHIFA_DEMO": "1",
            "SHIFA_RUN_WORKER": "1",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
            "PORT": str(self.port),  # the port it was given, whatever the environment passed on says
        }
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shifa", "run"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"shifa run exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                last = httpx.get(f"{self.base}/healthz", timeout=5)
                if last.status_code == 200:
                    return last.json()
            time.sleep(0.25)
        raise AssertionError(
            f"/healthz not ok within {timeout:.0f} s: {last.text if last is not None else 'no answer'}\n"
            f"{self.tail()}"
        )

    def stop(self) -> None:
        for sig in (signal.SIGINT, signal.SIGKILL):
            if self.process.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
