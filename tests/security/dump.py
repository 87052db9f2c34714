"""Dumping the test database with the real ``pg_dump`` and finding text in the dump, table by table.

The dump is ``pg_dump --data-only`` in its plain format: each table's rows come as a ``COPY <table> (<columns>)
FROM stdin;`` block, one row per line, columns separated by tabs, ending with ``\\.``."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

#: Where a pg_dump may be: the embedded server's own (pgserver), the system's versioned ones, then PATH.
_CANDIDATES = (
    "pgserver/pginstall/bin/pg_dump",
    "/usr/lib/postgresql/*/bin/pg_dump",
)


def _major(binary: str) -> int | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(found.group(1)) if found else None


def pg_dump_binary(server_major: int) -> str:
    """A pg_dump able to dump a server of ``server_major`` (its own major version at least), preferring the
    closest version."""
    import pgserver

    found: list[str] = []
    package = Path(pgserver.__file__).resolve().parent.parent
    for pattern in _CANDIDATES:
        path = pattern if pattern.startswith("/") else str(package / pattern)
        found += sorted(glob.glob(path))
    if shutil.which("pg_dump"):
        found.append(shutil.which("pg_dump"))
    usable = [(major, binary) for binary in found if (major := _major(binary)) and major >= server_major]
    if not usable:
        raise AssertionError(f"no pg_dump for PostgreSQL {server_major} among {found}")
    return min(usable)[1]


def dump(connection) -> str:
    """The data of the database behind ``connection`` (committed rows only), as pg_dump writes it."""
    settings = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        server_major = int(cursor.fetchone()[0]) // 10000
    env = {
        **os.environ,
        "PGHOST": str(settings.get("HOST") or ""),
        "PGPORT": str(settings.get("PORT") or "5432"),
        "PGUSER": str(settings.get("USER") or ""),
        "PGPASSWORD": str(settings.get("PASSWORD") or ""),
        "PGDATABASE": settings["NAME"],
    }
    result = subprocess.run(
        [pg_dump_binary(server_major), "--data-only", "--no-owner", "--no-privileges", "--encoding=UTF8"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[str] = field(default_factory=list)

    def values(self, row: str) -> dict[str, str]:
        return dict(zip(self.columns, row.split("\t"), strict=False))


_COPY = re.compile(r"^COPY (?:[\w\"]+\.)?\"?(?P<table>[\w]+)\"? \((?P<columns>[^)]*)\) FROM stdin;$")


def tables(text: str) -> dict[str, Table]:
    """The rows of each table in the dump; lines outside the COPY blocks (settings, sequence values) are kept
    under the name ``""``."""
    found: dict[str, Table] = {"": Table("", [])}
    current: Table | None = None
    for line in text.splitlines():
        if current is not None:
            if line == "\\.":
                current = None
            else:
                current.rows.append(line)
            continue
        match = _COPY.match(line)
        if match:
            columns = [c.strip().strip('"') for c in match.group("columns").split(",")]
            current = found[match.group("table")] = Table(match.group("table"), columns)
        else:
            found[""].rows.append(line)
    return found
