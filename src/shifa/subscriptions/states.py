"""The one entitlement state machine of a patient's subscription (PAY-3).

Every source feeds it: App Store notifications, the state Google Play gives when we re-read a subscription, and
PayTabs payments with our own renewal task. Each turns what it learnt into one of the events below, and
``transition`` gives the next snapshot. The function is pure (no database, no clock): the property tests in
tests/subscriptions/test_states.py drive it with arbitrary event sequences and check that no sequence leads to an
invalid snapshot.

Rules:
* an event older than the last one applied (``as_of``) changes nothing — sources deliver late and out of order,
  and the newest word wins;
* ``pending`` (a PayTabs subscription before its first payment) is only a start: nothing leads back to it;
* ``revoked`` and ``refunded`` are left only by a new payment (a resubscription) or a store's own statement;
* ``active`` and ``grace`` give access: ``active`` until the end of the paid period (with a little leeway while a
  renewal is on its way, none once renewal is switched off), ``grace`` until the grace period ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    GRACE = "grace"
    ON_HOLD = "on_hold"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REFUNDED = "refunded"


#: States that give access to the plan's entitlements.
ENTITLED = frozenset({State.ACTIVE, State.GRACE})
#: States in which the subscription may still come back by itself (a renewal succeeding, a store recovering it).
LIVE = frozenset({State.PENDING, State.ACTIVE, State.GRACE, State.ON_HOLD})
#: While a renewal is on its way (a store's notice, our own renewal charge), an active subscription keeps access this
#: long after the end of its paid period.
RENEWAL_LEEWAY = dt.timedelta(hours=24)


def _aware(value: dt.datetime | None, name: str) -> None:
    if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
        raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True)
class Snapshot:
    """What the machine knows of one subscription."""

    state: State = State.PENDING
    period_end: dt.datetime | None = None
    grace_until: dt.datetime | None = None
    auto_renew: bool = True
    #: When the latest event applied happened (at its source).
    as_of: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something a source reports, ``at`` the time it happened there."""

    at: dt.datetime

    def __post_init__(self) -> None:
        if self.at is None:
            raise ValueError("an event needs its time")
        _aware(self.at, "at")


@dataclass(frozen=True, kw_only=True)
class Paid(Event):
    """A period was paid (first purchase, renewal, recovery after a failed renewal, resubscription)."""

    period_end: dt.datetime
    auto_renew: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.period_end is None:
            raise ValueError("a payment pays until a time")
        _aware(self.period_end, "period_end")


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(Event):
    """A renewal could not be charged: a grace period until ``grace_until`` (when the source grants one), else on
    hold (no access while the store or we keep retrying)."""

    grace_until: dt.datetime | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _aware(self.grace_until, "grace_until")


@dataclass(frozen=True, kw_only=True)
class GraceEnded(Event):
    """The grace period ended without a payment."""


@dataclass(frozen=True, kw_only=True)
class Expired(Event):
    """The subscription ended (not renewed, or retries gave up)."""


@dataclass(frozen=True, kw_only=True)
class Refunded(Event):
    """The store or we refunded the subscription's payment: access ends."""


@dataclass(frozen=True, kw_only=True)
class Revoked(Event):
    """The store took the subscription back (family sharing removed, fraud): access ends."""


@dataclass(frozen=True, kw_only=True)
class AutoRenewChanged(Event):
    """The subscriber switched renewal on or off; access is unchanged until the period ends."""

    auto_renew: bool


@dataclass(frozen=True, kw_only=True)
class StoreState(Event):
    """A store's own statement of the subscription's state (Google Play's ``subscriptionState`` on a re-read)."""

    state: State
    period_end: dt.datetime | None = None
    grace_until: dt.datetime | None = None
    auto_renew: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.state not in set(State):
            raise ValueError(f"unknown state {self.state!r}")
        _aware(self.period_end, "period_end")
        _aware(self.grace_until, "grace_until")
        if self.state == State.ACTIVE and self.period_end is None:
            raise ValueError("an active subscription has a period end")
        if self.state == State.GRACE and self.grace_until is None:
            raise ValueError("a grace period has an end")


def _keep_flag(current: bool, reported: bool | None) -> bool:
    return current if reported is None else reported


def transition(snapshot: Snapshot, event: Event) -> Snapshot:
    """The snapshot after ``event``. Pure; see the module's rules."""
    if not isinstance(event, Event):
        raise TypeError(f"not an event: {event!r}")
    if snapshot.as_of is not None and event.at < snapshot.as_of:
        return snapshot
    s = replace(snapshot, as_of=event.at)
    state = s.state
    if isinstance(event, Paid):
        if state in ENTITLED and s.period_end is not None:
            period_end = max(s.period_end, event.period_end)
        else:
            period_end = event.period_end
        return replace(
            s,
            state=State.ACTIVE,
            period_end=period_end,
            grace_until=None,
            auto_renew=_keep_flag(s.auto_renew, event.auto_renew),
        )
    if isinstance(event, PaymentFailed):
        if state in ENTITLED:
            if event.grace_until is not None and event.grace_until > event.at:
                return replace(s, state=State.GRACE, grace_until=event.grace_until)
            return replace(s, state=State.ON_HOLD, grace_until=None)
        return s
    if isinstance(event, GraceEnded):
        if state in ENTITLED:
            return replace(s, state=State.ON_HOLD, grace_until=None)
        return s
    if isinstance(event, Expired):
        if state in {State.REVOKED, State.REFUNDED}:
            return s
        return replace(s, state=State.EXPIRED, grace_until=None)
    if isinstance(event, Refunded | Revoked):
        if state == State.PENDING:
            return s  # nothing was paid: nothing to take back
        if state in {State.REFUNDED, State.REVOKED}:
            return s  # already taken back: the first reason stays
        target = State.REFUNDED if isinstance(event, Refunded) else State.REVOKED
        return replace(s, state=target, grace_until=None)
    if isinstance(event, AutoRenewChanged):
        return replace(s, auto_renew=event.auto_renew)
    if isinstance(event, StoreState):
        auto_renew = _keep_flag(s.auto_renew, event.auto_renew)
        if event.state == State.PENDING and state != State.PENDING:
            return replace(s, auto_renew=auto_renew)
        if event.state == State.EXPIRED and state in {State.REVOKED, State.REFUNDED}:
            return replace(s, auto_renew=auto_renew)  # the store says "expired"; we know why
        return replace(
            s,
            state=event.state,
            period_end=event.period_end or s.period_end,
            grace_until=event.grace_until if event.state == State.GRACE else None,
            auto_renew=auto_renew,
        )
    raise TypeError(f"not an event: {event!r}")


def entitled(snapshot: Snapshot, at: dt.datetime) -> bool:
    """Whether the subscription gives access at ``at``."""
    if snapshot.state == State.ACTIVE and snapshot.period_end is not None:
        leeway = RENEWAL_LEEWAY if snapshot.auto_renew else dt.timedelta(0)
        return at < snapshot.period_end + leeway
    if snapshot.state == State.GRACE and snapshot.grace_until is not None:
        return at < snapshot.grace_until
    return False


def is_valid(snapshot: Snapshot) -> bool:
    """The invariants every snapshot keeps (checked by the property tests and before every save)."""
    if snapshot.state not in set(State):
        return False
    if snapshot.state == State.ACTIVE and snapshot.period_end is None:
        return False
    if snapshot.state == State.GRACE and snapshot.grace_until is None:
        return False
    return not (snapshot.state != State.GRACE and snapshot.grace_until is not None)
