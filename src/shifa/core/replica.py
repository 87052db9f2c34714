"""Reads from a PostgreSQL streaming replica (``DATABASE_REPLICA_URL``), with read-your-writes for the acting user
(docs/decisions/0035-read-replica.md).

The replica is opt-in per request: ``ReplicaMiddleware`` lets the reads of a safe request (GET, HEAD, OPTIONS)
go there once the caller is known; everything else — writes, unsafe requests, the job worker, device messages,
management commands, WebSockets, migrations — uses the primary, because nothing outside a request turns it on.
Inside a request the primary still answers every read made in a transaction, and every read after the request's
first write.

Read-your-writes follows the primary's WAL position, not a timer: at the end of a request that wrote, the
primary's current position is kept in the cache for the signed-in user (and for the users whose own rows it
wrote: a sign-up, a sign-in by token). That user's reads stay on the primary until the replica has replayed
that position, however long it lags. Other people may read data a little behind, as far as the replica lags.

A replica that cannot be reached costs no request: the request that finds it away reads from the primary
(waiting at most ``CONNECT_SECONDS`` for it, or answering a read it cut short again from the primary), and the
following ones read from the primary without trying it, until a background probe, every ``BACKOFF_SECONDS``,
finds it answering again.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import Error, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: How long a user's reads wait for the replica to replay their last write before the pin is forgotten.
PIN_SECONDS = 10 * 60
#: After the replica failed, reads go to the primary at least this long before it is tried again (in the background).
BACKOFF_SECONDS = 10.0
#: How long a request waits for a connection of the replica before reading from the primary instead.
CONNECT_SECONDS = 2


def replica_database(primary: dict, url: str) -> dict:
    """The ``replica`` database settings: the primary's options (pool, health checks) for the server at ``url``,
    with short waits, since a replica that does not answer is passed over rather than waited for."""
    import dj_database_url

    parsed = dj_database_url.parse(url)
    if parsed["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("DATABASE_REPLICA_URL must be a postgres:// URL")
    config = {**primary, **{key: parsed[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}}
    pool = {**primary["OPTIONS"].get("pool", {}), "timeout": CONNECT_SECONDS}
    config["OPTIONS"] = {
        **primary["OPTIONS"],
        **parsed.get("OPTIONS", {}),
        "connect_timeout": CONNECT_SECONDS,
        "pool": pool,
    }
    # Tests read and write one database: the replica stands for the primary there.
    config["TEST"] = {"MIRROR": PRIMARY}
    return config


@dataclass
class RequestReads:
    """Where the reads of the request in progress may go."""

    #: Reads may go to the replica (a safe request, the caller's own writes replayed there, no write yet).
    replica: bool = False
    #: The replica's connection was taken in this request and answered.
    connected: bool = False
    #: Some read went to the replica.
    used: bool = False
    #: Something was written (through the ORM) in this request.
    wrote: bool = False
    #: The model instances written, for the users whose own rows they are.
    written: list[Any] = field(default_factory=list)


_reads: contextvars.ContextVar[RequestReads | None] = contextvars.ContextVar(
    "shifa_replica_reads", default=None
)


class ReplicaRouter:
    """Reads to the replica only when the request in progress allows it, outside transactions; writes and
    migrations to the primary."""

    def db_for_read(self, model, **hints) -> str:
        reads = _reads.get()
        if reads is None or not reads.replica or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        if not reads.connected:
            if not _connect():
                reads.replica = False
                return PRIMARY
            reads.connected = True
        reads.used = True
        return REPLICA

    def db_for_write(self, model, **hints) -> str:
        reads = _reads.get()
        if reads is not None:
            # The rest of the request reads what it wrote.
            reads.replica = False
            reads.wrote = True
            if hints.get("instance") is not None:
                reads.written.append(hints["instance"])
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA, None}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool:
        return db == PRIMARY


class ReplicaMiddleware:
    """Decides, once the caller is known (after ``AccessMiddleware``), whether the request's reads may go to the
    replica; at the end of a request that wrote, pins its users to the primary until the replica has caught up.

    The caller is authenticated on the primary (sessions, tokens), so a sign-in is always seen at once.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reads = RequestReads()
        token = _reads.set(reads)
        try:
            response = self.get_response(request)
            if (
                reads.used
                and request.method in SAFE_METHODS
                and response.status_code >= 500
                and connections[REPLICA].errors_occurred
            ):
                # The replica went away in the middle of a read: the same safe request again, on the primary.
                _mark_down("the connection was lost during a request")
                reads.replica = reads.used = reads.connected = False
                response = self.get_response(request)
            if reads.wrote or request.method not in SAFE_METHODS:
                _pin(_users_of(request, reads))
        finally:
            _reads.reset(token)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        reads = _reads.get()
        if reads is None:
            return None
        # What authentication wrote (when a token was last used) is bookkeeping, not the caller's to read back.
        reads.wrote = False
        reads.written = []
        if request.method in SAFE_METHODS:
            reads.replica = _may_read_replica(request, reads)
        return None


def _may_read_replica(request: HttpRequest, reads: RequestReads) -> bool:
    """Whether the replica is up and has replayed the caller's last write (one cache read for a signed-in caller,
    and a query to the replica only while one of their writes may not have reached it)."""
    if not _available():
        return False
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return True
    position = cache.get(_pin_key(user.pk))
    if position is None or _lsn(position) <= _replayed:
        return True
    replayed = _replica_replayed(position)
    if replayed:
        reads.connected = True
    return replayed


# --- Read-your-writes ---------------------------------------------------------------------------------------------

#: The furthest position this process has seen the replica replay (0: none seen, or it has been away since).
_replayed = 0


def _lsn(text: str) -> int:
    """A PostgreSQL WAL position ``16/B374D848`` as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _pin_key(user_pk: Any) -> str:
    return f"shifa:replica:pin:{user_pk}"


def _users_of(request: HttpRequest, reads: RequestReads) -> set[Any]:
    """The signed-in user at the end of the request (a sign-in's new one included), and the users whose own rows
    the request wrote (a sign-up; a token handed to an app)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    users = set()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        users.add(user.pk)
    for instance in reads.written:
        owner = instance.pk if isinstance(instance, user_model) else getattr(instance, "user_id", None)
        if owner is not None:
            users.add(owner)
    return users


def _pin(users: set[Any]) -> None:
    """Keeps the users' reads on the primary until the replica has replayed the primary's position now (after the
    request's writes were committed)."""
    if not users:
        return
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            (position,) = cursor.fetchone()
    except Error:
        return  # the primary is away: nothing was written
    cache.set_many({_pin_key(pk): position for pk in users}, PIN_SECONDS)


def _replica_replayed(position: str) -> bool:
    """Whether the replica has replayed ``position`` (a server that is not in recovery is behind nothing)."""
    global _replayed
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
            in_recovery, replayed = cursor.fetchone()
    except Error as exc:
        _mark_down(exc)
        return False
    if not in_recovery:
        return True
    if replayed is None:
        return False
    _replayed = max(_replayed, _lsn(replayed))
    return _lsn(position) <= _replayed


# --- Reachability ---------------------------------------------------------------------------------------------------

_lock = threading.Lock()
#: The replica failed and has not answered since; it is tried again, in the background, from ``_retry_at`` on.
_down = False
_retry_at = 0.0
_probing = False


def _available() -> bool:
    """Whether reads may go to the replica. While it is down, no request waits for it: once the back-off is over,
    a background probe tries it, and reads return to it when the probe gets an answer."""
    global _probing
    if not _down:
        return True
    with _lock:
        if _probing or time.monotonic() < _retry_at:
            return False
        _probing = True
    threading.Thread(target=_probe, name="shifa-replica-probe", daemon=True).start()
    return False


def _probe() -> None:
    global _probing
    connection = connections[REPLICA]
    try:
        connection.ensure_connection()  # the pool checks the connection it hands out
    except Error as exc:
        _mark_down(exc)
    else:
        _mark_up()
    finally:
        connection.close()
        _probing = False


def _connect() -> bool:
    """Takes the replica's connection for this request (the pool checks it), or marks the replica down."""
    if not _available():
        return False
    try:
        connections[REPLICA].ensure_connection()
    except Error as exc:
        _mark_down(exc)
        return False
    return True


def _mark_down(reason: object) -> None:
    global _down, _retry_at, _replayed
    with _lock:
        first = not _down
        _down = True
        _retry_at = time.monotonic() + BACKOFF_SECONDS
        _replayed = 0  # it may come back as another server
    if first:
        logger.warning(
            "The read replica cannot be reached; reads go to the primary", extra={"error": str(reason)}
        )


def _mark_up() -> None:
    global _down
    if _down:
        with _lock:
            _down = False
        logger.warning("The read replica answers again; reads go to it")
