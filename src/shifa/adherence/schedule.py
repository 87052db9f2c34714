"""When each dose of a prescription line is due (CP-3): pure functions, no database.

A line's frequency gives the doses of a day at wall-clock times in the patient's time zone, anchored on meals where
the timing asks for it (Jordanian meal times: breakfast 08:00, lunch 14:00, dinner 20:00); "every N hours" runs on a
fixed grid from 06:00; "once a week" falls on the weekday of the first day. The patient may move the times of the
day (the same number of doses, in order) within the prescription. Doses run from the first time at or after the
start for ``duration_days`` local days; "when needed" lines have no schedule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from shifa.core import timezones

BREAKFAST, LUNCH, DINNER = dt.time(8), dt.time(14), dt.time(20)
BEDTIME = dt.time(22)
MORNING = dt.time(9)
INTERVAL_START = dt.time(6)

#: Minutes to move a meal-anchored time for the line's timing.
TIMING_SHIFT = {"": 0, "with_meals": 0, "before_meals": -30, "after_meals": 30, "empty_stomach": -60}

MEAL_TIMES = {
    "once_daily": (BREAKFAST,),
    "twice_daily": (BREAKFAST, DINNER),
    "three_times_daily": (BREAKFAST, LUNCH, DINNER),
}
FIXED_TIMES = {
    "four_times_daily": (dt.time(8), dt.time(13), dt.time(18), dt.time(22)),
    "at_bedtime": (BEDTIME,),
    "once_weekly": (MORNING,),
    "once": (MORNING,),
}
INTERVAL_HOURS = {"every_4_hours": 4, "every_6_hours": 6, "every_8_hours": 8, "every_12_hours": 12}
NO_SCHEDULE = {"as_needed"}


class ScheduleError(ValueError):
    """Times that do not fit the prescription (the field and a message for the person)."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


def _shift(time: dt.time, minutes: int) -> dt.time:
    moment = dt.datetime.combine(dt.date(2000, 1, 1), time) + dt.timedelta(minutes=minutes)
    return moment.time()


def default_times(frequency: str, timing: str = "") -> tuple[dt.time, ...]:
    """The wall-clock times of one day's doses (for "every N hours": the grid from 06:00)."""
    if frequency in NO_SCHEDULE:
        return ()
    if frequency in MEAL_TIMES:
        if timing == "empty_stomach":
            return tuple(_shift(t, -60) for t in MEAL_TIMES[frequency])
        return tuple(_shift(t, TIMING_SHIFT.get(timing, 0)) for t in MEAL_TIMES[frequency])
    if frequency in FIXED_TIMES:
        return FIXED_TIMES[frequency]
    if frequency in INTERVAL_HOURS:
        step = INTERVAL_HOURS[frequency]
        return tuple(sorted(dt.time((INTERVAL_START.hour + step * i) % 24) for i in range(24 // step)))
    raise ScheduleError("frequency", "unknown_frequency")


@dataclass(frozen=True)
class Line:
    """What the schedule needs of a prescription line."""

    frequency: str
    timing: str
    duration_days: int | None


def check_times(line: Line, times: Sequence[dt.time]) -> tuple[dt.time, ...]:
    """The patient's own times for the day: as many as the frequency gives, each once; sorted."""
    expected = default_times(line.frequency, line.timing)
    chosen = tuple(sorted(times))
    if len(chosen) != len(expected) or len(set(chosen)) != len(chosen):
        raise ScheduleError("times", "wrong_count")
    if line.frequency in INTERVAL_HOURS:
        # the interval is the prescription: times may move together, not closer
        step = dt.timedelta(hours=INTERVAL_HOURS[line.frequency])
        base = dt.datetime.combine(dt.date(2000, 1, 1), chosen[0])
        shifted = tuple(sorted((base + step * i).time() for i in range(len(chosen))))
        if shifted != chosen:
            raise ScheduleError("times", "interval_changed")
    return chosen


def _slots(day_times: Sequence[dt.time], *, start: dt.datetime, zone: str):
    """The times of the day, day after day, as UTC instants at or after ``start`` (without end)."""
    day = timezones.to_local(start, zone).date()
    while True:
        for time in day_times:
            at = timezones.local_datetime(day, time, zone)
            if at >= start:
                yield at
        day += dt.timedelta(days=1)


def dose_times(
    line: Line,
    *,
    start: dt.datetime,
    zone: str,
    times: Sequence[dt.time] | None = None,
) -> list[dt.datetime]:
    """Every dose of the line as an aware UTC instant, from the first dose time at or after ``start``.

    A course of ``duration_days`` is that many days' worth of doses (3 times a day for 7 days: 21 doses, however
    late in the day it starts); once a week: one dose per started week; once: one dose; when needed: none."""
    if line.frequency in NO_SCHEDULE:
        return []
    day_times = check_times(line, times) if times else default_times(line.frequency, line.timing)
    start = timezones.require_aware(start)
    if line.frequency == "once":
        count = 1
    elif not line.duration_days or line.duration_days < 1:
        raise ScheduleError("duration_days", "required")
    elif line.frequency == "once_weekly":
        count = -(-line.duration_days // 7)
    else:
        count = line.duration_days * len(day_times)
    doses: list[dt.datetime] = []
    for at in _slots(day_times, start=start, zone=zone):
        if line.frequency == "once_weekly" and doses and at - doses[-1] < dt.timedelta(days=7):
            continue
        doses.append(at)
        if len(doses) == count:
            return doses
    raise AssertionError("unreachable: the slots never end")
