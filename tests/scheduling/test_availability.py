"""The availability engine, by example and by property (hypothesis): no slot overlaps anything busy, none lies
outside working time or on a closed day, notice and horizon hold, and all of it in any time zone."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shifa.core.timezones import local_datetime
from shifa.scheduling.availability import Rules, Slot, free_slots, working_stretches

UTC = dt.UTC
AMMAN = "Asia/Amman"
T = dt.time


def at(day: dt.date, hour: int, minute: int = 0, zone: str = AMMAN) -> dt.datetime:
    return local_datetime(day, T(hour, minute), zone)


MONDAY = dt.date(2026, 12, 7)
NOW = at(MONDAY, 0) - dt.timedelta(days=1)
WEEK = {0: [(T(8), T(13)), (T(14), T(17))]}


def slots(**overrides) -> list[Slot]:
    facts = {
        "now": NOW,
        "first_day": MONDAY,
        "last_day": MONDAY,
        "clinic_week": WEEK,
        "doctor_week": WEEK,
        "rules": Rules(minutes=30),
    } | overrides
    return free_slots(**facts)


def starts(found: list[Slot], zone: str = AMMAN) -> list[str]:
    return [f"{s.starts_at.astimezone(ZoneInfo(zone)):%H:%M}" for s in found]


def test_a_free_day_is_cut_into_back_to_back_slots_around_the_break():
    found = slots()
    assert len(found) == 10 + 6
    assert starts(found)[:2] == ["08:00", "08:30"] and starts(found)[9:11] == ["12:30", "14:00"]
    assert all(s.ends_at - s.starts_at == dt.timedelta(minutes=30) for s in found)


def test_the_doctor_works_only_within_the_clinic_hours():
    found = slots(doctor_week={0: [(T(7), T(9)), (T(12, 30), T(15))]})
    assert starts(found) == ["08:00", "08:30", "12:30", "14:00", "14:30"]
    assert working_stretches([(T(8), T(12))], [(T(13), T(14))]) == []


def test_an_appointment_at_an_odd_time_restarts_the_grid_after_it():
    busy = [(at(MONDAY, 9, 10), at(MONDAY, 9, 25))]
    assert starts(slots(doctor_week={0: [(T(8), T(11))]}, appointments=busy)) == [
        "08:00",
        "08:30",
        "09:25",
        "09:55",
        "10:25",
    ]


def test_a_travel_buffer_keeps_time_free_around_each_visit():
    busy = [(at(MONDAY, 10), at(MONDAY, 10, 30))]
    found = slots(
        doctor_week={0: [(T(8), T(13))]}, appointments=busy, rules=Rules(minutes=30, buffer_minutes=30)
    )
    assert starts(found) == ["08:00", "08:30", "09:00", "11:00", "11:30", "12:00", "12:30"]


def test_time_off_closures_notice_and_horizon():
    off = [(at(MONDAY, 8), at(MONDAY, 12))]
    assert starts(slots(time_off=off))[:2] == ["12:00", "12:30"]
    assert slots(closures=[(MONDAY, MONDAY)]) == []
    late_now = at(MONDAY, 15, 10)
    assert starts(slots(now=late_now, rules=Rules(minutes=30, notice=dt.timedelta(minutes=20)))) == [
        "15:30",
        "16:00",
        "16:30",
    ]
    assert slots(rules=Rules(minutes=30, horizon=dt.timedelta(hours=12))) == []
    within_a_day_and_a_half = Rules(minutes=30, horizon=dt.timedelta(hours=32, minutes=30))
    assert starts(slots(rules=within_a_day_and_a_half)) == ["08:00", "08:30"]


def test_a_step_longer_than_the_visit_leaves_gaps():
    assert starts(slots(doctor_week={0: [(T(8), T(10))]}, rules=Rules(minutes=20, step_minutes=30))) == [
        "08:00",
        "08:30",
        "09:00",
        "09:30",
    ]


def test_slots_are_computed_in_the_clinic_zone_across_a_daylight_saving_change():
    # New York leaves daylight saving time on 1 November 2026: 09:00 local is 13:00 UTC before, 14:00 after.
    week = {day: [(T(9), T(10))] for day in range(7)}
    found = free_slots(
        now=dt.datetime(2026, 10, 30, tzinfo=UTC),
        first_day=dt.date(2026, 10, 31),
        last_day=dt.date(2026, 11, 2),
        clinic_week=week,
        doctor_week=week,
        rules=Rules(minutes=60, zone="America/New_York"),
    )
    assert [s.starts_at.astimezone(UTC).hour for s in found] == [13, 14, 14]


def test_naive_now_and_bad_rules_are_refused():
    with pytest.raises(ValueError):
        slots(now=dt.datetime(2026, 12, 1))
    with pytest.raises(ValueError):
        Rules(minutes=0)
    with pytest.raises(ValueError):
        Rules(minutes=30, buffer_minutes=-5)


# --- properties -----------------------------------------------------------------------------------------------

ZONES = [
    "Asia/Amman",
    "UTC",
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Asia/Kathmandu",  # UTC+05:45
    "America/New_York",  # daylight saving time
    "Australia/Lord_Howe",  # a half-hour daylight saving change
    "America/Santiago",  # daylight saving changes at midnight
]

minutes_of_day = st.integers(min_value=0, max_value=24 * 60 - 5)


@st.composite
def stretches(draw) -> list[tuple[dt.time, dt.time]]:
    points = sorted(set(draw(st.lists(minutes_of_day, min_size=0, max_size=6))))
    pairs = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    return [(T(a // 60, a % 60), T(b // 60, b % 60)) for a, b in pairs if a < b]


weeks = st.dictionaries(st.integers(min_value=0, max_value=6), stretches(), max_size=7)


@st.composite
def scenarios(draw):
    zone = draw(st.sampled_from(ZONES))
    first_day = draw(st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 20)))
    days = draw(st.integers(min_value=0, max_value=9))
    last_day = first_day + dt.timedelta(days=days)
    origin = dt.datetime.combine(first_day, T(0), tzinfo=UTC)

    def instant(max_hours: int = 24 * 12):
        return st.integers(min_value=-24 * 60, max_value=max_hours * 60).map(
            lambda m: origin + dt.timedelta(minutes=m)
        )

    def spans(max_size: int):
        return st.lists(
            st.tuples(instant(), st.integers(min_value=5, max_value=600)).map(
                lambda p: (p[0], p[0] + dt.timedelta(minutes=p[1]))
            ),
            max_size=max_size,
        )

    closure_days = st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 3)).map(
            lambda p: (first_day + dt.timedelta(days=p[0]), first_day + dt.timedelta(days=p[0] + p[1]))
        ),
        max_size=2,
    )
    rules = Rules(
        minutes=draw(st.sampled_from([10, 15, 20, 30, 45, 60])),
        zone=zone,
        step_minutes=draw(st.sampled_from([None, 5, 15, 30])),
        buffer_minutes=draw(st.sampled_from([0, 0, 10, 30])),
        notice=dt.timedelta(minutes=draw(st.integers(0, 3000))),
        horizon=dt.timedelta(minutes=draw(st.integers(0, 20000))),
    )
    return {
        "now": draw(instant(24 * 5)),
        "first_day": first_day,
        "last_day": last_day,
        "clinic_week": draw(weeks),
        "doctor_week": draw(weeks),
        "closures": draw(closure_days),
        "time_off": draw(spans(3)),
        "appointments": draw(spans(8)),
        "rules": rules,
    }


def overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_property_no_slot_is_busy_outside_hours_on_a_closed_day_or_beyond_notice_and_horizon(facts):
    found = free_slots(**facts)
    rules: Rules = facts["rules"]
    zone = ZoneInfo(rules.zone)
    buffer = dt.timedelta(minutes=rules.buffer_minutes)
    assert found == sorted(found)
    for earlier, later in itertools.pairwise(found):
        assert earlier.ends_at <= later.starts_at or (
            rules.step_minutes and rules.step_minutes < rules.minutes
        )
    for slot in found:
        span = (slot.starts_at, slot.ends_at)
        assert slot.ends_at - slot.starts_at == dt.timedelta(minutes=rules.minutes)
        assert facts["now"] + rules.notice <= slot.starts_at <= facts["now"] + rules.horizon
        assert not any(overlaps(span, off) for off in facts["time_off"])
        assert not any(overlaps(span, (a - buffer, b + buffer)) for a, b in facts["appointments"])
        local_day = slot.starts_at.astimezone(zone).date()
        candidates = [local_day, local_day - dt.timedelta(days=1)]
        assert any(
            facts["first_day"] <= day <= facts["last_day"]
            and not any(a <= day <= b for a, b in facts["closures"])
            and any(
                local_datetime(day, s, rules.zone) <= slot.starts_at
                and slot.ends_at <= local_datetime(day, e, rules.zone)
                for s, e in working_stretches(
                    facts["clinic_week"].get(day.weekday(), ()), facts["doctor_week"].get(day.weekday(), ())
                )
            )
            for day in candidates
        ), slot


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_with_nothing_busy_every_stretch_is_tiled_completely(facts):
    """Nothing busy, no notice, far horizon: each working stretch holds exactly as many slots as fit in it."""
    rules = Rules(minutes=facts["rules"].minutes, zone=facts["rules"].zone, notice=dt.timedelta(0))
    facts |= {
        "rules": rules,
        "time_off": [],
        "appointments": [],
        "closures": [],
        "now": dt.datetime.combine(facts["first_day"], T(0), tzinfo=UTC) - dt.timedelta(days=2),
    }
    rules = Rules(
        minutes=rules.minutes, zone=rules.zone, notice=dt.timedelta(0), horizon=dt.timedelta(days=30)
    )
    facts["rules"] = rules
    expected = 0
    day = facts["first_day"]
    while day <= facts["last_day"]:
        for s, e in working_stretches(
            facts["clinic_week"].get(day.weekday(), ()), facts["doctor_week"].get(day.weekday(), ())
        ):
            length = local_datetime(day, e, rules.zone) - local_datetime(day, s, rules.zone)
            expected += max(0, length // dt.timedelta(minutes=rules.minutes))
        day += dt.timedelta(days=1)
    assert len(free_slots(**facts)) == expected
