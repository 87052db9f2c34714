"""A real job worker in a child process, on the test database, for crash tests (``SHIFA_FAULTS`` kills it at a
named point, ``shifa.core.faults``). It first puts back in the queue the jobs a dead worker left half done (those
whose worker has been silent ``stalled_after`` seconds), as the product's worker does, then runs every job due
and ends. SMS go to the ``outbox`` folder; ``prepare`` is Python run after Django is set up (e.g. routing an
outside service's client to its simulator in that process). Tests using it need ``django_db(transaction=True)``:
the child sees only what the test committed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, os, sys
sys.path[:0] = [{root!r}, {src!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "shifa.settings.test"
import django
from django.conf import settings
django.setup()
settings.DATABASES["default"]["NAME"] = sys.argv[1]
settings.SMS_BACKEND, settings.SMS_OUTBOX_DIR = "outbox", sys.argv[2]
from shifa.core import jobs
{prepare}

async def main():
    app = jobs._worker_app()
    async with app.open_async():
        recovered = await jobs.recover_stalled_jobs(app, seconds_since_heartbeat=float(sys.argv[3]))
        print("recovered", recovered, flush=True)
        await app.run_worker_async(wait=False, install_signal_handlers=False, update_heartbeat_interval=0.2)

asyncio.run(main())
"""

#: The exit status of a process a fault point killed (``shifa.core.faults.point``).
KILLED = 70


def run_worker(
    outbox: Path, *, faults: str = "", stalled_after: float = 60.0, prepare: str = ""
) -> subprocess.CompletedProcess:
    """Run a worker until the queue is empty (or a fault point kills it); its output is captured."""
    script = SCRIPT.format(root=str(ROOT), src=str(ROOT / "src"), prepare=prepare)
    env = {**os.environ, "SHIFA_FAULTS": faults}
    return subprocess.run(
        [sys.executable, "-c", script, connection.settings_dict["NAME"], str(outbox), str(stalled_after)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
