"""Aware datetimes only: stored in UTC, shown in the clinic's or patient's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.utils import timezone

UTC = dt.UTC


def now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return timezone.now()


def default_zone() -> ZoneInfo:
    return ZoneInfo(settings.SHIFA_DEFAULT_CLINIC_ZONE)


def zone(name: str | None) -> ZoneInfo:
    """The zone called ``name`` (the clinic default when empty); ValueError for an unknown name."""
    if not name:
        return default_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def is_valid_zone(name: str) -> bool:
    return name in available_timezones()


def describe(name: str | None, language: str) -> str:
    """A zone as people call it, in their language (CLDR through Babel): ``Asia/Amman`` is "Jordan Time" in
    English and "توقيت الأردن" in Arabic. The clinic default when empty; the name itself when CLDR has none."""
    from babel.dates import get_timezone_gmt, get_timezone_location

    name = name or settings.SHIFA_DEFAULT_CLINIC_ZONE
    locale = {"ar": "ar_JO"}.get(language, language or "en")
    try:
        if name == "UTC" or name.startswith("Etc/"):  # no place to name: its offset ("GMT+03:00")
            return get_timezone_gmt(now().astimezone(zone(name)), locale=locale, width="long")
        return get_timezone_location(name, locale=locale)
    except (LookupError, ValueError):
        return name


def require_aware(value: dt.datetime) -> dt.datetime:
    """Return ``value`` in UTC; refuse a naive datetime, whose meaning would be a guess."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("naive datetime: a time must carry its zone")
    return value.astimezone(UTC)


def to_local(value: dt.datetime, zone_name: str | None = None) -> dt.datetime:
    return require_aware(value).astimezone(zone(zone_name))


def local_datetime(day: dt.date, time: dt.time, zone_name: str | None = None) -> dt.datetime:
    """The aware UTC instant of a wall-clock ``time`` on ``day`` in a zone.

    A wall time skipped by a daylight-saving jump resolves forward; a repeated one takes its first occurrence.
    """
    # zoneinfo with fold=0 maps a skipped wall time with the offset before the jump (i.e. later in real
    # time) and a repeated wall time to its first occurrence: exactly the rule above.
    return dt.datetime.combine(day, time, tzinfo=zone(zone_name)).replace(fold=0).astimezone(UTC)


def local_day_bounds(day: dt.date, zone_name: str | None = None) -> tuple[dt.datetime, dt.datetime]:
    """UTC start (inclusive) and end (exclusive) of a local calendar day."""
    start = local_datetime(day, dt.time(0, 0), zone_name)
    end = local_datetime(day + dt.timedelta(days=1), dt.time(0, 0), zone_name)
    return start, end


def isoformat_z(value: dt.datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as the API writes times."""
    return require_aware(value).isoformat().replace("+00:00", "Z")


def wall_clock(value: dt.datetime, zone_name: str | None = None) -> dt.datetime:
    """What a clock in that zone shows at ``value``, as a naive datetime: for display, so that templates (which
    convert aware times to the active zone) print the clinic's local time."""
    return to_local(value, zone_name).replace(tzinfo=None)
