"""Liveness of the Shifa processes that answer no HTTP, for Kubernetes exec probes and compose healthchecks (the
image holds this file as /opt/shifa/probe.py):

    python /opt/shifa/probe.py worker [--within SECONDS]
        The job worker of this container has spoken to PostgreSQL within the last SECONDS (60). A live worker
        writes its heartbeat every 10 s and looks for jobs every 5 s; one whose event loop is stuck stops doing
        both, while its process and its idle connections stay. The worker's connections are told apart by
        PGAPPNAME, which its container sets (to the pod's name in Kubernetes): libpq gives it to each of them
        as ``application_name``.
    python /opt/shifa/probe.py mqtt
        The device ingestion holds an established TCP connection to the broker's port (MQTT_URL): it reconnects
        by itself, so a container that has had none for the probe's whole failure window is stuck.

Exit status 0 alive, 1 not (the reason on stderr). Only the standard library and psycopg, which the image has:
starting Django for every probe would cost seconds of CPU each time.
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit

#: Socket state "established" in /proc/net/tcp (include/net/tcp_states.h).
ESTABLISHED = "01"


def worker_alive(within: float) -> str | None:
    """None when this container's worker has used one of its connections within ``within`` seconds; else why
    not."""
    import psycopg

    name = os.environ.get("PGAPPNAME", "")
    url = os.environ.get("DATABASE_URL", "")
    if not name or not url:
        return "PGAPPNAME and DATABASE_URL must be set for the worker's probe"
    try:
        with psycopg.connect(url, application_name="shifa-probe", connect_timeout=5) as connection:
            connections, recent = connection.execute(
                "SELECT count(*), coalesce(max(state_change) > now() - make_interval(secs => %s), false)"
                " FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                (within, name),
            ).fetchone()
    except psycopg.Error as exc:
        return f"PostgreSQL does not answer: {exc}"
    if not connections:
        return f"no connection of {name!r} to PostgreSQL"
    if not recent:
        return f"the {connections} connection(s) of {name!r} have been silent for over {within:.0f} s"
    return None


def _remote_ports(table: str) -> set[int]:
    """Remote ports of the established TCP connections listed in a /proc/net/tcp-style file."""
    ports = set()
    try:
        with open(table) as handle:
            next(handle, None)  # the header
            for line in handle:
                fields = line.split()
                if len(fields) > 3 and fields[3] == ESTABLISHED:
                    ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    except FileNotFoundError:
        pass
    return ports


def mqtt_connected(proc: str = "/proc/net") -> str | None:
    """None when a connection to the broker's port is established from this network namespace; else why not."""
    url = os.environ.get("MQTT_URL", "")
    parts = urlsplit(url)
    if not parts.hostname:
        return "MQTT_URL is not set"
    port = parts.port or (8883 if parts.scheme in {"mqtts", "ssl"} else 1883)
    if port in _remote_ports(f"{proc}/tcp") | _remote_ports(f"{proc}/tcp6"):
        return None
    return f"no established connection to the MQTT broker's port {port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("process", choices=["worker", "mqtt"])
    parser.add_argument("--within", type=float, default=60.0, help="worker: seconds of silence allowed")
    args = parser.parse_args(argv)
    problem = worker_alive(args.within) if args.process == "worker" else mqtt_connected()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
