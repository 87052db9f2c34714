"""The one entitlement state machine (states.py): a table of the transitions every source relies on, and property
tests that no sequence of events, in any order and with any timing, leads to an invalid snapshot."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shifa.subscriptions import states
from shifa.subscriptions.states import ENTITLED, Snapshot, State

T0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


times = st.integers(min_value=0, max_value=24 * 400).map(lambda h: at(h))
flags = st.none() | st.booleans()
events = st.one_of(
    st.builds(lambda a, e, r: states.Paid(at=a, period_end=e, auto_renew=r), times, times, flags),
    st.builds(lambda a, g: states.PaymentFailed(at=a, grace_until=g), times, st.none() | times),
    st.builds(lambda a: states.GraceEnded(at=a), times),
    st.builds(lambda a: states.Expired(at=a), times),
    st.builds(lambda a: states.Refunded(at=a), times),
    st.builds(lambda a: states.Revoked(at=a), times),
    st.builds(lambda a, r: states.AutoRenewChanged(at=a, auto_renew=r), times, st.booleans()),
    st.builds(
        lambda a, s, e, r: states.StoreState(
            at=a,
            state=s,
            period_end=e if e is not None or s != State.ACTIVE else a,
            grace_until=(e or a) if s == State.GRACE else None,
            auto_renew=r,
        ),
        times,
        st.sampled_from(list(State)),
        st.none() | times,
        flags,
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(events, max_size=25), times)
def test_no_event_sequence_leads_to_an_invalid_snapshot(sequence, probe):
    snapshot = Snapshot()
    left_pending = False
    for event in sequence:
        before = snapshot
        snapshot = states.transition(snapshot, event)
        assert states.is_valid(snapshot), (before, event, snapshot)
        # time never runs backwards, and an event older than the last one applied changes nothing
        if before.as_of is not None:
            assert snapshot.as_of >= before.as_of
            if event.at < before.as_of:
                assert snapshot == before
        # nothing leads back to pending
        left_pending = left_pending or snapshot.state != State.PENDING
        if left_pending:
            assert snapshot.state != State.PENDING
        # refunded and revoked are left only by a payment or a store's own statement
        if before.state in {State.REFUNDED, State.REVOKED} and snapshot.state != before.state:
            assert isinstance(event, states.Paid | states.StoreState)
        # only a payment or a store's statement gives access to what had none
        if before.state not in ENTITLED and snapshot.state in ENTITLED:
            assert isinstance(event, states.Paid | states.StoreState)
        # access only in active and grace
        if states.entitled(snapshot, probe):
            assert snapshot.state in ENTITLED


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=15))
def test_the_transition_is_a_pure_function(sequence):
    one = two = Snapshot()
    for event in sequence:
        one, two = states.transition(one, event), states.transition(two, event)
    assert one == two


PAID = Snapshot(state=State.ACTIVE, period_end=at(720), auto_renew=True, as_of=at(0))


@pytest.mark.parametrize(
    ("start", "event", "expected"),
    [
        (Snapshot(), states.Paid(at=at(1), period_end=at(720)), State.ACTIVE),
        (Snapshot(), states.PaymentFailed(at=at(1)), State.PENDING),
        (Snapshot(), states.Refunded(at=at(1)), State.PENDING),
        (Snapshot(), states.Expired(at=at(1)), State.EXPIRED),
        (PAID, states.PaymentFailed(at=at(1), grace_until=at(100)), State.GRACE),
        (PAID, states.PaymentFailed(at=at(1)), State.ON_HOLD),
        (PAID, states.PaymentFailed(at=at(200), grace_until=at(100)), State.ON_HOLD),
        (PAID, states.GraceEnded(at=at(1)), State.ON_HOLD),
        (PAID, states.Expired(at=at(1)), State.EXPIRED),
        (PAID, states.Refunded(at=at(1)), State.REFUNDED),
        (PAID, states.Revoked(at=at(1)), State.REVOKED),
        (PAID, states.AutoRenewChanged(at=at(1), auto_renew=False), State.ACTIVE),
        (PAID, states.Expired(at=at(-1)), State.ACTIVE),  # older than what we know: nothing changes
        (Snapshot(state=State.REFUNDED, as_of=at(0)), states.Expired(at=at(1)), State.REFUNDED),
        (
            Snapshot(state=State.REVOKED, as_of=at(0)),
            states.StoreState(at=at(1), state=State.EXPIRED),
            State.REVOKED,
        ),
        (Snapshot(state=State.EXPIRED, as_of=at(0)), states.Paid(at=at(1), period_end=at(700)), State.ACTIVE),
        (
            Snapshot(state=State.ON_HOLD, period_end=at(0), as_of=at(0)),
            states.StoreState(at=at(1), state=State.PENDING),
            State.ON_HOLD,
        ),
    ],
)
def test_transitions(start, event, expected):
    assert states.transition(start, event).state == expected


def test_access_lasts_until_the_period_ends_and_a_little_longer_only_while_renewing():
    assert states.entitled(PAID, at(719))
    assert states.entitled(PAID, at(730))  # renewal on its way
    assert not states.entitled(PAID, at(745))
    cancelled = states.transition(PAID, states.AutoRenewChanged(at=at(1), auto_renew=False))
    assert states.entitled(cancelled, at(719)) and not states.entitled(cancelled, at(720))
    grace = states.transition(PAID, states.PaymentFailed(at=at(1), grace_until=at(800)))
    assert states.entitled(grace, at(799)) and not states.entitled(grace, at(800))
    for state in (State.ON_HOLD, State.EXPIRED, State.REVOKED, State.REFUNDED, State.PENDING):
        assert not states.entitled(Snapshot(state=state, period_end=at(720)), at(1))


def test_events_refuse_impossible_inputs():
    with pytest.raises(ValueError):
        states.Paid(at=dt.datetime(2027, 1, 1), period_end=at(1))  # naive
    with pytest.raises(ValueError):
        states.StoreState(at=at(1), state=State.ACTIVE)  # active without a period end
    with pytest.raises(ValueError):
        states.StoreState(at=at(1), state=State.GRACE, period_end=at(5))  # grace without its end
    with pytest.raises(TypeError):
        states.transition(Snapshot(), object())
