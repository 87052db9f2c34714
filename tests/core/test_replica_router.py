"""The replica router's decisions (shifa.core.replica), without a replica: where reads and writes go inside and
outside a request, in a transaction, after a write, while the replica is away, and when a user's own write has
not reached it yet. The two real servers are in tests/faults/test_replica.py."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.db import connections as real_connections
from django.http import HttpResponse
from django.test import RequestFactory

from shifa.core import replica
from shifa.core.replica import PRIMARY, REPLICA, ReplicaMiddleware, ReplicaRouter, RequestReads


class FakeCursor:
    def __init__(self, server: FakeReplica) -> None:
        self.server = server

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        self.server.queries.append(sql)
        if self.server.down:
            raise OperationalError("connection refused")

    def fetchone(self):
        return (self.server.in_recovery, self.server.replayed)


class FakeReplica:
    """The replica's connection as the router and the middleware use it."""

    def __init__(self) -> None:
        self.down = False
        self.connects = 0
        self.queries: list[str] = []
        self.in_recovery = True
        self.replayed = "0/0"
        self.errors_occurred = False
        self.closed = 0

    def close(self) -> None:
        self.closed += 1

    def ensure_connection(self) -> None:
        self.connects += 1
        if self.down:
            raise OperationalError("connection refused")

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)


class Connections(dict):
    pass


@pytest.fixture
def servers(monkeypatch):
    """The primary (the test database, or a stand-in without one) and a fake replica; the process starts with the
    replica up and nothing replayed seen."""
    fake = FakeReplica()
    primary = SimpleNamespace(in_atomic_block=False)
    monkeypatch.setattr(replica, "connections", Connections({PRIMARY: primary, REPLICA: fake}))
    monkeypatch.setattr(replica, "_down", False)
    monkeypatch.setattr(replica, "_retry_at", 0.0)
    monkeypatch.setattr(replica, "_probing", False)
    monkeypatch.setattr(replica, "_replayed", 0)
    cache.clear()
    return SimpleNamespace(primary=primary, replica=fake)


@pytest.fixture
def in_request():
    reads = RequestReads(replica=True)
    token = replica._reads.set(reads)
    yield reads
    replica._reads.reset(token)


class Model:
    pass


def test_reads_outside_a_request_go_to_the_primary(servers):
    router = ReplicaRouter()
    assert router.db_for_read(Model) == PRIMARY
    assert servers.replica.connects == 0


def test_reads_of_a_request_that_allows_it_go_to_the_replica(servers, in_request):
    router = ReplicaRouter()
    assert router.db_for_read(Model) == REPLICA
    assert router.db_for_read(Model) == REPLICA
    assert in_request.used and servers.replica.connects == 1  # the connection is checked once per request


def test_a_request_that_does_not_allow_it_reads_from_the_primary(servers, in_request):
    in_request.replica = False
    assert ReplicaRouter().db_for_read(Model) == PRIMARY
    assert not in_request.used


def test_reads_in_a_transaction_go_to_the_primary(servers, in_request):
    servers.primary.in_atomic_block = True
    assert ReplicaRouter().db_for_read(Model) == PRIMARY
    servers.primary.in_atomic_block = False
    assert ReplicaRouter().db_for_read(Model) == REPLICA


def test_writes_go_to_the_primary_and_the_rest_of_the_request_reads_there(servers, in_request):
    router = ReplicaRouter()
    assert router.db_for_read(Model) == REPLICA
    written = Model()
    assert router.db_for_write(Model, instance=written) == PRIMARY
    assert router.db_for_read(Model) == PRIMARY
    assert in_request.wrote and in_request.written == [written]


def test_writes_outside_a_request_go_to_the_primary(servers):
    assert ReplicaRouter().db_for_write(Model) == PRIMARY


def test_migrations_run_on_the_primary_only():
    router = ReplicaRouter()
    assert router.allow_migrate(PRIMARY, "records") is True
    assert router.allow_migrate(REPLICA, "records") is False


def test_rows_of_both_databases_may_be_related():
    one, other = Model(), Model()
    one._state = SimpleNamespace(db=PRIMARY)
    other._state = SimpleNamespace(db=REPLICA)
    assert ReplicaRouter().allow_relation(one, other) is True


def test_a_replica_that_cannot_be_reached_is_passed_over_and_probed_in_the_background(
    servers, in_request, caplog
):
    servers.replica.down = True
    router = ReplicaRouter()
    assert router.db_for_read(Model) == PRIMARY
    assert not in_request.replica and servers.replica.connects == 1
    assert caplog.text.count("cannot be reached") == 1

    # the next requests read from the primary without trying it during the back-off
    assert replica._may_read_replica(RequestFactory().get("/"), RequestReads()) is False
    again = RequestReads(replica=True)
    token = replica._reads.set(again)
    try:
        assert router.db_for_read(Model) == PRIMARY
    finally:
        replica._reads.reset(token)
    assert servers.replica.connects == 1

    # after the back-off a probe tries it in the background, while the request reads from the primary
    replica._retry_at = 0.0
    assert replica._may_read_replica(RequestFactory().get("/"), RequestReads()) is False
    _probed(servers, connects=2)
    assert replica._down and caplog.text.count("cannot be reached") == 1  # still down: logged once

    # back: the next probe finds it, and reads go to it again
    servers.replica.down = False
    replica._retry_at = 0.0
    assert replica._may_read_replica(RequestFactory().get("/"), RequestReads()) is False
    _probed(servers, connects=3)
    assert not replica._down and "answers again" in caplog.text
    assert replica._may_read_replica(RequestFactory().get("/"), RequestReads()) is True
    in_request.replica = True
    assert router.db_for_read(Model) == REPLICA


def _probed(servers, connects: int) -> None:
    deadline = time.monotonic() + 10
    while replica._probing or servers.replica.connects < connects:
        assert time.monotonic() < deadline, "the probe did not run"
        time.sleep(0.01)
    assert servers.replica.connects == connects and servers.replica.closed == connects - 1


def _real_primary() -> None:
    """The primary's WAL position from the test database; its test transaction is not the request's."""
    replica.connections[PRIMARY] = SimpleNamespace(
        in_atomic_block=False, cursor=real_connections[PRIMARY].cursor
    )


def _user(pk: int):
    return SimpleNamespace(pk=pk, is_authenticated=True)


def _call(method: str, user, view=None):
    """One request through ReplicaMiddleware; ``view`` runs where the view would, and may read or write."""
    middleware = None

    def get_response(request):
        middleware.process_view(request, None, (), {})
        result = view(request) if view else None
        return result if isinstance(result, HttpResponse) else HttpResponse()

    middleware = ReplicaMiddleware(get_response)
    request = getattr(RequestFactory(), method.lower())("/")
    request.user = user or SimpleNamespace(pk=None, is_authenticated=False)
    return middleware(request)


def _where(seen: list):
    def view(request):
        seen.append(ReplicaRouter().db_for_read(Model))

    return view


@pytest.mark.django_db
def test_a_users_reads_stay_on_the_primary_until_the_replica_has_replayed_their_write(servers):
    servers.replica.replayed = "0/0"
    _real_primary()
    seen: list[str] = []

    _call("POST", _user(7))
    (position,) = [v for k, v in cache.get_many([replica._pin_key(7)]).items()]
    assert replica._lsn(position) > 0

    _call("GET", _user(7), _where(seen))  # the replica is behind the write
    _call("GET", _user(8), _where(seen))  # someone else reads there all the same
    _call("GET", None, _where(seen))  # and so does an anonymous reader
    assert seen == [PRIMARY, REPLICA, REPLICA]
    assert len(servers.replica.queries) == 1  # only the pinned user's request asked the replica

    servers.replica.replayed = position
    _call("GET", _user(7), _where(seen))
    _call("GET", _user(7), _where(seen))
    assert seen[3:] == [REPLICA, REPLICA]
    assert len(servers.replica.queries) == 2  # the replayed position is remembered


@pytest.mark.django_db
def test_a_safe_request_that_wrote_pins_its_user_too(servers):
    _real_primary()
    seen: list[str] = []

    def reads_then_writes(request):
        seen.append(ReplicaRouter().db_for_read(Model))
        ReplicaRouter().db_for_write(Model)
        seen.append(ReplicaRouter().db_for_read(Model))

    _call("GET", _user(9), reads_then_writes)
    assert seen == [REPLICA, PRIMARY]
    assert cache.get(replica._pin_key(9)) is not None


@pytest.mark.django_db
def test_the_users_whose_rows_a_request_wrote_are_pinned(servers):
    """A sign-in by token has no signed-in user at its end: the token's owner is pinned from the written row."""
    from shifa.accounts.models import User

    _real_primary()
    new_user = User(pk=31)

    def signs_in(request):
        ReplicaRouter().db_for_write(Model, instance=SimpleNamespace(user_id=30))
        ReplicaRouter().db_for_write(User, instance=new_user)

    _call("POST", None, signs_in)
    assert cache.get(replica._pin_key(30)) is not None
    assert cache.get(replica._pin_key(31)) is not None


def test_unsafe_requests_read_from_the_primary(servers):
    seen: list[str] = []
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        _call(method, None, _where(seen))
    assert seen == [PRIMARY] * 4


def test_a_read_cut_by_the_replica_going_away_is_answered_again_from_the_primary(servers):
    seen: list[str] = []

    def view(request):
        seen.append(ReplicaRouter().db_for_read(Model))
        if seen[-1] == REPLICA:
            servers.replica.errors_occurred = True  # what Django marks when a query on it failed
            return HttpResponse(status=503)
        return HttpResponse("from the primary")

    response = _call("GET", None, view)
    assert seen == [REPLICA, PRIMARY]
    assert response.status_code == 200 and response.content == b"from the primary"
    assert not replica._available()
