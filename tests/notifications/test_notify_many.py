"""``notify_many``: a batch of notifications (medication reminders) under the same rules as ``notify``."""

from __future__ import annotations

import datetime as dt

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.core import timezones
from shifa.notifications.actions import DELIVERIES_PER_JOB, Pending, notify_many
from shifa.notifications.models import Delivery, Notification, Preference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _people(n, **extra):
    return [UserFactory(language="en", **extra) for _ in range(n)]


def _pending(user, key, kind="test.everywhere"):
    return Pending(
        recipient=user, kind=kind, data={"provider": "Google", "email": "x@example.jo"}, idempotency_key=key
    )


def test_a_batch_is_made_once_with_every_channel_planned():
    people = _people(3)
    items = [_pending(p, f"event-{i}") for i, p in enumerate(people)]
    assert notify_many(items) == 3
    assert notify_many(items) == 0  # the same keys again: nothing new
    assert notify_many([*items, _pending(people[0], "event-new"), _pending(people[0], "event-new")]) == 1
    assert Notification.objects.count() == 4
    for notification in Notification.objects.all():
        channels = dict(Delivery.objects.filter(notification=notification).values_list("channel", "status"))
        assert set(channels) == {"in_app", "push", "email", "sms"}
    made = Notification.objects.get(recipient=people[1], idempotency_key="event-1")
    assert made.title and made.language == "en"


def test_choices_and_quiet_hours_apply_as_for_one():
    quiet, no_push = _people(2, time_zone="Asia/Amman")
    local = timezones.to_local(timezones.now(), "Asia/Amman")
    Preference.objects.create(
        user=quiet,
        quiet_from=(local - dt.timedelta(hours=1)).time(),
        quiet_until=(local + dt.timedelta(hours=1)).time(),
    )
    Preference.objects.create(user=no_push, push=False)
    notify_many([_pending(quiet, "a"), _pending(no_push, "b")])
    held = Delivery.objects.get(notification__recipient=quiet, channel="push")
    assert held.status == "deferred" and held.scheduled_for > timezones.now()
    assert Delivery.objects.get(notification__recipient=no_push, channel="push").status == "skipped"
    assert ProcrastinateJob.objects.filter(
        task_name="notifications.deliver", args={"delivery_id": held.pk}
    ).exists()


def test_deliveries_are_queued_a_hundred_per_job():
    people = _people(60)
    notify_many([_pending(p, f"k-{i}") for i, p in enumerate(people)])
    pending = Delivery.objects.filter(status="pending").count()
    jobs = ProcrastinateJob.objects.filter(task_name="notifications.deliver_many")
    assert jobs.count() == -(-pending // DELIVERIES_PER_JOB)
    queued = sorted(i for job in jobs for i in job.args["delivery_ids"])
    assert queued == sorted(Delivery.objects.filter(status="pending").values_list("pk", flat=True))


def test_each_language_reads_its_own_text():
    arabic, english = UserFactory(language="ar"), UserFactory(language="en")
    notify_many([_pending(arabic, "x"), _pending(english, "x")])
    titles = dict(Notification.objects.values_list("recipient__language", "title"))
    assert titles["ar"] != titles["en"]


def test_a_bulk_job_attempts_each_of_its_deliveries():
    from shifa.notifications.tasks import deliver_many

    people = _people(3)
    notify_many(
        [
            Pending(recipient=p, kind="dose.due", data=_dose(), idempotency_key=f"d-{i}")
            for i, p in enumerate(people)
        ]
    )
    job = ProcrastinateJob.objects.get(task_name="notifications.deliver_many")
    deliver_many(**job.args)
    statuses = set(Delivery.objects.filter(channel="in_app").values_list("status", flat=True))
    assert statuses == {"sent"}


def _dose() -> dict:
    return {
        "medication_en": "Amoxicillin",
        "medication_ar": "أموكسيسيلين",
        "strength": "500 mg",
        "dose": "1",
        "unit": "capsule",
        "time": "08:30",
        "patient": "",
        "for_dependant": False,
    }
