"""PostgreSQL restarts while patients write (issue 13, faults): the server answers 503 with ``Retry-After`` while the
database is away, never a 500; once it is back the same web process serves again within seconds, without a
restart, and its in-process job worker runs jobs again. A client that retries with the same ``Idempotency-Key``
ends up with each write stored exactly once, and no write is stored in part.

The database is a private PostgreSQL server (pgserver's binaries, a temporary folder, its own TCP port), which starts
as a copy of the suite's test database (migrated, with the reference data): the suite's shared server is never
restarted. ``shifa run`` serves from it with the demo data, its job worker in the same process, as ``make run`` does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from shifa.demo.constants import DEMO_PASSWORD
from tests.support.private_postgres import PrivatePostgres, ShifaProcess

pytestmark = pytest.mark.heavy(50)

PATIENT = "patient1@demo.shifa.jo"  # has a conversation with the Amman clinic in the demo data
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"

#: How long the database stays down (seconds) after each stop: long enough for requests to meet it down.
OUTAGE_S = 2.0
#: After the database is back, every write must have gone through and /healthz be ok within this many seconds.
RECOVERY_S = 15.0
#: How long the writes go on after the database is back, before the next stop or the end.
AFTER_S = 3.0


@pytest.fixture
def platform() -> Iterator[tuple[PrivatePostgres, ShifaProcess]]:
    """A private PostgreSQL holding a copy of the suite's test database, and ``shifa run`` serving from it."""
    from django.db import connection

    postgres = PrivatePostgres()
    shifa = None
    try:
        postgres.start_with_copy_of(connection.settings_dict, "shifa")
        shifa = ShifaProcess(postgres.url("shifa"), postgres.folder)
        shifa.wait_healthy(timeout=240)
        yield postgres, shifa
    finally:
        if shifa is not None:
            shifa.stop()
        postgres.destroy()


@dataclass
class Write:
    """One write a client wants stored once, and what the server answered to each attempt."""

    key: str
    kind: str  # "message" or "readings"
    body: dict
    answers: list[tuple[float, int]] = field(default_factory=list)  # (sent at, monotonic clock; status)
    result: dict | None = None


@dataclass
class Load:
    """Patients' apps writing, each write retried with its key until it is stored; ``pause`` holds them between
    two writes."""

    base: str
    token: str
    conversation_id: str
    writes: list[Write] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)  # cleared: the clients pause
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0
    busy: int = 0  # clients sending a write now
    readings_before: int = 0  # the last home reading of the demo data

    def next_write(self) -> Write:
        with self.lock:
            self.counter += 1
            n = self.counter
        key = f"pgrestart-{n}-{uuid.uuid4()}"
        if n % 2:
            write = Write(key, "message", {"body": f"Message {n} while the database may restart"})
        else:
            taken = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=n)
            write = Write(
                key,
                "readings",
                {
                    "readings": {SYSTOLIC: 100 + n % 50, DIASTOLIC: 60 + n % 30},
                    "taken_at": taken.isoformat().replace("+00:00", "Z"),
                },
            )
        with self.lock:
            self.writes.append(write)
        return write

    def path(self, write: Write) -> str:
        if write.kind == "message":
            return f"/api/v1/me/conversations/{self.conversation_id}/messages"
        return "/api/v1/me/readings"

    def send_until_stored(self, client: httpx.Client, write: Write, deadline: float) -> None:
        while time.monotonic() < deadline:
            sent_at = time.monotonic()
            try:
                response = client.post(
                    self.path(write), json=write.body, headers={"Idempotency-Key": write.key}, timeout=45
                )
            except httpx.HTTPError as exc:  # the web process itself must keep answering
                with self.lock:
                    self.problems.append(f"{write.key}: {type(exc).__name__}: {exc}")
                time.sleep(0.2)
                continue
            write.answers.append((sent_at, response.status_code))
            if response.status_code in (200, 201):
                write.result = response.json()
                return
            content_type = response.headers.get("Content-Type", "")
            if (
                response.status_code != 503
                or not content_type.startswith("application/problem+json")
                or not response.headers.get("Retry-After")
            ):
                with self.lock:
                    self.problems.append(
                        f"{write.key}: {response.status_code} {content_type} "
                        f"Retry-After={response.headers.get('Retry-After')!r} {response.text[:300]}"
                    )
            time.sleep(0.2)  # a real client waits Retry-After; the test keeps the outage short instead

    def run(self, deadline_after_stop: float) -> None:
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}) as client:
            while not self.stop.is_set():
                if not self.go.wait(timeout=0.1):
                    continue
                with self.lock:
                    self.busy += 1
                try:
                    write = self.next_write()
                    self.send_until_stored(client, write, deadline=time.monotonic() + deadline_after_stop)
                finally:
                    with self.lock:
                        self.busy -= 1

    def pause(self) -> None:
        """Hold the clients and wait for the writes in flight (every connection of the server is then idle)."""
        self.go.clear()
        deadline = time.monotonic() + 60
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self.busy, "writes still in flight after a minute"


def _sign_in(base: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/tokens", json={"email": PATIENT, "password": DEMO_PASSWORD}, timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def _stored(load: Load, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for w in list(load.writes) if w.result is not None) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} writes stored within {timeout} s: {load.problems[:5]}")


@pytest.mark.django_db  # the suite's test database, copied into the private server
def test_writes_survive_a_database_restart_once_each_and_the_server_recovers_by_itself(platform):
    postgres, shifa = platform
    token = _sign_in(shifa.base)
    conversations = httpx.get(
        f"{shifa.base}/api/v1/me/conversations", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    load = Load(shifa.base, token, conversations["items"][0]["id"])
    with postgres.connect("shifa") as db:
        load.readings_before = db.execute("SELECT coalesce(max(id), 0) FROM adherence_reading").fetchone()[0]

    clients = [threading.Thread(target=load.run, args=(60,), daemon=True) for _ in range(4)]
    load.go.set()
    for client in clients:
        client.start()
    back: list[tuple[str, float]] = []  # (how it stopped, when it was back)
    stops: list[float] = []
    try:
        # An administrator's restart in the middle of writes, then a crash while the server's connections are idle
        # (those it keeps open are then all dead when the database is back).
        for mode, busy in (("fast", True), ("immediate", False)):
            _stored(load, count=sum(1 for w in list(load.writes) if w.result) + 8, timeout=30)
            if not busy:
                load.pause()
            stops.append(time.monotonic())
            postgres.stop(mode)
            time.sleep(OUTAGE_S)
            postgres.start()
            back.append((mode, time.monotonic()))
            load.go.set()
            # the same web process stores writes again, without a restart
            _stored(load, count=len(load.writes) + 8, timeout=RECOVERY_S)
            time.sleep(max(0.0, back[-1][1] + AFTER_S - time.monotonic()))
    finally:
        load.stop.set()
        for client in clients:
            client.join(timeout=70)
        stops.append(time.monotonic())
    assert shifa.process.poll() is None, shifa.tail()

    # While the database was away: 503 problem+json with Retry-After, never a 500, and the web process answered.
    assert not load.problems, "\n".join(load.problems[:10]) + "\n" + shifa.tail()
    # Requests were sent while the database was down (the busy restart): each waited for it (the pool) or was
    # answered 503 when its query was cut, never 500 (above), and every one was stored in the end (below).
    down = (stops[0], back[0][1])
    assert any(down[0] <= sent <= down[1] for w in load.writes for sent, _ in w.answers), (
        "no request was sent while the database was down"
    )
    # Once it was back, no request failed on a connection left over from before the restart (the pool checks
    # each one it hands out).
    for (mode, up), next_stop in zip(back, stops[1:], strict=True):
        failed = sorted(
            (round(sent - up, 2), status)
            for w in load.writes
            for sent, status in w.answers
            if up <= sent < next_stop - 0.5
            and status >= 300  # (the next stop meets requests sent just before it)
        )
        assert failed == [], f"after the {mode} restart, (seconds after it was back, answer): {failed}"
    # Every write was stored in the end (retried with its key).
    assert [w.key for w in load.writes if w.result is None] == []

    health = shifa.wait_healthy(timeout=RECOVERY_S)
    assert health["checks"] == {"database": "ok", "job_queue": "ok", "worker": "ok", "redis": "not_used"}
    _check_stored_once_and_whole(postgres, load)
    _check_worker_runs_jobs_again(postgres, shifa)


def _check_stored_once_and_whole(postgres: PrivatePostgres, load: Load) -> None:
    messages = [w for w in load.writes if w.kind == "message"]
    readings = [w for w in load.writes if w.kind == "readings"]
    with postgres.connect("shifa") as db:
        (user_id,) = db.execute("SELECT id FROM accounts_user WHERE email = %s", (PATIENT,)).fetchone()
        conversation = db.execute(
            "SELECT id, last_message_at FROM telehealth_conversation WHERE external_id = %s",
            (load.conversation_id,),
        ).fetchone()

        # Messages: one row per key (the key becomes the message's client_id), the one the client was answered.
        rows = db.execute(
            "SELECT client_id, external_id::text, id, created_at FROM telehealth_message "
            "WHERE conversation_id = %s AND sender_id = %s",
            (conversation[0], user_id),
        ).fetchall()
        by_client_id: dict[str, list] = {}
        for client_id, external_id, pk, created_at in rows:
            by_client_id.setdefault(client_id, []).append((external_id, pk, created_at))
        ours = {hashlib.sha256(w.key.encode()).hexdigest(): w for w in messages}
        for client_id, write in ours.items():
            found = by_client_id.get(client_id, [])
            assert [row[0] for row in found] == [write.result["id"]], (write.key, write.answers, found)
        assert set(by_client_id) - set(ours) <= {"demo-1"}, "messages nobody was answered about"

        # Nothing half written: each message moved the conversation and the sender's read mark, queued its notice
        # and was audited, in the one transaction.
        pks = [by_client_id[client_id][0][1] for client_id in ours]
        last = max(by_client_id[client_id][0][2] for client_id in ours)
        assert conversation[1] >= last - dt.timedelta(seconds=1)
        jobs = dict(
            db.execute(
                "SELECT (args->>'message_id')::bigint, count(*) FROM procrastinate_jobs "
                "WHERE task_name = 'telehealth.notify_unread' GROUP BY 1"
            ).fetchall()
        )
        audited = dict(
            db.execute(
                "SELECT entity_id::bigint, count(*) FROM audit_event WHERE table_name = 'telehealth_message' "
                "AND operation = 'INSERT' GROUP BY 1"
            ).fetchall()
        )
        assert {pk: jobs.get(pk) for pk in pks} == dict.fromkeys(pks, 1)
        assert {pk: audited.get(pk) for pk in pks} == dict.fromkeys(pks, 1)
        (mark,) = db.execute(
            "SELECT message_id FROM telehealth_readmark WHERE conversation_id = %s AND user_id = %s",
            (conversation[0], user_id),
        ).fetchone()
        assert mark == max(pks)

        # Readings: the key's stored answer, and both values of each pair, once.
        stored = dict(
            db.execute(
                "SELECT key, status_code FROM core_idempotentrequest WHERE user_id = %s", (user_id,)
            ).fetchall()
        )
        assert {w.key: stored.get(w.key) for w in readings} == {w.key: 201 for w in readings}
        assert set(stored) - {w.key for w in load.writes} == set(), "keys claimed by no write"
        home = db.execute(
            "SELECT r.external_id::text, r.taken_at FROM adherence_reading r JOIN records_patient p "
            "ON p.id = r.patient_id WHERE p.user_id = %s AND r.source = 'patient' AND r.id > %s",
            (user_id, load.readings_before),
        ).fetchall()
        expected = sorted(item["id"] for w in readings for item in w.result["items"])
        assert sorted(row[0] for row in home) == expected
        assert len(expected) == 2 * len(readings)


def _check_worker_runs_jobs_again(postgres: PrivatePostgres, shifa: ShifaProcess) -> None:
    """The notices of the messages (queued half a minute ahead) are made due now: the worker, reconnected after
    the restarts, runs them, those queued before the restarts as well as after."""
    with postgres.connect("shifa") as db:
        db.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() "
            "WHERE task_name = 'telehealth.notify_unread' AND status = 'todo'"
        )
        deadline = time.monotonic() + RECOVERY_S
        while time.monotonic() < deadline:
            left = db.execute(
                "SELECT status, count(*) FROM procrastinate_jobs WHERE task_name = 'telehealth.notify_unread' "
                "GROUP BY 1"
            ).fetchall()
            if set(dict(left)) <= {"succeeded"}:
                return
            time.sleep(0.25)
        workers = db.execute("SELECT id, last_heartbeat FROM procrastinate_workers").fetchall()
    raise AssertionError(f"the worker did not run the queued jobs: {left}, workers {workers}\n{shifa.tail()}")


def _django_error(name: str):
    def lost(**kwargs):
        import django.db

        raise getattr(django.db, name)("server closed the connection unexpectedly")

    return lost


def _job_queue_error(**kwargs):
    """What a job deferred in the request raises when the connection is gone (the job queue's own error)."""
    from procrastinate.exceptions import ConnectorException

    raise ConnectorException() from psycopg.OperationalError("the connection is closed")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "lost",
    [_django_error("OperationalError"), _django_error("InterfaceError"), _job_queue_error],
    ids=["operational", "interface", "job-queue"],
)
def test_a_database_lost_in_the_middle_of_a_request_is_a_503_to_retry(cast, api, monkeypatch, lost):
    """What the clients above may meet, without the servers: the connection dies once the caller is signed in."""
    from shifa.adherence import actions

    monkeypatch.setattr(actions, "readings_record", lost)
    response = api(cast.patient_user).post(
        "/api/v1/me/readings",
        {"readings": {SYSTOLIC: 120, DIASTOLIC: 80}},
        headers={"Idempotency-Key": "k-1"},
    )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json" and response["Retry-After"] == "5"
    assert response.json()["code"] == "service_unavailable"
