"""A worker killed after the provider accepted a message, but before the delivery was marked sent, does not send
it twice when a worker starts again (NT-1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.core import timezones
from shifa.notifications.actions import notify
from shifa.notifications.models import Delivery
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import asyncio, os, sys
sys.path[:0] = [{root!r}, {src!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "shifa.settings.test"
import django
from django.conf import settings
django.setup()
settings.DATABASES["default"]["NAME"] = sys.argv[1]
settings.SMS_BACKEND, settings.SMS_OUTBOX_DIR = "outbox", sys.argv[2]
from shifa.core import jobs

async def main():
    app = jobs._worker_app()
    async with app.open_async():
        recovered = await jobs.recover_stalled_jobs(app, seconds_since_heartbeat=float(sys.argv[3]))
        print("recovered", recovered, flush=True)
        await app.run_worker_async(wait=False, install_signal_handlers=False, update_heartbeat_interval=0.2)

asyncio.run(main())
"""


def start_worker(outbox: Path, *, faults: str = "", stalled_after: float = 60.0):
    script = WORKER.format(root=str(ROOT), src=str(ROOT / "src"))
    env = {**os.environ, "SHIFA_FAULTS": faults}
    return subprocess.run(
        [sys.executable, "-c", script, connection.settings_dict["NAME"], str(outbox), str(stalled_after)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_worker_killed_after_the_provider_accepted_sends_once(tmp_path):
    outbox = tmp_path / "sms"
    user = UserFactory(phone="+962795550000", phone_verified_at=timezones.now(), language="en")
    with transaction.atomic():
        notification = notify(
            recipient=user,
            kind="test.text",
            data={"provider": "Google", "email": "x@y.jo"},
            idempotency_key="crash-1",
        )
    sms = Delivery.objects.get(notification=notification, channel="sms")

    crashed = start_worker(outbox, faults="notifications.after_provider_accepted.sms")
    assert crashed.returncode == 70, crashed.stderr[-2000:]
    sms.refresh_from_db()
    assert sms.status == "sending" and sms.attempts == 1  # the provider has it; we never heard back
    assert len(list(outbox.glob("*.json"))) == 1
    job = ProcrastinateJob.objects.get(task_name="notifications.deliver", args={"delivery_id": sms.pk})
    assert job.status == "doing"  # left half done by the dead worker

    time.sleep(1.5)  # the dead worker's last heartbeat grows old
    restarted = start_worker(outbox, stalled_after=1.0)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert "recovered 1" in restarted.stdout
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.attempts == 1  # asked the provider first: no second attempt
    messages = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    assert len(messages) == 1 and messages[0]["to"] == "+962795550000"
    assert Delivery.objects.get(notification=notification, channel="in_app").status == "sent"
