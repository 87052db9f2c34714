"""How much the one enforcement point costs per request.

Measures, in-process with Django's test client against the configured database, the median time and the number of
SQL queries of: a public request (/healthz), an authorized API read (/api/v1/clinics/{id}), and a refused one
(another clinic's id). Prints the figures and appends them to benchmarks/RESULTS.md.

Run: DJANGO_SETTINGS_MODULE=shifa.settings.test .venv/bin/python benchmarks/access_overhead.py
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shifa.settings.test")
os.environ.setdefault("SHIFA_DB_NAME", "shifa_bench")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

ROUNDS = 300


def measure(label: str, fn) -> tuple[str, float, int]:
    for _ in range(20):
        fn()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    with CaptureQueriesContext(connection) as queries:
        fn()
    return label, statistics.median(samples) * 1000, len(queries)


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    from tests.conftest import ApiClient

    from shifa.demo.actions import load_demo
    from shifa.tenancy.models import Clinic

    load_demo()
    from shifa.accounts.models import User

    secretary = User.objects.get(email="secretary@demo.shifa.jo")
    token = ApiClient(secretary).token()
    amman, irbid = Clinic.objects.get(slug="amman"), Clinic.objects.get(slug="irbid")
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    rows = [
        measure("public GET /healthz", lambda: client.get("/healthz")),
        measure(
            "authorized GET /api/v1/clinics/{id}",
            lambda: client.get(f"/api/v1/clinics/{amman.external_id}", **auth),
        ),
        measure(
            "refused GET /api/v1/clinics/{other}",
            lambda: client.get(f"/api/v1/clinics/{irbid.external_id}", **auth),
        ),
    ]
    lines = [f"| {label} | {ms:.2f} ms | {n} |" for label, ms, n in rows]
    print("\n".join(lines))
    results = ROOT / "benchmarks" / "RESULTS.md"
    if not results.exists():
        results.write_text("# Benchmark results\n")
    with results.open("a") as out:
        out.write(
            f"\n## access_overhead — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
            f"{connection.vendor} {connection.pg_version // 10000}\n\n"
            f"Median of {ROUNDS} in-process requests (Django test client), and SQL queries per request.\n\n"
            "| request | median | queries |\n|---|---|---|\n" + "\n".join(lines) + "\n"
        )


if __name__ == "__main__":
    main()
