"""Reads from a streaming replica (issue 14; shifa.core.replica, docs/decisions/0035-read-replica.md), with two real
PostgreSQL servers on loopback: a private primary holding a copy of the suite's test database, and a hot standby
made from it with ``pg_basebackup -R`` that streams its WAL. ``shifa run`` serves with ``DATABASE_URL`` on the
primary and ``DATABASE_REPLICA_URL`` on the standby.

While the standby's replay is paused, whoever wrote reads their own write (from the primary) and everyone else
reads the standby's older state, which shows that their reads really go there. Once it has replayed, everyone
reads there again. A standby that is stopped costs no request: reads go to the primary until it is back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest

from shifa.demo.constants import DEMO_PASSWORD, DEMO_TOTP_SECRET
from tests.support.private_postgres import PrivatePostgres, ShifaProcess

pytestmark = pytest.mark.heavy(70)

PATIENT = "patient1@demo.shifa.jo"  # has a conversation with the Amman clinic in the demo data
DOCTOR = "doctor@demo.shifa.jo"  # of the Amman clinic's care team
#: The back-off of shifa.core.replica before it probes a replica that failed, with room for a slow machine.
BACK_AGAIN_S = 40.0


@dataclass
class Servers:
    primary: PrivatePostgres
    standby: PrivatePostgres
    shifa: ShifaProcess

    def caught_up(self, timeout: float = 60) -> None:
        """Waits until the standby has replayed everything the primary has written so far."""
        with self.primary.connect("shifa") as db:
            (position,) = db.execute("SELECT pg_current_wal_lsn()").fetchone()
        deadline = time.monotonic() + timeout
        with self.standby.connect("shifa") as db:
            while time.monotonic() < deadline:
                (done,) = db.execute("SELECT pg_last_wal_replay_lsn() >= %s", (position,)).fetchone()
                if done:
                    return
                time.sleep(0.1)
        raise AssertionError(f"the standby did not replay {position} within {timeout} s")

    def pause_replay(self) -> None:
        with self.standby.connect("shifa") as db:
            db.execute("SELECT pg_wal_replay_pause()")
            deadline = time.monotonic() + 30
            while db.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                assert time.monotonic() < deadline, "the standby's replay did not pause"
                time.sleep(0.05)

    def resume_replay(self) -> None:
        with self.standby.connect("shifa") as db:
            db.execute("SELECT pg_wal_replay_resume()")
        self.caught_up()


@pytest.fixture
def servers() -> Iterator[Servers]:
    from django.db import connection

    primary = PrivatePostgres(prefix="shifa-replica-primary-")
    standby = PrivatePostgres(prefix="shifa-replica-standby-")
    shifa = None
    try:
        primary.start_with_copy_of(connection.settings_dict, "shifa")
        standby.init_standby_of(primary)
        standby.start()
        with standby.connect("shifa") as db:
            assert db.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        shifa = ShifaProcess(
            primary.url("shifa"), primary.folder, extra_env={"DATABASE_REPLICA_URL": standby.url("shifa")}
        )
        shifa.wait_healthy(timeout=240)
        yield Servers(primary, standby, shifa)
    finally:
        if shifa is not None:
            shifa.stop()
        standby.destroy()
        primary.destroy()


def _sign_in(base: str, email: str) -> httpx.Client:
    first = httpx.post(
        f"{base}/api/v1/auth/tokens", json={"email": email, "password": DEMO_PASSWORD}, timeout=30
    )
    if first.status_code == 202:  # staff finish with their authenticator
        first = httpx.post(
            f"{base}/api/v1/auth/tokens/mfa",
            json={"mfa_token": first.json()["mfa_token"], "code": pyotp.TOTP(DEMO_TOTP_SECRET).now()},
            timeout=30,
        )
    assert first.status_code == 201, first.text
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {first.json()['access_token']}"}, timeout=30
    )


def _bodies(client: httpx.Client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return [item["body"] for item in response.json()["items"]]


@pytest.mark.django_db  # the suite's test database, copied into the private primary
def test_reads_go_to_the_replica_except_a_users_own_writes_not_yet_replayed_and_survive_it_stopping(servers):
    base = servers.shifa.base
    patient, doctor = _sign_in(base, PATIENT), _sign_in(base, DOCTOR)
    conversation = patient.get("/api/v1/me/conversations").json()["items"][0]
    mine = f"/api/v1/me/conversations/{conversation['id']}/messages"
    theirs = f"/api/v1/clinics/{conversation['clinic']['id']}/conversations/{conversation['id']}/messages"
    servers.caught_up()

    # The standby stops replaying: the patient's message reaches the primary only.
    servers.pause_replay()
    question = f"Is my dose right? {uuid.uuid4()}"
    assert patient.post(mine, json={"body": question}).status_code == 201
    assert question in _bodies(patient, mine)  # read-your-writes: the patient reads from the primary
    assert question not in _bodies(doctor, theirs)  # the doctor reads from the replica, which is behind
    assert question not in _bodies(doctor, theirs)

    # Once the standby has replayed it, the doctor sees it there.
    servers.resume_replay()
    assert question in _bodies(doctor, theirs)
    assert question in _bodies(patient, mine)

    # The patient's write has been replayed: the patient reads from the replica again, and now the doctor's own
    # answer is the one the replica has not replayed.
    servers.pause_replay()
    answer = f"Yes, take it with food. {uuid.uuid4()}"
    assert doctor.post(theirs, json={"body": answer}).status_code == 201
    assert answer in _bodies(doctor, theirs)
    assert answer not in _bodies(patient, mine)
    servers.resume_replay()
    assert answer in _bodies(patient, mine)

    # The standby stops: every read is answered, from the primary, without waiting for the standby each time.
    servers.standby.stop("fast")
    later = f"And the evening dose? {uuid.uuid4()}"
    assert patient.post(mine, json={"body": later}).status_code == 201
    timings = []
    for client, path in [(doctor, theirs), (patient, mine)] * 5:
        started = time.monotonic()
        assert later in _bodies(client, path)
        timings.append(time.monotonic() - started)
    assert max(timings[1:]) < 1.5, timings  # only the first request waited for the standby's connection
    log = servers.shifa.log.read_text(errors="replace")
    assert log.count("The read replica cannot be reached") == 1, servers.shifa.tail()
    assert "Traceback" not in log, servers.shifa.tail()

    # The standby is back: once the back-off is over, reads go to it again (its replay paused shows it).
    servers.standby.start()
    servers.caught_up()
    servers.pause_replay()
    last = f"Thank you. {uuid.uuid4()}"
    assert patient.post(mine, json={"body": last}).status_code == 201
    deadline = time.monotonic() + BACK_AGAIN_S
    while last in _bodies(doctor, theirs):
        assert time.monotonic() < deadline, "reads did not go back to the replica after it returned"
        time.sleep(0.5)
    assert last in _bodies(patient, mine)
    servers.resume_replay()
    assert last in _bodies(doctor, theirs)
    log = servers.shifa.log.read_text(errors="replace")
    assert log.count("The read replica answers again") == 1, servers.shifa.tail()
