import datetime as dt

import pytest

from shifa.core import timezones


def test_now_is_aware_utc():
    now = timezones.now()
    assert now.tzinfo is not None and now.utcoffset() == dt.timedelta(0)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        timezones.require_aware(dt.datetime(2026, 1, 1, 9, 0))


def test_amman_wall_time_to_utc():
    # Jordan keeps UTC+3 all year since 2022.
    instant = timezones.local_datetime(dt.date(2026, 11, 25), dt.time(9, 0), "Asia/Amman")
    assert instant == dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
    assert timezones.isoformat_z(instant) == "2026-11-25T06:00:00Z"


def test_skipped_wall_time_moves_forward_and_repeated_takes_first():
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29 and repeats 02:00-03:00 on 2026-10-25.
    skipped = timezones.local_datetime(dt.date(2026, 3, 29), dt.time(2, 30), "Europe/Berlin")
    assert skipped == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    repeated = timezones.local_datetime(dt.date(2026, 10, 25), dt.time(2, 30), "Europe/Berlin")
    assert repeated == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


def test_local_day_bounds_cover_24_hours_in_amman():
    start, end = timezones.local_day_bounds(dt.date(2026, 11, 25), "Asia/Amman")
    assert end - start == dt.timedelta(hours=24)
    assert start == dt.datetime(2026, 11, 24, 21, 0, tzinfo=dt.UTC)


def test_unknown_zone_is_an_error():
    with pytest.raises(ValueError):
        timezones.zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("name", "language", "shown"),
    [
        ("Asia/Amman", "en", "Jordan Time"),
        ("Asia/Amman", "ar", "توقيت الأردن"),
        ("Asia/Riyadh", "ar", "توقيت المملكة العربية السعودية"),
        ("", "en", "Jordan Time"),
        ("UTC", "en", "GMT+00:00"),
        ("Not/AZone", "en", "Not/AZone"),
    ],
)
def test_zones_are_shown_as_people_call_them(name, language, shown, settings):
    settings.SHIFA_DEFAULT_CLINIC_ZONE = "Asia/Amman"
    assert timezones.describe(name, language) == shown
