"""What every benchmark shares: Django started on the benchmark database, timing and percentiles, a description of
the machine, and the section each run appends to ``RESULTS.md``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

#: False (``--no-record``): figures are printed, not appended to RESULTS.md.
RECORDING = True

#: Databases a benchmark never writes to: the development database and the test runner's.
PROTECTED = ("shifa",)


def bootstrap(database: str) -> None:
    """Start Django on ``database`` (unless ``SHIFA_DB_NAME`` or ``DATABASE_URL`` names another) and migrate it.

    The embedded server is started when ``DATABASE_URL`` is unset, and the database created if missing.
    """
    for path in (str(ROOT / "src"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shifa.settings.test")
    os.environ.setdefault("SHIFA_DB_NAME", database)
    name = os.environ["SHIFA_DB_NAME"]
    if not os.environ.get("DATABASE_URL") and (name in PROTECTED or name.startswith("test_")):
        raise SystemExit(f"refusing to run benchmarks in the {name!r} database: choose another SHIFA_DB_NAME")

    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection

    actual = connection.settings_dict["NAME"]
    if actual in PROTECTED or str(actual).startswith("test_"):
        raise SystemExit(
            f"refusing to run benchmarks in the {actual!r} database: point DATABASE_URL elsewhere"
        )
    call_command("migrate", interactive=False, verbosity=0)


def log(message: str) -> None:
    """Progress for the person watching; stdout is kept for the figures."""
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    """Milliseconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def samples_ms(calls: Iterable[Callable[[], object]], *, warmup: int) -> list[float]:
    """Time each call (milliseconds) after running the first ``warmup`` of them untimed."""
    out = []
    for index, call in enumerate(calls):
        if index < warmup:
            call()
        else:
            out.append(timed(call))
    return out


def percentile(samples: list[float], pct: int) -> float:
    """The ``pct``-th percentile (linear interpolation between the closest ranks)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def rounded(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def code_version() -> str:
    """The commit measured, and the product files changed since it (the figures are of the working tree)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.rstrip("\n")

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not changed:
        return commit
    shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    return f"{commit} with uncommitted changes in {shown}"


def machine() -> dict:
    """Cores, memory, Python and the PostgreSQL server the figures were measured on."""
    from django.db import connection

    ram_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(ram_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": version.split()[0],
        "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
        "database_name": connection.settings_dict["NAME"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "code": code_version(),
    }


def measured(info: dict) -> dict:
    """``info`` from ``machine()`` taken before the measurements, with the load average after them."""
    return info | {"load_average_1m_after": round(os.getloadavg()[0], 2)}


def machine_line(info: dict) -> str:
    return (
        f"Machine: {info['cores']} cores, {info['ram_gib']} GiB RAM, Python {info['python']}, "
        f"PostgreSQL {info['postgresql']} ({info['database']}, database `{info['database_name']}`); "
        f"load average (1 min) {info['load_average_1m']} before"
        + (f" and {info['load_average_1m_after']} after" if "load_average_1m_after" in info else "")
        + " the figures were taken (other work on the machine adds to it). "
        f"Code: {info['code']}."
    )


def append_section(title: str, lines: list[str]) -> None:
    """Append a dated section to RESULTS.md (unless ``--no-record`` was given)."""
    if not RECORDING:
        log(f"not recorded in {RESULTS.name} (--no-record): {title}")
        return
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    with RESULTS.open("a") as out:
        out.write(f"\n## {title} — {stamp}\n\n" + "\n".join(lines).rstrip() + "\n")


def table(rows: list[tuple[str, str, str]]) -> list[str]:
    """A Markdown table of (figure, value, target) rows."""
    return ["| figure | value | target |", "|---|---|---|", *(f"| {a} | {b} | {c} |" for a, b, c in rows)]


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


@contextlib.contextmanager
def generation_step(steps: list, name: str) -> Iterator[None]:
    """Time one step of building a data set, into ``steps`` (for ``record_generation``), and log it."""
    start = time.perf_counter()
    yield
    steps.append([name, round(time.perf_counter() - start, 1)])
    log(f"  {name}: {steps[-1][1]} s")


def record_generation(name: str, found: dict, description: str) -> None:
    """Append the section of a data set's generation: the machine, what was made, and each step's seconds."""
    append_section(
        f"{name} data set generation ({found['size']})",
        [
            machine_line(machine()),
            description,
            "",
            "| step | seconds |",
            "|---|---|",
            *(f"| {step} | {seconds} |" for step, seconds in found["generation"]["steps_s"]),
        ],
    )


def dataset_figures(found: dict, *fields: str) -> dict:
    """A data set's figures for a benchmark's JSON line: its size, the ``fields`` it is described by, its rows and
    how it was generated (or that it was re-used)."""
    return {
        "size": found["size"],
        **{name: found[name] for name in fields},
        "rows": found["generation"]["rows"],
        "generated_at": found["anchor"].isoformat(),
        "generation_s": found["generation"]["total_s"],
        "reused": found.get("reused", False),
    }


def read_marker(ddl: str, table: str, columns: tuple[str, ...], json_keys: tuple[str, ...]) -> dict | None:
    """The one row recording which data set a benchmark database holds (None before one was generated)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(ddl)
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = 1")
        row = cursor.fetchone()
    if row is None:
        return None
    found = dict(zip(columns, row, strict=True))
    for key in json_keys:
        if isinstance(found[key], str):
            found[key] = json.loads(found[key])
    return found


def ensure_dataset(
    name: str,
    kind: str,
    size,
    *,
    marker: Callable[[], dict | None],
    generate: Callable[[object], object],
    describe: Callable[[dict], str],
    held: Callable[[dict], tuple],
    wanted: tuple,
    held_text: Callable[[dict], str],
    occupied: Callable[[], bool],
    occupant: str = "clinics",
) -> dict:
    """The data set of ``size``: re-used when the database records it, generated (and its generation recorded in
    RESULTS.md as benchmark ``name``) when the database is fresh; refused when it holds something else."""
    found = marker()
    if found is None:
        if occupied():
            raise SystemExit(
                f"this database holds {occupant} without a record of a {kind} data set: "
                "choose a fresh database with SHIFA_DB_NAME"
            )
        log(f"generating the {size.name} {kind} data set: {size.describe()}")
        generate(size)
        found = marker() | {"reused": False}
        record_generation(name, found, describe(found))
        return found
    if held(found) != wanted:
        raise SystemExit(
            f"this database holds the {found['size']} {kind} data set ({held_text(found)}); "
            f"run the {size.name} benchmark with another SHIFA_DB_NAME"
        )
    log(f"re-using the {found['size']} {kind} data set generated at {found['anchor']:%Y-%m-%d %H:%M} UTC")
    return found | {"reused": True}
