"""Dashboards: the clinic's (today's appointments, no-shows, revenue, waiting times) and the platform's (PL-3:
bookings, video minutes, Treat Me Now waits, revenue across clinics). Each block is shown only to those who may
see its figures (``shifa.dashboards.policies``); each chart is server-rendered SVG with a title, a sentence saying
what it shows and the same figures as a table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import get_language, get_language_bidi, ngettext
from django.utils.translation import gettext as _

from shifa.access.declare import page
from shifa.core.money import Money
from shifa.dashboards import policies, queries
from shifa.dashboards.charts import Datum, Series, bar_chart, line_chart

from .views import _clinic_context

#: Each block's top clinics (the revenue page lists them all).
TOP_CLINICS = 10


class Formats:
    """Numbers, money, days and durations as the reader's language writes them. Months are named as on every
    other page (Django's Arabic: "نوفمبر"), not with CLDR's Jordanian names ("تشرين الثاني"), which ar_JO uses
    for full month names only; money goes through ``Money.format``."""

    def __init__(self, language: str):
        self.language = language
        self.locale = language

    def number(self, value) -> str:
        return format_decimal(value, locale=self.locale)

    def tick(self, value: float) -> str:
        return format_decimal(Decimal(str(value)), format="#,##0.##", locale=self.locale)

    def percent(self, value: Decimal | None) -> str:
        if value is None:
            return "—"
        return format_decimal(value, format="#,##0.0", locale=self.locale) + "%"

    def money(self, amount) -> str:
        return Money(amount).format(self.language)

    def day(self, day: dt.date) -> str:
        return format_date(day, "d MMM", locale=self.locale)

    def long_day(self, day: dt.date) -> str:
        return format_date(day, "EEEE d MMMM y", locale=self.locale)

    def month(self, month: dt.date) -> str:
        return format_date(month, "MMM y", locale=self.locale)

    def hour(self, hour: int) -> str:
        return format_time(dt.time(hour), "HH:mm", locale=self.locale)

    def minutes(self, seconds: int | None) -> str:
        """A wait: minutes with one decimal under ten minutes, whole minutes above."""
        if seconds is None:
            return "—"
        minutes = Decimal(seconds) / 60
        shown = minutes.quantize(Decimal("0.1")) if minutes < 10 else minutes.quantize(Decimal("1"))
        return _("%(minutes)s min") % {"minutes": self.number(shown)}


def _days(values, fmt: Formats, text) -> tuple[Datum, ...]:
    """(day, value) pairs as chart data, each value written by ``text``."""
    return tuple(Datum(day.isoformat(), fmt.day(day), value, text(value)) for day, value in values)


# --- the clinic ---------------------------------------------------------------------------------------------------


def _status_names() -> dict[str, str]:
    from shifa.scheduling.models import AppointmentStatus

    return {status.value: status.label for status in AppointmentStatus}


def _today_block(actor, fmt: Formats, rtl: bool) -> dict:
    today = queries.clinic_today(actor=actor)
    names = _status_names()
    busiest = max(today.by_hour, key=lambda pair: (pair[1], -pair[0]))
    if today.total:
        summary = ngettext(
            "%(total)s appointment today; the busiest hour starts at %(hour)s with %(count)s.",
            "%(total)s appointments today; the busiest hour starts at %(hour)s with %(count)s.",
            today.total,
        ) % {"total": fmt.number(today.total), "hour": fmt.hour(busiest[0]), "count": fmt.number(busiest[1])}
    else:
        summary = _("No appointment today.")
    series = Series(
        _("Appointments"),
        tuple(
            Datum(f"{hour:02d}", fmt.hour(hour), count, fmt.number(count)) for hour, count in today.by_hour
        ),
    )
    return {
        "day": fmt.long_day(today.day),
        "total": fmt.number(today.total),
        "statuses": [
            {"code": code, "name": names[code], "count": fmt.number(count)}
            for code, count in today.by_status.items()
        ],
        "chart": bar_chart(
            series,
            chart_id="clinic-today",
            title=_("Today's appointments by hour"),
            summary=summary,
            label_heading=_("Hour"),
            rtl=rtl,
            tick_text=fmt.tick,
            integer=True,
        ),
    }


def _no_show_block(actor, fmt: Formats, rtl: bool) -> dict:
    found = queries.clinic_no_shows(actor=actor)
    if found.due:
        summary = ngettext(
            "Over the last 30 days, %(no_shows)s of %(due)s due appointment was missed (%(rate)s).",
            "Over the last 30 days, %(no_shows)s of %(due)s due appointments were missed (%(rate)s).",
            found.due,
        ) % {
            "no_shows": fmt.number(found.no_shows),
            "due": fmt.number(found.due),
            "rate": fmt.percent(found.rate),
        }
    else:
        summary = _("No appointment was due in the last 30 days.")
    chart = line_chart(
        [Series(_("No-show rate"), _days(((d.day, d.rate) for d in found.days), fmt, fmt.percent))],
        chart_id="clinic-no-shows",
        title=_("No-show rate, day by day"),
        summary=summary,
        label_heading=_("Day"),
        rtl=rtl,
        tick_text=lambda v: fmt.tick(v) + "%",
        table_only=[
            Series(_("No-shows"), _days(((d.day, d.no_shows) for d in found.days), fmt, fmt.number)),
            Series(_("Appointments due"), _days(((d.day, d.due) for d in found.days), fmt, fmt.number)),
        ],
    )
    return {
        "rate": fmt.percent(found.rate),
        "no_shows": fmt.number(found.no_shows),
        "due": fmt.number(found.due),
        "chart": chart,
    }


def _revenue_block(actor, fmt: Formats, rtl: bool) -> dict:
    found = queries.clinic_revenue(actor=actor)
    summary = _(
        "Received in the last 30 days: %(received)s; this month so far: %(month)s received, %(billed)s billed."
    ) % {
        "received": fmt.money(found.received),
        "month": fmt.money(found.month_received),
        "billed": fmt.money(found.month_billed),
    }
    chart = bar_chart(
        Series(_("Received"), _days(((d.day, d.received) for d in found.days), fmt, fmt.money)),
        chart_id="clinic-revenue",
        title=_("Money received day by day (JOD)"),
        summary=summary,
        label_heading=_("Day"),
        rtl=rtl,
        tick_text=fmt.tick,
        table_only=[Series(_("Billed"), _days(((d.day, d.billed) for d in found.days), fmt, fmt.money))],
    )
    return {
        "month": format_date(found.month, "MMMM y", locale=fmt.locale),
        "month_received": fmt.money(found.month_received),
        "month_billed": fmt.money(found.month_billed),
        "received": fmt.money(found.received),
        "chart": chart,
    }


def _wait_figures(found: queries.Waits, fmt: Formats) -> dict[str, str]:
    return {
        "median": fmt.minutes(found.median_seconds),
        "p90": fmt.minutes(found.p90_seconds),
        "count": fmt.number(found.visits),
    }


def _minutes_value(seconds: int | None) -> Decimal | None:
    return None if seconds is None else (Decimal(seconds) / 60).quantize(Decimal("0.1"))


def _waits_block(actor, fmt: Formats, rtl: bool) -> dict:
    found = queries.clinic_waits(actor=actor)
    if found.visits:
        summary = ngettext(
            "Median wait %(median)s, 90th percentile %(p90)s, over %(count)s visit in the last 30 days.",
            "Median wait %(median)s, 90th percentile %(p90)s, over %(count)s visits in the last 30 days.",
            found.visits,
        ) % _wait_figures(found, fmt)
    else:
        summary = _("No patient was checked in and seen in the last 30 days.")
    chart = line_chart(
        [
            Series(
                _("Median wait"),
                tuple(
                    Datum(
                        d.day.isoformat(),
                        fmt.day(d.day),
                        _minutes_value(d.median_seconds),
                        fmt.minutes(d.median_seconds),
                    )
                    for d in found.days
                ),
            )
        ],
        chart_id="clinic-waits",
        title=_("Median wait from check-in to the visit, day by day (minutes)"),
        summary=summary,
        label_heading=_("Day"),
        rtl=rtl,
        tick_text=fmt.tick,
        table_only=[Series(_("Visits"), _days(((d.day, d.visits) for d in found.days), fmt, fmt.number))],
    )
    return {
        "median": fmt.minutes(found.median_seconds),
        "p90": fmt.minutes(found.p90_seconds),
        "visits": fmt.number(found.visits),
        "chart": chart,
    }


@page("tenancy.view_clinic")
def clinic_dashboard(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's figures: each block only for those who may see it (a doctor sees no revenue)."""
    actor = request.actor
    fmt, rtl = Formats(get_language()), get_language_bidi()
    blocks = policies.clinic_blocks(actor)
    zone = actor.clinic.time_zone or settings.SHIFA_DEFAULT_CLINIC_ZONE
    context = {**_clinic_context(request, "dashboard"), "blocks": blocks, "zone": zone}
    if "appointments" in blocks:
        context["today"] = _today_block(actor, fmt, rtl)
    if "no_shows" in blocks:
        context["no_shows"] = _no_show_block(actor, fmt, rtl)
    if "revenue" in blocks:
        context["revenue"] = _revenue_block(actor, fmt, rtl)
    if "waits" in blocks:
        context["waits"] = _waits_block(actor, fmt, rtl)
    return render(request, "web/dashboards/clinic.html", context)


# --- the platform -------------------------------------------------------------------------------------------------


def _bookings_block(actor, fmt: Formats, rtl: bool) -> dict:
    days = queries.platform_bookings(actor=actor)
    total = sum(d.value for d in days)
    summary = ngettext(
        "%(total)s booking across all clinics in the last 30 days; %(today)s today.",
        "%(total)s bookings across all clinics in the last 30 days; %(today)s today.",
        total,
    ) % {"total": fmt.number(total), "today": fmt.number(days[-1].value)}
    chart = bar_chart(
        Series(_("Bookings"), _days(((d.day, d.value) for d in days), fmt, fmt.number)),
        chart_id="platform-bookings",
        title=_("Bookings day by day"),
        summary=summary,
        label_heading=_("Day"),
        rtl=rtl,
        tick_text=fmt.tick,
        integer=True,
    )
    return {"total": fmt.number(total), "chart": chart}


def _video_block(actor, fmt: Formats, rtl: bool) -> dict:
    days = queries.platform_video_minutes(actor=actor)
    minutes, calls = sum(d.minutes for d in days), sum(d.calls for d in days)
    summary = ngettext(
        "Video in the last 30 days: %(minutes)s min over %(calls)s call.",
        "Video in the last 30 days: %(minutes)s min over %(calls)s calls.",
        calls,
    ) % {"minutes": fmt.number(minutes), "calls": fmt.number(calls)}
    chart = bar_chart(
        Series(_("Minutes"), _days(((d.day, d.minutes) for d in days), fmt, fmt.number), tone="accent"),
        chart_id="platform-video",
        title=_("Video minutes day by day"),
        summary=summary,
        label_heading=_("Day"),
        rtl=rtl,
        tick_text=fmt.tick,
        integer=True,
        table_only=[Series(_("Calls"), _days(((d.day, d.calls) for d in days), fmt, fmt.number))],
    )
    return {"minutes": fmt.number(minutes), "calls": fmt.number(calls), "chart": chart}


def _urgent_block(actor, fmt: Formats, rtl: bool) -> dict:
    found = queries.platform_urgent_waits(actor=actor)
    if found.visits:
        summary = ngettext(
            "Median wait %(median)s, 90th percentile %(p90)s, over %(count)s accepted request in the last 30 days.",
            "Median wait %(median)s, 90th percentile %(p90)s, over %(count)s accepted requests in the last 30 "
            "days.",
            found.visits,
        ) % _wait_figures(found, fmt)
    else:
        summary = _("No Treat Me Now request was accepted in the last 30 days.")

    def waits(name: str, field: str, **style) -> Series:
        return Series(
            name,
            tuple(
                Datum(
                    d.day.isoformat(),
                    fmt.day(d.day),
                    _minutes_value(getattr(d, field)),
                    fmt.minutes(getattr(d, field)),
                )
                for d in found.days
            ),
            **style,
        )

    chart = line_chart(
        [
            waits(_("Median"), "median_seconds"),
            waits(_("90th percentile"), "p90_seconds", tone="accent", dashed=True),
        ],
        chart_id="platform-urgent",
        title=_("Treat Me Now: wait from request to a doctor, day by day (minutes)"),
        summary=summary,
        label_heading=_("Day"),
        rtl=rtl,
        tick_text=fmt.tick,
        table_only=[Series(_("Accepted"), _days(((d.day, d.visits) for d in found.days), fmt, fmt.number))],
    )
    return {
        "median": fmt.minutes(found.median_seconds),
        "p90": fmt.minutes(found.p90_seconds),
        "accepted": fmt.number(found.visits),
        "chart": chart,
    }


def _platform_revenue_block(actor, fmt: Formats, rtl: bool) -> dict:
    found = queries.platform_revenue(actor=actor)
    summary = _("Received across all clinics over the last 12 months: %(received)s (billed: %(billed)s).") % {
        "received": fmt.money(found.received),
        "billed": fmt.money(found.billed),
    }

    def months(field: str) -> tuple[Datum, ...]:
        return tuple(
            Datum(
                m.month.isoformat()[:7],
                fmt.month(m.month),
                getattr(m, field),
                fmt.money(getattr(m, field)),
            )
            for m in found.months
        )

    chart = bar_chart(
        Series(_("Received"), months("received")),
        chart_id="platform-revenue",
        title=_("Money received across clinics, month by month (JOD)"),
        summary=summary,
        label_heading=_("Month"),
        rtl=rtl,
        tick_text=fmt.tick,
        label_every=3,  # month names are long in Arabic
        table_only=[Series(_("Billed"), months("billed"))],
    )
    language = fmt.language
    return {
        "received": fmt.money(found.received),
        "billed": fmt.money(found.billed),
        "chart": chart,
        "clinics": [
            {
                "name": c.clinic.display_name(language),
                "received": fmt.money(c.received),
                "billed": fmt.money(c.billed),
            }
            for c in found.clinics[:TOP_CLINICS]
        ],
        "more_clinics": max(0, len(found.clinics) - TOP_CLINICS),
    }


@page("platform.view_clinics")
def platform_dashboard(request: HttpRequest) -> HttpResponse:
    """PL-3: the platform's figures across clinics; revenue only for those who may see the clinics' money."""
    actor = request.actor
    fmt, rtl = Formats(get_language()), get_language_bidi()
    blocks = policies.platform_blocks(actor)
    context = {
        "nav": "dashboard",
        "shell_title": _("Platform console"),
        "blocks": blocks,
        "zone": settings.SHIFA_DEFAULT_CLINIC_ZONE,
    }
    if "bookings" in blocks:
        context["bookings"] = _bookings_block(actor, fmt, rtl)
    if "video" in blocks:
        context["video"] = _video_block(actor, fmt, rtl)
    if "urgent" in blocks:
        context["urgent"] = _urgent_block(actor, fmt, rtl)
    if "revenue" in blocks:
        context["revenue"] = _platform_revenue_block(actor, fmt, rtl)
    return render(request, "web/dashboards/platform.html", context)


urlpatterns = [
    path("clinic/<uuid:clinic_id>/dashboard", clinic_dashboard, name="clinic_dashboard"),
    path("platform/dashboard", platform_dashboard, name="platform_dashboard"),
]
