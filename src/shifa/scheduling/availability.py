"""The availability engine (BK-2): a pure function from a doctor's working time and everything that keeps them busy
to the free slots a patient may book. No database, no clock: the caller passes ``now`` and the facts.

Working time is the doctor's weekly stretches intersected with the clinic's opening hours, in the clinic's local
time, minus closure days. A slot is free when it lies within one working stretch, overlaps no appointment or hold
(widened by the buffer on both sides) and no time off, starts no sooner than ``now + notice`` and no later than
``now + horizon``. Slots follow a grid from the start of each stretch; after something busy the grid restarts at
its end, so an appointment at an odd time costs no more than the time it takes.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shifa.core.timezones import local_datetime

Stretch = tuple[dt.time, dt.time]
Span = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Rules:
    """How slots are cut: ``minutes`` long, one every ``step_minutes`` (default: back to back), ``buffer_minutes``
    kept free around each appointment (travel between home visits), ``notice`` before the earliest and
    ``horizon`` beyond which nothing is offered."""

    minutes: int
    zone: str = "Asia/Amman"
    step_minutes: int | None = None
    buffer_minutes: int = 0
    notice: dt.timedelta = dt.timedelta(hours=1)
    horizon: dt.timedelta = dt.timedelta(days=60)

    def __post_init__(self):
        if self.minutes <= 0 or (self.step_minutes is not None and self.step_minutes <= 0):
            raise ValueError("slot length and step must be positive")
        if self.buffer_minutes < 0:
            raise ValueError("a buffer cannot be negative")


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: dt.datetime
    ends_at: dt.datetime


def working_stretches(clinic: Sequence[Stretch], doctor: Sequence[Stretch]) -> list[Stretch]:
    """The parts of the doctor's stretches that lie within the clinic's opening hours, in order."""
    out = []
    for d_start, d_end in sorted(doctor):
        for c_start, c_end in sorted(clinic):
            start, end = max(d_start, c_start), min(d_end, c_end)
            if start < end:
                out.append((start, end))
    return sorted(out)


def _merged(spans: Iterable[Span]) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """Busy spans merged into disjoint ones, as two sorted lists (starts, ends) for bisection."""
    starts: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def free_slots(
    *,
    now: dt.datetime,
    first_day: dt.date,
    last_day: dt.date,
    clinic_week: Mapping[int, Sequence[Stretch]],
    doctor_week: Mapping[int, Sequence[Stretch]],
    closures: Sequence[tuple[dt.date, dt.date]] = (),
    time_off: Sequence[Span] = (),
    appointments: Sequence[Span] = (),
    rules: Rules,
) -> list[Slot]:
    """Every free slot on the local days ``first_day`` … ``last_day`` (inclusive), earliest first.

    ``clinic_week`` and ``doctor_week`` map a weekday (0 Monday … 6 Sunday) to local (start, end) stretches;
    ``time_off`` and ``appointments`` (booked visits and live holds) are aware spans.
    """
    if now.tzinfo is None:
        raise ValueError("now must be aware")
    length = dt.timedelta(minutes=rules.minutes)
    step = dt.timedelta(minutes=rules.step_minutes or rules.minutes)
    buffer = dt.timedelta(minutes=rules.buffer_minutes)
    earliest = now + rules.notice
    latest = now + rules.horizon
    busy_starts, busy_ends = _merged(
        [*time_off, *((start - buffer, end + buffer) for start, end in appointments)]
    )
    closed = [(a, b) for a, b in closures]
    slots: list[Slot] = []
    day = first_day
    while day <= last_day:
        if not any(a <= day <= b for a, b in closed):
            stretches = working_stretches(
                clinic_week.get(day.weekday(), ()), doctor_week.get(day.weekday(), ())
            )
            for local_start, local_end in stretches:
                start = local_datetime(day, local_start, rules.zone)
                end = local_datetime(day, local_end, rules.zone)
                _cut(slots, start, end, length, step, earliest, latest, busy_starts, busy_ends)
        day += dt.timedelta(days=1)
    return slots


def _cut(slots, start, end, length, step, earliest, latest, busy_starts, busy_ends) -> None:
    """Append the free slots of one working stretch [start, end)."""
    cursor = start
    if cursor < earliest:  # the first grid point at or after the notice
        cursor += step * -((cursor - earliest) // step)
    while cursor + length <= end and cursor <= latest:
        # the first busy span that ends after the cursor: does it begin before the slot would end?
        i = bisect.bisect_right(busy_ends, cursor)
        if i < len(busy_starts) and busy_starts[i] < cursor + length:
            cursor = max(cursor, busy_ends[i])
            if cursor < earliest:
                cursor += step * -((cursor - earliest) // step)
            continue
        slots.append(Slot(cursor, cursor + length))
        cursor += step
