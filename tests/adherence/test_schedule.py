"""Dose schedules from prescription lines (CP-3): every frequency, meal timing, the patient's own times, across
midnight, month and year ends, in the patient's time zone."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from shifa.adherence.schedule import Line, ScheduleError, default_times, dose_times

AMMAN = "Asia/Amman"
UTC = dt.UTC


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(AMMAN))


def wall(doses) -> list[str]:
    return [d.astimezone(ZoneInfo(AMMAN)).strftime("%m-%d %H:%M") for d in doses]


def test_three_times_a_day_after_meals_for_a_week_is_21_doses_from_the_next_meal():
    doses = dose_times(
        Line("three_times_daily", "after_meals", 7), start=local(2026, 11, 26, 10, 0), zone=AMMAN
    )
    assert len(doses) == 21
    assert wall(doses)[:4] == ["11-26 14:30", "11-26 20:30", "11-27 08:30", "11-27 14:30"]
    assert wall(doses)[-1] == "12-03 08:30"  # the course is complete even though it began after breakfast
    assert all(d.tzinfo is not None and d.utcoffset() == dt.timedelta(0) for d in doses)


@pytest.mark.parametrize(
    "frequency, timing, times",
    [
        ("once_daily", "", ["08:00"]),
        ("once_daily", "before_meals", ["07:30"]),
        ("once_daily", "empty_stomach", ["07:00"]),
        ("twice_daily", "with_meals", ["08:00", "20:00"]),
        ("three_times_daily", "", ["08:00", "14:00", "20:00"]),
        ("four_times_daily", "", ["08:00", "13:00", "18:00", "22:00"]),
        ("every_4_hours", "", ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]),
        ("every_6_hours", "", ["00:00", "06:00", "12:00", "18:00"]),
        ("every_8_hours", "", ["06:00", "14:00", "22:00"]),
        ("every_12_hours", "", ["06:00", "18:00"]),
        ("at_bedtime", "", ["22:00"]),
        ("once_weekly", "", ["09:00"]),
        ("as_needed", "", []),
    ],
)
def test_each_frequency_has_its_times_of_day(frequency, timing, times):
    assert [t.strftime("%H:%M") for t in default_times(frequency, timing)] == times


def test_every_8_hours_runs_across_midnight_and_the_end_of_february():
    doses = dose_times(Line("every_8_hours", "", 3), start=local(2027, 2, 27, 15, 0), zone=AMMAN)
    assert wall(doses) == [
        "02-27 22:00",
        "02-28 06:00",
        "02-28 14:00",
        "02-28 22:00",
        "03-01 06:00",
        "03-01 14:00",
        "03-01 22:00",
        "03-02 06:00",
        "03-02 14:00",
    ]
    gaps = {b - a for a, b in itertools.pairwise(doses)}
    assert gaps == {dt.timedelta(hours=8)}


def test_a_course_runs_across_the_end_of_the_year():
    doses = dose_times(Line("twice_daily", "", 3), start=local(2026, 12, 30, 21, 0), zone=AMMAN)
    assert wall(doses) == [
        "12-31 08:00",
        "12-31 20:00",
        "01-01 08:00",
        "01-01 20:00",
        "01-02 08:00",
        "01-02 20:00",
    ]
    assert doses[2].year == 2027


def test_once_a_week_gives_one_dose_per_started_week_seven_days_apart():
    doses = dose_times(Line("once_weekly", "", 30), start=local(2026, 11, 26, 8, 0), zone=AMMAN)
    assert wall(doses) == ["11-26 09:00", "12-03 09:00", "12-10 09:00", "12-17 09:00", "12-24 09:00"]
    late = dose_times(Line("once_weekly", "", 7), start=local(2026, 11, 26, 12, 0), zone=AMMAN)
    assert wall(late) == ["11-27 09:00"]


def test_once_only_and_when_needed():
    assert wall(dose_times(Line("once", "", None), start=local(2026, 11, 26, 23, 0), zone=AMMAN)) == [
        "11-27 09:00"
    ]
    assert dose_times(Line("as_needed", "", 5), start=local(2026, 11, 26, 8, 0), zone=AMMAN) == []


def test_the_patients_own_times_within_the_prescription():
    line = Line("three_times_daily", "", 2)
    own = [dt.time(7), dt.time(21, 30), dt.time(13)]
    doses = dose_times(line, start=local(2026, 11, 26, 6, 0), zone=AMMAN, times=own)
    assert wall(doses) == [
        "11-26 07:00",
        "11-26 13:00",
        "11-26 21:30",
        "11-27 07:00",
        "11-27 13:00",
        "11-27 21:30",
    ]
    with pytest.raises(ScheduleError) as refused:
        dose_times(line, start=local(2026, 11, 26, 6, 0), zone=AMMAN, times=[dt.time(7), dt.time(13)])
    assert refused.value.field == "times" and refused.value.code == "wrong_count"
    # "every 8 hours" may move as a whole, never closer together
    every_8 = Line("every_8_hours", "", 1)
    moved = dose_times(
        every_8, start=local(2026, 11, 26, 0, 0), zone=AMMAN, times=[dt.time(7), dt.time(15), dt.time(23)]
    )
    assert wall(moved) == ["11-26 07:00", "11-26 15:00", "11-26 23:00"]
    with pytest.raises(ScheduleError) as squeezed:
        dose_times(
            every_8, start=local(2026, 11, 26), zone=AMMAN, times=[dt.time(7), dt.time(9), dt.time(23)]
        )
    assert squeezed.value.code == "interval_changed"


def test_times_are_the_patients_wall_clock_in_their_zone():
    """The same line for a patient in Riyadh (UTC+3) and one in Cairo (UTC+2, with summer time) starts at 08:00
    local each, that is at different UTC instants."""
    line = Line("once_daily", "", 2)
    start = dt.datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    riyadh = dose_times(line, start=start, zone="Asia/Riyadh")
    cairo = dose_times(line, start=start, zone="Africa/Cairo")
    assert [d.hour for d in riyadh] == [5, 5] and [d.hour for d in cairo] == [5, 5]  # Cairo is UTC+3 in July
    winter = dose_times(line, start=dt.datetime(2026, 12, 1, tzinfo=UTC), zone="Africa/Cairo")
    assert [d.hour for d in winter] == [6, 6]


def test_a_line_without_duration_has_no_schedule_but_is_refused_clearly():
    with pytest.raises(ScheduleError) as refused:
        dose_times(Line("twice_daily", "", None), start=local(2026, 11, 26), zone=AMMAN)
    assert refused.value.field == "duration_days"
