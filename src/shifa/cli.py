"""``shifa`` command: ``shifa run`` starts the whole platform in one process; ``shifa migrate`` prepares a shared
database for the processes that will not migrate it themselves (SHIFA_MIGRATE=0); ``shifa manage …`` runs Django
management commands."""

from __future__ import annotations

import contextlib
import os
import socket
import sys


def _setup(default_settings: str = "shifa.settings.embedded") -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings)
    import django

    django.setup()


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _bind(host: str, port: int) -> socket.socket:
    """Take the port before doing anything else, so that a busy port fails at once and clearly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def demo_wanted(host: str) -> bool:
    """Demo accounts have published passwords: load them only for a local embedded database, or when asked with
    SHIFA_DEMO=1. SHIFA_DEMO=0 never loads them."""
    explicit = os.environ.get("SHIFA_DEMO")
    if explicit is not None:
        return explicit.strip().lower() in {"1", "true", "yes", "on"}
    return not os.environ.get("DATABASE_URL") and host in LOOPBACK


def collect_static() -> bool:
    """Collect the static files into STATIC_ROOT under hashed names with compressed copies (docs/decisions/0028),
    unless nothing changed since the last collection: compressing them takes seconds. Whether it collected."""
    import hashlib
    from pathlib import Path

    from django.conf import settings
    from django.contrib.staticfiles import finders
    from django.core.management import call_command

    if settings.DEBUG or not settings.STATIC_ROOT:
        return False
    sources = sorted(
        (path, storage.path(path)) for finder in finders.get_finders() for path, storage in finder.list(None)
    )
    listing = "".join(
        f"{path}\0{os.stat(full).st_size}\0{os.stat(full).st_mtime_ns}\n" for path, full in sources
    )
    digest = hashlib.sha256(listing.encode())
    stamp = Path(settings.STATIC_ROOT) / ".sources"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return False
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(digest.hexdigest())
    return True


def web_processes() -> int | None:
    """How many web processes ``SHIFA_WEB_PROCESSES`` asks for (1 by default); None, with the reason printed, when
    that cannot work: more than one needs Redis (REDIS_URL), through which their live events and counters meet."""
    from django.conf import settings

    raw = os.environ.get("SHIFA_WEB_PROCESSES", "1").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        print(f"SHIFA_WEB_PROCESSES must be a number from 1 to 64, not {raw!r}.", file=sys.stderr, flush=True)
        return None
    if int(raw) > 1 and not settings.REDIS_URL:
        print(
            "SHIFA_WEB_PROCESSES above 1 needs REDIS_URL: without Redis each process would have its own live "
            "events, and a message sent through one would not reach a page connected to another.",
            file=sys.stderr,
            flush=True,
        )
        return None
    return int(raw)


def _share_metrics() -> None:
    """Several web processes add up their metrics through files in one folder (prometheus_client's multiprocess
    mode): an empty one in the data folder unless PROMETHEUS_MULTIPROC_DIR names another."""
    import shutil
    from pathlib import Path

    from django.conf import settings

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = Path(settings.DATA_DIR) / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def migrate_wanted() -> bool:
    """Whether ``shifa run`` migrates the database itself (SHIFA_MIGRATE, on by default, as ``make run`` needs).
    Where several web processes start at once (pods of a Deployment) they would race to migrate: there one
    ``shifa migrate`` (a Job) migrates, and the web processes, with SHIFA_MIGRATE=0, only check."""
    return os.environ.get("SHIFA_MIGRATE", "1").strip().lower() not in {"0", "false", "no", "off"}


def pending_migrations() -> list[str]:
    """The migrations the database still lacks, in the order they would be applied (what ``migrate`` would do)."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def refuse_pending(pending: list[str]) -> None:
    """Say why a web process started with SHIFA_MIGRATE=0 will not serve: code newer than its database would fail
    on missing tables and columns, page by page, instead of once, here."""
    shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
    print(
        f"The database lacks {len(pending)} migration(s) of this version ({shown}). With SHIFA_MIGRATE=0 Shifa "
        "does not migrate at start: run `shifa migrate` (the migrations Job) first, then start it again.",
        file=sys.stderr,
        flush=True,
    )


def _ensure_reference_data() -> None:
    from shifa.catalog.actions import reference_data_ensure

    print(f"Reference data ready: {reference_data_ensure()}", flush=True)


def migrate() -> int:
    """Migrate and load missing reference data, once, for every process that will share the database (the
    migrations Job of an upgrade, the one-shot service of compose). Demo data only when SHIFA_DEMO=1 says so: this
    command runs against real databases."""
    _setup()
    from django.core.management import call_command
    from django.db import connections

    from shifa.core import embedded_postgres

    try:
        call_command("migrate", interactive=False, verbosity=1)
        _ensure_reference_data()
        # What the configuration leaves off (mail, SMS, PayTabs, Hakeem, TURN) is said at every upgrade, in the
        # Job's log; it stops nothing (the migrations are done by then).
        call_command("check", deploy=True, fail_level="CRITICAL")
        if demo_wanted(host=""):  # no listening address: only an explicit SHIFA_DEMO=1 loads it
            from shifa.demo.actions import load_demo

            print(f"Demo data ready: {load_demo()}", flush=True)
        connections.close_all()
    finally:
        embedded_postgres.stop()
    return 0


def run() -> int:
    """Migrate (unless SHIFA_MIGRATE=0), load the demo data and serve HTTP + WebSocket with the job worker, until
    Ctrl-C."""
    _setup()
    import uvicorn
    from django.core.management import call_command
    from django.db import connections

    from shifa.demo.actions import load_demo

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    processes = web_processes()
    if processes is None:
        from shifa.core import embedded_postgres

        embedded_postgres.stop()
        return 2
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(
            f"Cannot listen on {host}:{port} ({exc.strerror}). Is Shifa already running? Set PORT to use "
            "another port.",
            file=sys.stderr,
            flush=True,
        )
        from shifa.core import embedded_postgres

        embedded_postgres.stop()
        return 1
    if migrate_wanted():
        call_command("migrate", interactive=False, verbosity=1)
    else:
        pending = pending_migrations()
        if pending:
            refuse_pending(pending)
            sock.close()
            connections.close_all()
            from shifa.core import embedded_postgres

            embedded_postgres.stop()
            return 3
    if collect_static():
        print("Static files collected and compressed", flush=True)
    if migrate_wanted():
        _ensure_reference_data()
        if demo_wanted(host):
            print(f"Demo data ready: {load_demo()} (demo sign-ins are listed in README.md)", flush=True)
    connections.close_all()
    print(f"Shifa is running on http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    config = uvicorn.Config(
        "shifa.asgi:application",
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        proxy_headers=True,
        ws="websockets-sansio",
        timeout_graceful_shutdown=10,
    )
    # uvicorn re-raises the Ctrl-C it handled once it has shut down cleanly; that is a normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        if processes == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            # Django runs a process's synchronous views one at a time: more processes serve more at once. They
            # share the listening socket; each attaches to the same database (and embedded server) and Redis.
            from uvicorn.supervisors import Multiprocess

            _share_metrics()
            config.workers = processes
            Multiprocess(config, sockets=[sock]).run()
    from shifa.core import embedded_postgres

    embedded_postgres.stop()
    print("Shifa stopped.", flush=True)
    return 0


def manage(argv: list[str]) -> int:
    _setup(os.environ.get("DJANGO_SETTINGS_MODULE", "shifa.settings.embedded"))
    from django.core.management import execute_from_command_line

    execute_from_command_line(["shifa manage", *argv])
    return 0


def demo_code() -> int:
    """Print the current authenticator code of the demo staff accounts (demo data only)."""
    import pyotp

    from shifa.demo.constants import DEMO_TOTP_SECRET

    print(pyotp.TOTP(DEMO_TOTP_SECRET).now())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: shifa run | shifa migrate | shifa manage <django command> [args] | shifa demo-code")
        return 0
    if argv[0] == "run":
        return run()
    if argv[0] == "migrate":
        return migrate()
    if argv[0] == "manage":
        return manage(argv[1:])
    if argv[0] == "demo-code":
        return demo_code()
    print(f"unknown command {argv[0]!r}; try 'shifa --help'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
