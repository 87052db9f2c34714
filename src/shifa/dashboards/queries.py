"""The dashboards' figures. Each series is one grouped query done by PostgreSQL (counts, sums and percentiles by
local day, hour or month); Python only lays the at most a few dozen result rows out on the calendar.

Days are calendar days of the clinic's time zone (the platform's: ``SHIFA_DEFAULT_CLINIC_ZONE``); "the last 30 days"
are the 30 local days ending today, today included. Measures are defined in docs/decisions/0027-dashboards.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Aggregate,
    Count,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, ExtractHour, TruncDate

from shifa.access.policies import Actor
from shifa.core import timezones

from . import policies

DAYS = 30
MONTHS = 12
ZERO = Decimal("0.000")
#: A visit opened within this long of the check-in was opened *by* checking in (opening a visit from a booked
#: appointment checks the patient in at the same moment): no waiting was measured, so it is left out.
INSTANT_CHECK_IN = dt.timedelta(seconds=1)
#: Hours always shown on today's timeline, so that a quiet morning still reads as a day.
DAY_HOURS = (8, 17)
#: Statuses of today's appointments, in the order the dashboard lists them. Holds (a patient confirming) and
#: lapsed holds are not appointments yet.
TODAY_STATUSES = ("booked", "checked_in", "completed", "no_show", "cancelled")
NOT_BOOKINGS = ("held", "expired")


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_disc``: the smallest observed value with at least ``fraction`` of the values at or
    below it (the nearest-rank percentile, as the Treat Me Now page computes it): always a real observation."""

    function = "percentile_disc"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 < fraction <= 1:
            raise ValueError("a percentile's fraction is in (0, 1]")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


# --- calendar -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The last ``len(days)`` local days of a zone, today included, and their UTC bounds."""

    zone: str
    days: tuple[dt.date, ...]
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime

    @property
    def tzinfo(self) -> ZoneInfo:
        return timezones.zone(self.zone)

    @property
    def today(self) -> dt.date:
        return self.days[-1]


def window(zone: str | None, *, now: dt.datetime | None = None, days: int = DAYS) -> Window:
    now = now or timezones.now()
    zone = zone or settings.SHIFA_DEFAULT_CLINIC_ZONE
    today = timezones.to_local(now, zone).date()
    span = tuple(today - dt.timedelta(days=days - 1 - i) for i in range(days))
    start = timezones.local_datetime(span[0], dt.time(0, 0), zone)
    end = timezones.local_datetime(today + dt.timedelta(days=1), dt.time(0, 0), zone)
    return Window(zone=zone, days=span, start=start, end=end, now=now)


def _local_day(field: str, w: Window) -> TruncDate:
    return TruncDate(field, tzinfo=w.tzinfo)


def _seconds(value: dt.timedelta | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return round(value.total_seconds())
    return int(value)


# --- the clinic ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Today:
    day: dt.date
    by_status: dict[str, int]  # every status of TODAY_STATUSES, in that order
    by_hour: list[tuple[int, int]]  # (local hour, appointments starting then), a contiguous run of hours

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def clinic_today(*, actor: Actor, now: dt.datetime | None = None) -> Today:
    """Today's appointments of the acting clinic (local day): how many in each status, and how many start in each
    hour (cancelled ones left out). A cancellation that moved the visit to another time is not counted: the
    visit is counted where it went. Two queries on the (clinic, starts_at) index."""
    from shifa.scheduling.models import Appointment

    clinic = policies.require_clinic_block(actor, "appointments")
    w = window(clinic.time_zone, now=now, days=1)
    today = (
        Appointment.objects.for_clinic(clinic)
        .filter(starts_at__gte=w.start, starts_at__lt=w.end, status__in=TODAY_STATUSES)
        .exclude(status="cancelled", rescheduled_to__isnull=False)
    )
    counts = dict(today.values_list("status").annotate(n=Count("id")).order_by())
    hours = dict(
        today.exclude(status="cancelled")
        .annotate(hour=ExtractHour("starts_at", tzinfo=w.tzinfo))
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    first = min([DAY_HOURS[0], *hours])
    last = max([DAY_HOURS[1], *hours])
    return Today(
        day=w.today,
        by_status={status: counts.get(status, 0) for status in TODAY_STATUSES},
        by_hour=[(hour, hours.get(hour, 0)) for hour in range(first, last + 1)],
    )


@dataclass(frozen=True)
class NoShowDay:
    day: dt.date
    no_shows: int
    attended: int  # checked in or completed

    @property
    def due(self) -> int:
        return self.no_shows + self.attended

    @property
    def rate(self) -> Decimal | None:
        """No-shows as a percentage of the appointments that were due, one decimal; None when none was due."""
        return _percent(self.no_shows, self.due)


@dataclass(frozen=True)
class NoShows:
    days: list[NoShowDay]

    @property
    def no_shows(self) -> int:
        return sum(d.no_shows for d in self.days)

    @property
    def due(self) -> int:
        return sum(d.due for d in self.days)

    @property
    def rate(self) -> Decimal | None:
        return _percent(self.no_shows, self.due)


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"))


def clinic_no_shows(*, actor: Actor, now: dt.datetime | None = None, days: int = DAYS) -> NoShows:
    """No-shows of the acting clinic day by day over the last ``days`` days: appointments marked "did not come"
    among those that were due (no-shows + checked in + completed), by the local day they were to start; only
    appointments whose start has passed. One grouped query."""
    from shifa.scheduling.models import Appointment

    clinic = policies.require_clinic_block(actor, "no_shows")
    w = window(clinic.time_zone, now=now, days=days)
    rows = (
        Appointment.objects.for_clinic(clinic)
        .filter(starts_at__gte=w.start, starts_at__lt=min(w.end, w.now))
        .annotate(day=_local_day("starts_at", w))
        .values("day")
        .annotate(
            no_shows=Count("id", filter=Q(status="no_show")),
            attended=Count("id", filter=Q(status__in=("checked_in", "completed"))),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    return NoShows(
        days=[
            NoShowDay(
                day=day,
                no_shows=by_day.get(day, {}).get("no_shows", 0),
                attended=by_day.get(day, {}).get("attended", 0),
            )
            for day in w.days
        ]
    )


@dataclass(frozen=True)
class RevenueDay:
    day: dt.date
    received: Decimal  # payments less refunds
    billed: Decimal  # charges less discounts (the insurers' shares included: they are the clinic's money too)


@dataclass(frozen=True)
class ClinicRevenue:
    days: list[RevenueDay]  # the last 30 days
    month: dt.date  # the first day of the current local month
    month_received: Decimal
    month_billed: Decimal

    @property
    def received(self) -> Decimal:
        return sum((d.received for d in self.days), ZERO)

    @property
    def billed(self) -> Decimal:
        return sum((d.billed for d in self.days), ZERO)


def clinic_revenue(*, actor: Actor, now: dt.datetime | None = None, days: int = DAYS) -> ClinicRevenue:
    """The acting clinic's money from its ledger, by the local day each entry was recorded: received (payments
    less refunds) and billed (charges less discounts), over the last ``days`` days and this month so far. One
    grouped query over the days of both."""
    from shifa.billing.models import LedgerEntry

    clinic = policies.require_clinic_block(actor, "revenue")
    w = window(clinic.time_zone, now=now, days=days)
    month = w.today.replace(day=1)
    since = min(w.start, timezones.local_datetime(month, dt.time(0, 0), w.zone))
    money = DecimalField(max_digits=16, decimal_places=3)

    def total(kind: str):
        return Coalesce(Sum("amount", filter=Q(kind=kind)), Value(ZERO), output_field=money)

    rows = (
        LedgerEntry.objects.for_clinic(clinic)
        .filter(created_at__gte=since, created_at__lt=w.end)
        .annotate(day=_local_day("created_at", w))
        .values("day")
        .annotate(
            paid=total("payment"),
            refunded=total("refund"),
            charged=total("charge"),
            discounted=total("discount"),
        )
        .order_by()
    )
    by_day = {
        row["day"]: RevenueDay(
            day=row["day"],
            received=row["paid"] - row["refunded"],
            billed=row["charged"] - row["discounted"],
        )
        for row in rows
    }
    this_month = [d for day, d in by_day.items() if day >= month]
    return ClinicRevenue(
        days=[by_day.get(day) or RevenueDay(day=day, received=ZERO, billed=ZERO) for day in w.days],
        month=month,
        month_received=sum((d.received for d in this_month), ZERO),
        month_billed=sum((d.billed for d in this_month), ZERO),
    )


@dataclass(frozen=True)
class WaitDay:
    day: dt.date
    visits: int
    median_seconds: int | None
    p90_seconds: int | None = None


@dataclass(frozen=True)
class Waits:
    days: list[WaitDay]
    visits: int
    median_seconds: int | None
    p90_seconds: int | None


def clinic_waits(*, actor: Actor, now: dt.datetime | None = None, days: int = DAYS) -> Waits:
    """How long patients waited at the acting clinic: from check-in at the desk to the start of their visit, over
    the visits whose patient checked in during the last ``days`` days (the first visit of each appointment, not
    amendments; visits opened by checking in are left out — see ``INSTANT_CHECK_IN``). Median and 90th percentile
    over the whole period, and the median of each local day of check-in. Two queries."""
    from shifa.records.models import Visit

    clinic = policies.require_clinic_block(actor, "waits")
    w = window(clinic.time_zone, now=now, days=days)
    wait = ExpressionWrapper(F("started_at") - F("appointment__checked_in_at"), output_field=DurationField())
    visits = (
        Visit.objects.for_clinic(clinic)
        .filter(
            amends__isnull=True,
            appointment__checked_in_at__gte=w.start,
            appointment__checked_in_at__lt=w.end,
            started_at__gte=w.start,  # implied by the check-in bound; lets the visit's own time bound the scan
        )
        .alias(wait=wait)
        .filter(wait__gte=INSTANT_CHECK_IN)
    )
    rows = (
        visits.annotate(day=_local_day("appointment__checked_in_at", w))
        .values("day")
        .annotate(
            visits=Count("id"),
            median=Percentile(wait, 0.5, output_field=DurationField()),
            p90=Percentile(wait, 0.9, output_field=DurationField()),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    overall = visits.aggregate(
        visits=Count("id"),
        median=Percentile(wait, 0.5, output_field=DurationField()),
        p90=Percentile(wait, 0.9, output_field=DurationField()),
    )
    return Waits(
        days=[_wait_day(day, by_day.get(day)) for day in w.days],
        visits=overall["visits"],
        median_seconds=_seconds(overall["median"]),
        p90_seconds=_seconds(overall["p90"]),
    )


def _wait_day(day: dt.date, row: dict | None) -> WaitDay:
    if row is None:
        return WaitDay(day=day, visits=0, median_seconds=None, p90_seconds=None)
    return WaitDay(
        day=day,
        visits=row["visits"],
        median_seconds=_seconds(row["median"]),
        p90_seconds=_seconds(row["p90"]),
    )


# --- the platform -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    value: int


def platform_bookings(*, actor: Actor, now: dt.datetime | None = None, days: int = DAYS) -> list[DayCount]:
    """Appointments booked across all clinics, by the local day (platform zone) they were booked: booked through
    the app or at a desk, whatever became of them later; holds that lapsed, holds still waiting and moves of an
    existing booking are not bookings. One grouped query."""
    from shifa.scheduling.models import Appointment

    policies.require_platform_block(actor, "bookings")
    w = window(settings.SHIFA_DEFAULT_CLINIC_ZONE, now=now, days=days)
    counts = dict(
        Appointment.unscoped.filter(
            created_at__gte=w.start, created_at__lt=w.end, rescheduled_from__isnull=True
        )
        .exclude(status__in=NOT_BOOKINGS)
        .annotate(day=_local_day("created_at", w))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [DayCount(day=day, value=counts.get(day, 0)) for day in w.days]


@dataclass(frozen=True)
class VideoDay:
    day: dt.date
    calls: int
    minutes: int


def platform_video_minutes(
    *, actor: Actor, now: dt.datetime | None = None, days: int = DAYS
) -> list[VideoDay]:
    """Minutes of video across all clinics (video visits and Treat Me Now), by the local day a call started: each
    meeting from the moment its first participant was let in (``started_at``) until it was ended — or, when nobody
    ended it, until its window closed. Calls still going on are not counted yet. One grouped query."""
    from shifa.telehealth.models import Meeting

    policies.require_platform_block(actor, "video")
    w = window(settings.SHIFA_DEFAULT_CLINIC_ZONE, now=now, days=days)
    rows = (
        Meeting.unscoped.filter(started_at__gte=w.start, started_at__lt=w.end)
        .alias(finish=Coalesce("ended_at", "closes_at"))
        .filter(finish__lte=w.now, finish__gt=F("started_at"))
        .annotate(day=_local_day("started_at", w))
        .values("day")
        .annotate(
            calls=Count("id"),
            duration=Sum(
                ExpressionWrapper(F("finish") - F("started_at"), output_field=DurationField()),
                output_field=DurationField(),
            ),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    return [
        VideoDay(
            day=day,
            calls=by_day[day]["calls"] if day in by_day else 0,
            minutes=round(by_day[day]["duration"].total_seconds() / 60) if day in by_day else 0,
        )
        for day in w.days
    ]


def platform_urgent_waits(*, actor: Actor, now: dt.datetime | None = None, days: int = DAYS) -> Waits:
    """Treat Me Now waits: from the patient's request to a doctor's acceptance (``wait_seconds``), over the requests
    accepted in the last ``days`` days (on the ``accepted_at`` index), by the local day of acceptance: median and
    90th percentile of each day and of the period. Requests cancelled before a doctor took them have no wait and
    are not counted here (the Treat Me Now page counts them). Two queries."""
    from shifa.telehealth.models import UrgentRequest, UrgentStatus

    policies.require_platform_block(actor, "urgent")
    w = window(settings.SHIFA_DEFAULT_CLINIC_ZONE, now=now, days=days)
    accepted = UrgentRequest.objects.filter(
        status=UrgentStatus.ACCEPTED,
        accepted_at__gte=w.start,
        accepted_at__lt=w.end,
        wait_seconds__isnull=False,
    )
    figures = {
        "visits": Count("id"),
        "median": Percentile("wait_seconds", 0.5, output_field=IntegerField()),
        "p90": Percentile("wait_seconds", 0.9, output_field=IntegerField()),
    }
    rows = accepted.annotate(day=_local_day("accepted_at", w)).values("day").annotate(**figures).order_by()
    by_day = {row["day"]: row for row in rows}
    overall = accepted.aggregate(**figures)
    return Waits(
        days=[_wait_day(day, by_day.get(day)) for day in w.days],
        visits=overall["visits"],
        median_seconds=_seconds(overall["median"]),
        p90_seconds=_seconds(overall["p90"]),
    )


@dataclass(frozen=True)
class MonthRevenue:
    month: dt.date
    billed: Decimal
    received: Decimal


@dataclass(frozen=True)
class ClinicTotal:
    clinic: object
    billed: Decimal
    received: Decimal


@dataclass(frozen=True)
class PlatformRevenue:
    months: list[MonthRevenue]
    clinics: list[ClinicTotal]  # every clinic with money in the period, most received first

    @property
    def received(self) -> Decimal:
        return sum((m.received for m in self.months), ZERO)

    @property
    def billed(self) -> Decimal:
        return sum((m.billed for m in self.months), ZERO)


def _months_back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def platform_revenue(
    *, actor: Actor, now: dt.datetime | None = None, months: int = MONTHS
) -> PlatformRevenue:
    """Revenue across clinics by month over the last ``months`` months (this one included), from billing's
    ``revenue_by_clinic_month`` (each clinic's own calendar; sums only, never an invoice): billed (charges less
    discounts) and received (payments less refunds), per month and per clinic."""
    from shifa.billing.queries import revenue_by_clinic_month

    policies.require_platform_block(actor, "revenue")
    w = window(settings.SHIFA_DEFAULT_CLINIC_ZONE, now=now, days=1)
    last = w.today.replace(day=1)
    calendar = [_months_back(last, months - 1 - i) for i in range(months)]
    per_month = {month: [ZERO, ZERO] for month in calendar}
    per_clinic: dict[int, ClinicTotal] = {}
    for row in revenue_by_clinic_month(
        since=calendar[0], until=last
    ):  # one row per clinic and month, already summed
        billed, received = row["charged"] - row["discounted"], row["net_paid"]
        sums = per_month.setdefault(row["month"], [ZERO, ZERO])
        sums[0] += billed
        sums[1] += received
        before = per_clinic.get(row["clinic_id"])
        per_clinic[row["clinic_id"]] = ClinicTotal(
            clinic=row["clinic"],
            billed=billed + (before.billed if before else ZERO),
            received=received + (before.received if before else ZERO),
        )
    return PlatformRevenue(
        months=[MonthRevenue(month=m, billed=per_month[m][0], received=per_month[m][1]) for m in calendar],
        clinics=sorted(per_clinic.values(), key=lambda c: (-c.received, -c.billed, c.clinic.pk)),
    )
