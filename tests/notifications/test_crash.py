"""A worker killed after the provider accepted a message, but before the delivery was marked sent, does not send
it twice when a worker starts again (NT-1)."""

from __future__ import annotations

import json
import time

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.core import timezones
from shifa.notifications.actions import notify
from shifa.notifications.models import Delivery
from tests.factories import UserFactory
from tests.support.worker import KILLED, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


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

    crashed = run_worker(outbox, faults="notifications.after_provider_accepted.sms")
    assert crashed.returncode == KILLED, crashed.stderr[-2000:]
    sms.refresh_from_db()
    assert sms.status == "sending" and sms.attempts == 1  # the provider has it; we never heard back
    assert len(list(outbox.glob("*.json"))) == 1
    job = ProcrastinateJob.objects.get(task_name="notifications.deliver", args={"delivery_id": sms.pk})
    assert job.status == "doing"  # left half done by the dead worker

    time.sleep(1.5)  # the dead worker's last heartbeat grows old
    restarted = run_worker(outbox, stalled_after=1.0)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert "recovered 1" in restarted.stdout
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.attempts == 1  # asked the provider first: no second attempt
    messages = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    assert len(messages) == 1 and messages[0]["to"] == "+962795550000"
    assert Delivery.objects.get(notification=notification, channel="in_app").status == "sent"
