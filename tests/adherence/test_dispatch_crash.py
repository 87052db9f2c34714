"""Due doses are reminded exactly once when a dispatcher is killed in the middle of a batch and the job runs again,
and when two dispatchers share the work (CP-3). The dispatchers are real processes on the test database, with
``notify`` slowed down inside them so that a batch takes long enough to be caught in flight."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection, transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.adherence.actions import doses_dispatch
from shifa.adherence.models import Dose, DoseStatus
from shifa.core import timezones
from shifa.notifications.models import Delivery, Notification
from tests.support.doses import make_due_doses

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
BATCH = 25

#: A worker process: Django on the test database; the reminders slowed down (``delay`` seconds each, whether the
#: dispatch makes them one by one with ``notify`` or a batch at a time with ``notify_many``); stuck for good when
#: batch number ``hang_at`` (0: never) is about to be marked sent, its reminders written but not committed. It
#: prints the doses of each batch it commits, waits for ``gate`` to exist (when given), and runs the dispatch in
#: the job's audit context.
DISPATCHER = """
import os, sys, time
sys.path[:0] = [{root!r}, {src!r}]
os.environ["DJANGO_SETTINGS_MODULE"] = "shifa.settings.test"
import django
from django.conf import settings
django.setup()
settings.DATABASES["default"]["NAME"] = sys.argv[1]
from django.db import connection
from shifa.adherence.actions import doses_dispatch
from shifa.audit.context import audit_context
from shifa.notifications import actions

delay, hang_at, batch, gate = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]


def slowed(real, reminders):
    def call(*args, **kwargs):
        time.sleep(delay * reminders(args, kwargs))
        return real(*args, **kwargs)

    return call


actions.notify = slowed(actions.notify, lambda args, kwargs: 1)
if hasattr(actions, "notify_many"):
    actions.notify_many = slowed(actions.notify_many, lambda args, kwargs: len(args[0] if args else kwargs["items"]))
batches = 0


def watch(execute, sql, params, many, context):
    global batches
    if 'UPDATE "adherence_dose" SET "status"' not in sql:
        return execute(sql, params, many, context)
    batches += 1
    ids = sorted(p for p in params if type(p) is int)
    if batches == hang_at:
        print("hanging", *ids, flush=True)
        time.sleep(600)
    result = execute(sql, params, many, context)
    connection.on_commit(lambda: print("committed", *ids, flush=True))
    return result


with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    print("backend", cursor.fetchone()[0], flush=True)
print("ready", flush=True)
while gate and not os.path.exists(gate):
    time.sleep(0.005)
with connection.execute_wrapper(watch), audit_context(source="job:adherence.dispatch_due_doses"):
    print("sent", doses_dispatch(batch=batch), flush=True)
"""


def start_dispatcher(*, delay: float, hang_at: int = 0, batch: int = BATCH, gate: Path | None = None):
    script = DISPATCHER.format(root=str(ROOT), src=str(ROOT / "src"))
    name = connection.settings_dict["NAME"]
    env = {**os.environ, "SHIFA_DB_NAME": name}
    args = [name, str(delay), str(hang_at), str(batch), str(gate or "")]
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe to drain: warnings go with the lines read
        text=True,
    )


def read_until_ready(process) -> int:
    """The dispatcher's database backend, once it is ready to dispatch."""
    backend = None
    while True:
        line = process.stdout.readline()
        assert line, "the dispatcher ended before it was ready"
        if line.startswith("backend "):
            backend = int(line.split()[1])
        if line.strip() == "ready":
            return backend


def read_until_stuck(process) -> list[str]:
    """The dispatcher's output up to the moment it is stuck inside ``notify`` (holding its batch)."""
    lines = []
    while not (lines and lines[-1].startswith("hanging ")):
        line = process.stdout.readline()
        assert line, "the dispatcher ended:\n" + "\n".join(lines)[-3000:]
        lines.append(line.strip())
    return lines


def wait_for(predicate, *, timeout: float = 15.0, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def sent_count(doses) -> int:
    return Dose.unscoped.filter(pk__in=[d.pk for d in doses], status=DoseStatus.SENT).count()


def locked_now(doses) -> set[int]:
    """The due doses another transaction holds locked (the batch being dispatched): those this one cannot lock."""
    ids = [d.pk for d in doses]
    with transaction.atomic():
        due = set(Dose.unscoped.filter(pk__in=ids, status=DoseStatus.DUE).values_list("pk", flat=True))
        free = set(
            Dose.unscoped.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=DoseStatus.DUE)
            .values_list("pk", flat=True)
        )
    return due - free


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


def key(dose) -> str:
    return f"dose:{dose.external_id}"


def committed(output: str) -> list[list[int]]:
    """The doses of each batch the dispatcher committed, in order."""
    return [
        [int(i) for i in line.split()[1:]] for line in output.splitlines() if line.startswith("committed ")
    ]


def delivery_jobs(deliveries) -> Counter:
    """How many delivery jobs name each of ``deliveries``: one each (``notifications.deliver``), or many to a
    job (``notifications.deliver_many``)."""
    ours = {d.pk for d in deliveries}
    named = Counter()
    for job in ProcrastinateJob.objects.filter(task_name__startswith="notifications.deliver"):
        ids = job.args.get("delivery_ids") or [job.args.get("delivery_id")]
        named.update(i for i in ids if i in ours)  # the job table outlives the flush between tests
    return named


def assert_each_sent_once(made) -> None:
    """Every due dose sent, with exactly one reminder under its key, to its recipient, with one delivery job per
    delivery waiting to go out; the doses not yet due left alone."""
    ids = [d.pk for d in made.doses]
    assert Dose.unscoped.filter(pk__in=ids, status=DoseStatus.SENT).count() == len(ids)
    assert all(d.status == DoseStatus.DUE for d in Dose.unscoped.filter(pk__in=[d.pk for d in made.later]))
    keys = [key(d) for d in made.doses]
    reminders = list(Notification.objects.filter(idempotency_key__in=keys))
    per_key = Counter(n.idempotency_key for n in reminders)
    assert per_key == Counter(keys)  # each key once, none missing
    assert not Notification.objects.filter(kind="dose.due").exclude(idempotency_key__in=keys).exists()
    by_key = {n.idempotency_key: n for n in reminders}
    assert all(by_key[key(d)].recipient_id == made.recipient_of(d).pk for d in made.doses)
    deliveries = list(Delivery.objects.filter(notification__in=reminders))
    assert Counter(d.channel for d in deliveries) == {"in_app": len(keys), "push": len(keys)}
    assert delivery_jobs(deliveries) == Counter(
        d.pk for d in deliveries if d.status in ("pending", "deferred")
    )


def test_a_dispatcher_killed_mid_batch_then_run_again_sends_every_dose_once():
    now = timezones.now().replace(second=0, microsecond=0)
    made = make_due_doses(
        patients=20, lines=3, due=[now - dt.timedelta(hours=1), now - dt.timedelta(minutes=1)]
    )
    assert len(made.doses) == 120
    first_batch, second_batch = made.doses[:BATCH], made.doses[BATCH : 2 * BATCH]

    # reminders slowed down; stuck for good with the second batch's reminders written, before it is marked sent
    worker = start_dispatcher(delay=0.01, hang_at=2)
    try:
        backend = read_until_ready(worker)
        before_kill = read_until_stuck(worker)
        wait_for(lambda: sent_count(made.doses) == BATCH)  # one batch committed, not all
        in_flight = locked_now(made.doses)
        worker.send_signal(signal.SIGKILL)
        rest, _ = worker.communicate(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    output = "\n".join(before_kill) + "\n" + rest
    assert committed(output) == [[d.pk for d in first_batch]], output[-3000:]
    assert before_kill[-1] == "hanging " + " ".join(str(d.pk) for d in second_batch)
    assert in_flight == {d.pk for d in second_batch}  # the batch in flight, locked until the end
    wait_for(lambda: backend_gone(backend))  # PostgreSQL saw the client die and rolled its transaction back

    # the first batch committed; the one in flight rolled back: its doses due again, its reminders gone
    assert set(
        Dose.unscoped.filter(pk__in=[d.pk for d in made.doses], status=DoseStatus.SENT).values_list(
            "pk", flat=True
        )
    ) == {d.pk for d in first_batch}
    assert locked_now(made.doses) == set()
    assert set(Notification.objects.values_list("idempotency_key", flat=True)) == {
        key(d) for d in first_batch
    }
    assert (
        Delivery.objects.count() == 2 * BATCH
    )  # the killed batch's deliveries (and their jobs) went with it
    killed_at = timezones.now()

    # the job runs again (the next minute's, or the same one retried): the rest, and only the rest
    assert doses_dispatch() == len(made.doses) - BATCH
    assert doses_dispatch() == 0
    assert_each_sent_once(made)
    resent = Notification.objects.filter(idempotency_key__in=[key(d) for d in second_batch])
    assert resent.count() == BATCH and all(n.created_at >= killed_at for n in resent)
    assert all(
        n.created_at < killed_at
        for n in Notification.objects.filter(idempotency_key__in=[key(d) for d in first_batch])
    )


def test_two_dispatchers_at_once_share_the_doses_and_send_each_once(tmp_path):
    now = timezones.now().replace(second=0, microsecond=0)
    made = make_due_doses(
        patients=20, lines=3, due=[now - dt.timedelta(hours=1), now - dt.timedelta(minutes=1)]
    )
    gate = tmp_path / "go"
    workers = [start_dispatcher(delay=0.01, batch=10, gate=gate) for _ in range(2)]
    try:
        for worker in workers:
            read_until_ready(worker)
        gate.touch()  # both start dispatching at the same moment
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (output, _) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    sent = [
        int(line.split()[1])
        for output, _errors in outputs
        for line in output.splitlines()
        if line.startswith("sent ")
    ]
    shares = [[pk for batch in committed(output) for pk in batch] for output, _errors in outputs]
    assert sum(sent) == len(made.doses) and all(sent), sent  # both took part
    assert [len(share) for share in shares] == sent
    assert not set(shares[0]) & set(shares[1])  # no dose marked sent by both
    assert set(shares[0]) | set(shares[1]) == {d.pk for d in made.doses}
    assert doses_dispatch() == 0
    assert_each_sent_once(made)
