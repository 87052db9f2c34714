"""Dashboards (issue 12, PL-3): the figures add up on a small known fixture, other clinics' rows never count,
the charts are well-formed SVG that mirror in Arabic, and each block shows only to those who may see it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from shifa.access import catalog
from shifa.access.actions import role_permission_set
from shifa.access.policies import Actor
from shifa.billing import actions as billing_actions
from shifa.core.errors import Forbidden
from shifa.dashboards import charts, queries
from shifa.records import actions as records_actions
from shifa.records.models import Patient
from shifa.scheduling import actions as scheduling_actions
from shifa.scheduling.models import Appointment
from shifa.telehealth.models import Meeting, UrgentRequest
from tests.conftest import sign_in_page
from tests.routes_billing import make_invoice

AMMAN = ZoneInfo("Asia/Amman")
#: Noon in Amman on 15 March 2026: "today" is the 15th, the 30 days run from 14 February, the month from the 1st.
NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=AMMAN).astimezone(dt.UTC)
SVG = "{http://www.w3.org/2000/svg}"


def local(day: str, time: str = "10:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=AMMAN).astimezone(dt.UTC)


@contextmanager
def at(moment: dt.datetime):
    """Everything in the block happens at ``moment`` (the product's clock and Django's ``auto_now`` fields)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def actor(cast, role: str, clinic=None) -> Actor:
    clinic = clinic or cast.clinic_a
    user = cast.doctor_b if clinic == cast.clinic_b else cast.staff_a[role]
    return Actor(user=user, clinic=clinic, roles=frozenset({role}))


def platform(cast) -> Actor:
    return Actor(user=cast.platform_admin, roles=frozenset({catalog.PLATFORM_ADMIN}))


def appointment(clinic, doctor, patient, starts: dt.datetime, status: str = "booked", **extra) -> Appointment:
    if status == "held":
        extra.setdefault("hold_expires_at", starts)
    return Appointment.unscoped.create(
        clinic=clinic,
        doctor=doctor,
        patient=patient,
        visit_type="office",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=30),
        status=status,
        channel="desk",
        **extra,
    )


# --- the clinic's fixture -----------------------------------------------------------------------------------------


@pytest.fixture
def clinic_data(cast):
    """Clinic A's known day, month and 30 days, with clinic B doing the same things (never to be counted in A)."""
    doctor, patient = cast.staff_a["doctor"], cast.patient
    patient_b = Patient.objects.create(full_name="Patient of B")
    desk, desk_b = actor(cast, "secretary"), actor(cast, "doctor", cast.clinic_b)
    doc = actor(cast, "doctor")

    # Today: booked three times (one of them where a cancelled visit moved to), checked in, completed, no-show, one plain
    # cancellation; a hold and clinic B's booking do not count.
    for time, status in (("09:00", "completed"), ("09:30", "checked_in"), ("10:00", "no_show")):
        appointment(cast.clinic_a, doctor, patient, local("2026-03-15", time), status)
    appointment(cast.clinic_a, doctor, patient, local("2026-03-15", "10:30"))
    appointment(cast.clinic_a, doctor, patient, local("2026-03-15", "13:00"))
    appointment(cast.clinic_a, doctor, patient, local("2026-03-15", "11:00"), "cancelled")
    moved = appointment(cast.clinic_a, doctor, patient, local("2026-03-15", "11:30"), "cancelled")
    appointment(cast.clinic_a, doctor, patient, local("2026-03-15", "14:00"), rescheduled_from=moved)
    appointment(cast.clinic_a, doctor, patient, local("2026-03-15", "15:00"), "held")
    appointment(cast.clinic_b, cast.doctor_b, patient_b, local("2026-03-15", "09:00"))

    # No-shows: one on the 14th, one on the 10th (each day also has two visits below), one outside the 30 days,
    # one at clinic B.
    appointment(cast.clinic_a, doctor, patient, local("2026-03-14", "16:00"), "no_show")
    appointment(cast.clinic_a, doctor, patient, local("2026-03-10", "16:00"), "no_show")
    appointment(cast.clinic_a, doctor, patient, local("2026-02-10", "16:00"), "no_show")
    appointment(cast.clinic_b, cast.doctor_b, patient_b, local("2026-03-14", "16:00"), "no_show")

    # Waits, through the desk's and the doctor's actions: 15 and 5 minutes on the 14th, 40 minutes on the 10th;
    # a visit opened straight from a booked appointment (no wait measured), one at clinic B, one too long ago.
    def visit(actor_, desk_, clinic, doctor_, patient_, day, starts, checked_in, opened):
        found = appointment(clinic, doctor_, patient_, local(day, starts))
        if checked_in:
            with at(local(day, checked_in)):
                scheduling_actions.appointment_check_in(actor=desk_, appointment_id=found.external_id)
        with at(local(day, opened)):
            records_actions.visit_open(actor=actor_, appointment_id=found.external_id)

    visit(doc, desk, cast.clinic_a, doctor, patient, "2026-03-14", "09:00", "08:50", "09:05")
    visit(doc, desk, cast.clinic_a, doctor, patient, "2026-03-14", "10:00", "09:58", "10:03")
    visit(doc, desk, cast.clinic_a, doctor, patient, "2026-03-10", "11:00", "10:40", "11:20")
    visit(doc, desk, cast.clinic_a, doctor, patient, "2026-03-10", "12:00", None, "12:00")
    visit(desk_b, desk_b, cast.clinic_b, cast.doctor_b, patient_b, "2026-03-14", "09:00", "08:00", "09:30")
    visit(doc, desk, cast.clinic_a, doctor, patient, "2026-02-01", "09:00", "08:00", "09:00")

    # Revenue, through the desk's actions (the ledger's own rules hold): see test_clinic_revenue.
    def invoice(desk_, patient_, moment, charge):
        with at(moment):
            return billing_actions.invoice_open(
                actor=desk_,
                patient_id=patient_.external_id,
                lines=[{"description": "Consultation", "amount": charge}],
            )

    def post(desk_, invoice_, moment, kind, amount):
        with at(moment):
            billing_actions.entry_post(
                actor=desk_,
                invoice_id=invoice_.external_id,
                kind=kind,
                amount=amount,
                method="cash" if kind in ("payment", "refund") else "",
            )

    first = invoice(desk, patient, local("2026-03-14"), "50.000")
    post(desk, first, local("2026-03-14"), "discount", "5.000")
    post(desk, first, local("2026-03-14"), "payment", "30.000")
    second = invoice(desk, patient, local("2026-03-01", "00:30"), "20.000")  # 28 February in UTC
    post(desk, second, local("2026-03-01", "00:30"), "payment", "20.000")
    post(desk, second, local("2026-03-02"), "refund", "5.000")
    third = invoice(desk, patient, local("2026-02-20"), "100.000")
    post(desk, third, local("2026-02-20"), "payment", "93.000")
    post(desk, third, local("2026-02-28", "23:30"), "payment", "7.000")  # still February in Amman
    old = invoice(desk, patient, local("2026-02-01"), "10.000")
    post(desk, old, local("2026-02-01"), "payment", "10.000")
    other = invoice(desk_b, patient_b, local("2026-03-14"), "999.000")
    post(desk_b, other, local("2026-03-14"), "payment", "999.000")
    return cast


def test_today_counts_each_status_and_hour(clinic_data):
    today = queries.clinic_today(actor=actor(clinic_data, "secretary"), now=NOW)
    assert today.day == dt.date(2026, 3, 15)
    assert today.by_status == {"booked": 3, "checked_in": 1, "completed": 1, "no_show": 1, "cancelled": 1}
    assert today.total == 7
    hours = dict(today.by_hour)
    assert list(hours) == list(range(8, 18))
    assert (hours[9], hours[10], hours[11], hours[13], hours[14], hours[15]) == (2, 2, 0, 1, 1, 0)


def test_no_show_rate_is_of_the_appointments_that_were_due(clinic_data):
    found = queries.clinic_no_shows(actor=actor(clinic_data, "secretary"), now=NOW)
    assert len(found.days) == 30 and found.days[0].day == dt.date(2026, 2, 14)
    by_day = {d.day: d for d in found.days}
    # 14th: a no-show and two checked-in visits; 10th the same; today: a no-show, a completed and a checked-in
    # visit (today's booked appointments at 10:30 and later are not due yet, or not marked: not counted).
    assert (by_day[dt.date(2026, 3, 14)].no_shows, by_day[dt.date(2026, 3, 14)].due) == (1, 3)
    assert (by_day[dt.date(2026, 3, 10)].no_shows, by_day[dt.date(2026, 3, 10)].due) == (1, 3)
    assert (by_day[dt.date(2026, 3, 15)].no_shows, by_day[dt.date(2026, 3, 15)].due) == (1, 3)
    assert by_day[dt.date(2026, 3, 12)].rate is None
    assert (found.no_shows, found.due, found.rate) == (3, 9, Decimal("33.3"))


def test_clinic_revenue_follows_the_ledger_and_the_clinic_calendar(clinic_data):
    found = queries.clinic_revenue(actor=actor(clinic_data, "secretary"), now=NOW)
    by_day = {d.day: d for d in found.days}
    assert (by_day[dt.date(2026, 3, 14)].received, by_day[dt.date(2026, 3, 14)].billed) == (
        Decimal("30.000"),
        Decimal("45.000"),
    )
    assert by_day[dt.date(2026, 3, 1)].received == Decimal("20.000")  # 00:30 in Amman is still the 1st
    assert by_day[dt.date(2026, 3, 2)].received == Decimal("-5.000")  # a refund alone
    assert by_day[dt.date(2026, 2, 28)].received == Decimal("7.000")  # 23:30 in Amman
    assert found.received == Decimal("145.000")  # 1 February and clinic B's 999 are not counted
    assert found.month == dt.date(2026, 3, 1)
    assert (found.month_received, found.month_billed) == (Decimal("45.000"), Decimal("65.000"))


def test_waits_run_from_check_in_to_the_visit(clinic_data):
    found = queries.clinic_waits(actor=actor(clinic_data, "doctor"), now=NOW)
    # 5, 15 and 40 minutes; the visit opened by checking in, clinic B's and February's are left out.
    assert found.visits == 3
    assert (found.median_seconds, found.p90_seconds) == (15 * 60, 40 * 60)
    by_day = {d.day: d for d in found.days}
    assert (by_day[dt.date(2026, 3, 14)].visits, by_day[dt.date(2026, 3, 14)].median_seconds) == (2, 5 * 60)
    assert by_day[dt.date(2026, 3, 10)].median_seconds == 40 * 60
    assert by_day[dt.date(2026, 3, 13)].median_seconds is None


def test_clinic_b_sees_only_its_own_figures(clinic_data):
    doctor_b = actor(clinic_data, "doctor", clinic_data.clinic_b)
    today = queries.clinic_today(actor=doctor_b, now=NOW)
    assert today.by_status["booked"] == 1 and today.total == 1
    found = queries.clinic_no_shows(actor=doctor_b, now=NOW)
    assert (found.no_shows, found.due) == (1, 2)  # its no-show and its checked-in visit on the 14th
    waits = queries.clinic_waits(actor=doctor_b, now=NOW)
    assert (waits.visits, waits.median_seconds) == (1, 90 * 60)


def test_revenue_is_refused_to_roles_without_billing(clinic_data):
    with pytest.raises(Forbidden):
        queries.clinic_revenue(actor=actor(clinic_data, "doctor"), now=NOW)
    with pytest.raises(Forbidden):
        queries.platform_revenue(actor=actor(clinic_data, "clinic_admin"), now=NOW)


def test_each_series_is_a_fixed_number_of_queries(clinic_data):
    """Grouped in the database: the count of queries does not grow with the rows (policy check + the series)."""
    secretary = actor(clinic_data, "secretary")
    for query, most in (
        (queries.clinic_today, 3),
        (queries.clinic_no_shows, 2),
        (queries.clinic_revenue, 2),
        (queries.clinic_waits, 3),
    ):
        with CaptureQueriesContext(connection) as captured:
            query(actor=secretary, now=NOW)
        assert len(captured) <= most, (query.__name__, [q["sql"] for q in captured])


# --- the platform's fixture ---------------------------------------------------------------------------------------


@pytest.fixture
def platform_data(cast):
    doctor, patient = cast.staff_a["doctor"], cast.patient
    patient_b = Patient.objects.create(full_name="Patient of B")

    # Bookings: two today (one at each clinic), one yesterday; a hold, a lapsed hold, a move and an old one not.
    def booked(moment, clinic, doctor_, patient_, starts, status="booked", **extra):
        with at(moment):
            return appointment(clinic, doctor_, patient_, starts, status, **extra)

    booked(local("2026-03-15", "08:00"), cast.clinic_a, doctor, patient, local("2026-03-20", "09:00"))
    booked(
        local("2026-03-15", "09:00"), cast.clinic_b, cast.doctor_b, patient_b, local("2026-03-20", "09:00")
    )
    first = booked(local("2026-03-14", "23:30"), cast.clinic_a, doctor, patient, local("2026-03-21", "09:00"))
    booked(local("2026-03-15", "10:00"), cast.clinic_a, doctor, patient, local("2026-03-22", "09:00"), "held")
    booked(
        local("2026-03-15", "10:00"), cast.clinic_a, doctor, patient, local("2026-03-22", "10:00"), "expired"
    )
    booked(
        local("2026-03-15", "11:00"),
        cast.clinic_a,
        doctor,
        patient,
        local("2026-03-23", "09:00"),
        rescheduled_from=first,
    )
    booked(local("2026-02-01"), cast.clinic_a, doctor, patient, local("2026-02-02", "09:00"))

    # Video: 20 minutes at A and 30 (never ended: until its window closed) at B on the 14th, 12 minutes on the
    # 10th; one still going on now and one never started are not counted.
    def meeting(clinic, started, ended=None, closes=None, opens=None):
        opens = opens or (started or NOW) - dt.timedelta(minutes=15)
        return Meeting.unscoped.create(
            clinic=clinic,
            provider="webrtc",
            provider_meeting_id=uuid.uuid4().hex,
            external_meeting_id=uuid.uuid4().hex,
            opens_at=opens,
            closes_at=closes or opens + dt.timedelta(hours=2),
            started_at=started,
            ended_at=ended,
            status="ended" if ended else "open",
        )

    meeting(cast.clinic_a, local("2026-03-14", "10:00"), local("2026-03-14", "10:20"))
    meeting(cast.clinic_b, local("2026-03-14", "11:00"), closes=local("2026-03-14", "11:30"))
    meeting(cast.clinic_a, local("2026-03-10", "09:00"), local("2026-03-10", "09:12"))
    meeting(cast.clinic_a, local("2026-03-15", "11:50"), closes=local("2026-03-15", "12:30"))
    meeting(cast.clinic_a, None, opens=local("2026-03-13"))

    # Treat Me Now: 1, 3 and 10 minutes on the 14th, 2 minutes today; a cancelled one and an old one not.
    def urgent(accepted, seconds, status="accepted", clinic=cast.clinic_a):
        return UrgentRequest.objects.create(
            patient=Patient.objects.create(full_name="Urgent"),
            requested_by=cast.patient_user,
            status=status,
            clinic=clinic if status == "accepted" else None,
            doctor=doctor if status == "accepted" else None,
            accepted_at=accepted,
            wait_seconds=seconds,
            cancelled_at=None if status == "accepted" else local("2026-03-14"),
        )

    urgent(local("2026-03-14", "10:00"), 60)
    urgent(local("2026-03-14", "11:00"), 180, clinic=cast.clinic_b)
    urgent(local("2026-03-14", "12:00"), 600)
    urgent(local("2026-03-15", "09:00"), 120)
    urgent(None, None, status="cancelled")
    urgent(local("2026-02-01"), 3000)

    # Revenue: A 50 in March 2026, B 20 of 30 in January 2026; A's February 2025 is beyond the 12 months.
    issuer = cast.staff_a["secretary"]
    with at(local("2026-03-05")):
        make_invoice(cast.clinic_a, patient, charge="50.000", paid="50.000", issued_by=issuer)
    with at(local("2026-01-10")):
        make_invoice(cast.clinic_b, patient_b, charge="30.000", paid="20.000", issued_by=issuer)
    with at(local("2025-02-10")):
        make_invoice(cast.clinic_a, patient, charge="40.000", paid="40.000", issued_by=issuer)
    return cast


def test_bookings_count_new_appointments_by_the_day_they_were_booked(platform_data):
    days = {d.day: d.value for d in queries.platform_bookings(actor=platform(platform_data), now=NOW)}
    assert len(days) == 30
    assert days[dt.date(2026, 3, 15)] == 2
    assert days[dt.date(2026, 3, 14)] == 1
    assert sum(days.values()) == 3


def test_video_minutes_count_finished_calls(platform_data):
    days = {d.day: d for d in queries.platform_video_minutes(actor=platform(platform_data), now=NOW)}
    assert (days[dt.date(2026, 3, 14)].calls, days[dt.date(2026, 3, 14)].minutes) == (2, 50)
    assert (days[dt.date(2026, 3, 10)].calls, days[dt.date(2026, 3, 10)].minutes) == (1, 12)
    assert days[dt.date(2026, 3, 15)].calls == 0  # still going on
    assert sum(d.minutes for d in days.values()) == 62


def test_treat_me_now_waits_are_nearest_rank_percentiles(platform_data):
    found = queries.platform_urgent_waits(actor=platform(platform_data), now=NOW)
    assert found.visits == 4
    assert (found.median_seconds, found.p90_seconds) == (120, 600)
    by_day = {d.day: d for d in found.days}
    assert (by_day[dt.date(2026, 3, 14)].median_seconds, by_day[dt.date(2026, 3, 14)].p90_seconds) == (
        180,
        600,
    )
    assert by_day[dt.date(2026, 3, 15)].median_seconds == 120


def test_platform_revenue_sums_the_clinics_by_month(platform_data):
    found = queries.platform_revenue(actor=platform(platform_data), now=NOW)
    assert [m.month for m in found.months][:2] == [dt.date(2025, 4, 1), dt.date(2025, 5, 1)]
    assert len(found.months) == 12 and found.months[-1].month == dt.date(2026, 3, 1)
    months = {m.month: m for m in found.months}
    assert (months[dt.date(2026, 3, 1)].received, months[dt.date(2026, 3, 1)].billed) == (
        Decimal("50.000"),
        Decimal("50.000"),
    )
    assert (months[dt.date(2026, 1, 1)].received, months[dt.date(2026, 1, 1)].billed) == (
        Decimal("20.000"),
        Decimal("30.000"),
    )
    assert (found.received, found.billed) == (Decimal("70.000"), Decimal("80.000"))
    assert [(c.clinic, c.received) for c in found.clinics] == [
        (platform_data.clinic_a, Decimal("50.000")),
        (platform_data.clinic_b, Decimal("20.000")),
    ]


def test_platform_figures_are_for_platform_admins_only(platform_data):
    for query in (queries.platform_bookings, queries.platform_video_minutes, queries.platform_urgent_waits):
        with pytest.raises(Forbidden):
            query(actor=actor(platform_data, "clinic_admin"), now=NOW)


# --- charts -------------------------------------------------------------------------------------------------------


def _series(values, name="Visits") -> charts.Series:
    return charts.Series(
        name,
        tuple(charts.Datum(f"k{i}", f"L{i}", v, "—" if v is None else str(v)) for i, v in enumerate(values)),
    )


def _bar(values, *, rtl=False, **kw):
    return charts.bar_chart(
        _series(values),
        chart_id="test-chart",
        title=kw.pop("title", "Visits"),
        summary="Visits by day",
        label_heading="Day",
        rtl=rtl,
        tick_text=str,
        **kw,
    )


def _parse(chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def test_a_bar_chart_is_well_formed_svg_with_its_title_and_summary():
    root = _parse(_bar([3, 0, 5, None]))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Visits"
    assert root.find(f"{SVG}desc").text == "Visits by day"
    assert root.get("aria-labelledby") == "test-chart-title"
    bars = root.findall(f"{SVG}g[@class='chart-bar chart-tone-primary']")
    assert [g.get("data-key") for g in bars] == ["k0", "k1", "k2", "k3"]
    assert [len(g.findall(f"{SVG}rect")) for g in bars] == [1, 0, 1, 0]  # nothing drawn for zero or no value


def test_chart_text_is_escaped():
    chart = charts.bar_chart(
        charts.Series("<b>", (charts.Datum("a", "</text><script>x</script>", 1, "1 & 2"),)),
        chart_id="escaped",
        title='Title "quoted" <i>',
        summary="a < b",
        label_heading="Day",
        rtl=False,
        tick_text=str,
    )
    root = _parse(chart)
    assert root.find(f"{SVG}title").text == 'Title "quoted" <i>'
    assert "<script>" not in str(chart.svg)
    assert any(t.text == "</text><script>x</script>" for t in root.iter(f"{SVG}text"))


def test_charts_refuse_an_unsafe_id():
    with pytest.raises(ValueError):
        charts.bar_chart(
            _series([1]),
            chart_id='x" onload="alert(1)',
            title="t",
            summary="s",
            label_heading="Day",
            rtl=False,
            tick_text=str,
        )


def _label_x(root, label: str) -> float:
    return next(float(t.get("x")) for t in root.iter(f"{SVG}text") if t.text == label)


def test_time_runs_right_to_left_in_arabic():
    ltr, rtl = _parse(_bar([1, 2, 3], label_every=1)), _parse(_bar([1, 2, 3], rtl=True, label_every=1))
    assert _label_x(ltr, "L0") < _label_x(ltr, "L2")
    assert _label_x(rtl, "L0") > _label_x(rtl, "L2")
    assert _label_x(rtl, "L0") == pytest.approx(charts.WIDTH - _label_x(ltr, "L0"))  # a mirror image

    # The value axis moves to the right-hand side.
    def ticks(root):
        return [float(t.get("x")) for t in root.iter(f"{SVG}text") if t.get("class") == "chart-tick"]

    assert max(ticks(ltr)) < charts.AXIS < min(ticks(rtl))
    assert all(t.get("direction") == "rtl" for t in rtl.iter(f"{SVG}text") if t.get("class") == "chart-label")


def test_negative_bars_hang_below_the_zero_line():
    root = _parse(_bar([10, -5]))
    zero = next(
        float(line.get("y1")) for line in root.iter(f"{SVG}line") if "chart-zero" in line.get("class")
    )
    up, down = (g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g") if g.get("data-key"))
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(zero)
    assert float(down.get("y")) == pytest.approx(zero)


def test_a_line_breaks_where_a_value_is_missing():
    chart = charts.line_chart(
        [
            _series([1, 2, None, 4, 5, None, 7]),
            charts.Series("p90", _series([2, 3, 4, 5, 6, 7, 8]).data, "accent", True),
        ],
        chart_id="lines",
        title="Waits",
        summary="Median and 90th percentile",
        label_heading="Day",
        rtl=False,
        tick_text=str,
    )
    root = _parse(chart)
    first, second = root.findall(f"{SVG}g[@class='chart-line chart-tone-primary']") + root.findall(
        f"{SVG}g[@class='chart-line chart-tone-accent']"
    )
    assert len(first.findall(f"{SVG}polyline")) == 2  # 1-2 and 4-5; 7 alone is a point
    assert len(first.findall(f"{SVG}circle")) == 5
    assert second.find(f"{SVG}polyline").get("stroke-dasharray") == "6 4"
    assert [row["cells"] for row in chart.rows][2] == ["—", "4"]


def test_ticks_are_round_and_cover_the_values():
    assert charts.nice_ticks(0, 7, integer=True) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1.0]
    ticks = charts.nice_ticks(-5, 45)
    assert 0 in ticks and ticks[0] <= -5 and ticks[-1] >= 45
    assert charts.nice_ticks(0, 1, integer=True) == [0, 1]


# --- the pages ----------------------------------------------------------------------------------------------------


def page(user, language: str = "en") -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def blocks(response) -> set[str]:
    return set(re.findall(r'data-block="(\w+)"', response.content.decode()))


def figure(response, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', response.content.decode())
    return match.group(1) if match else ""


def svgs(response) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg xmlns=.*?</svg>", response.content.decode(), re.S)]


def clinic_url(clinic) -> str:
    return f"/clinic/{clinic.external_id}/dashboard"


def test_the_desk_sees_every_block_with_the_fixtures_figures(clinic_data):
    with at(NOW):
        response = page(clinic_data.staff_a["secretary"]).get(clinic_url(clinic_data.clinic_a))
    assert response.status_code == 200
    assert blocks(response) == {"appointments", "no_shows", "revenue", "waits"}
    assert figure(response, "total") == "7"
    assert figure(response, "rate") == "33.3%"
    assert figure(response, "month_received") == "JOD\u00a045.000"
    assert figure(response, "median") == "15 min"
    charts_ = svgs(response)
    assert [c.get("data-chart") for c in charts_] == [
        "clinic-today",
        "clinic-no-shows",
        "clinic-revenue",
        "clinic-waits",
    ]
    assert 'data-chart-table="clinic-revenue"' in response.content.decode()
    assert '<tr data-key="2026-03-14"><th scope="row">14 Mar</th><td class="num">JOD\u00a030.000</td>' in (
        response.content.decode()
    )


@pytest.mark.parametrize("role", ["doctor", "nurse", "assistant_doctor"])
def test_roles_without_billing_see_no_revenue(clinic_data, role):
    with at(NOW):
        response = page(clinic_data.staff_a[role]).get(clinic_url(clinic_data.clinic_a))
    assert response.status_code == 200
    assert blocks(response) == {"appointments", "no_shows", "waits"}
    assert "JOD" not in response.content.decode()


def test_the_revenue_block_follows_the_clinics_own_role_settings(clinic_data):
    admin = Actor(
        user=clinic_data.staff_a["clinic_admin"],
        clinic=clinic_data.clinic_a,
        roles=frozenset({"clinic_admin"}),
    )
    role_permission_set(actor=admin, role_code="secretary", codename="billing.view", granted=False)
    role_permission_set(actor=admin, role_code="doctor", codename="billing.view", granted=True)
    with at(NOW):
        secretary = page(clinic_data.staff_a["secretary"]).get(clinic_url(clinic_data.clinic_a))
        doctor = page(clinic_data.staff_a["doctor"]).get(clinic_url(clinic_data.clinic_a))
    assert "revenue" not in blocks(secretary)
    assert "revenue" in blocks(doctor)


def test_the_arabic_dashboard_is_right_to_left_with_arabic_dates(clinic_data):
    with at(NOW):
        response = page(clinic_data.staff_a["clinic_admin"], "ar").get(clinic_url(clinic_data.clinic_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    # Months named as on every other Arabic page (Django's), not CLDR's Jordanian ones
    assert "مارس" in html and "آذار" not in html
    today = next(c for c in svgs(response) if c.get("data-chart") == "clinic-today")
    labels = [t for t in today.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    by_text = {t.text: float(t.get("x")) for t in labels}
    assert by_text["08:00"] > by_text["17:00"]  # the morning on the right


def test_clinic_b_dashboard_counts_only_clinic_b(clinic_data):
    with at(NOW):
        response = page(clinic_data.doctor_b).get(clinic_url(clinic_data.clinic_b))
    assert response.status_code == 200
    assert figure(response, "total") == "1"
    assert figure(response, "visits") == "1"


def test_other_clinics_dashboard_is_not_found(clinic_data):
    with at(NOW):
        response = page(clinic_data.staff_a["clinic_admin"]).get(clinic_url(clinic_data.clinic_b))
    assert response.status_code == 404


def test_patients_may_not_open_the_dashboards(clinic_data):
    with at(NOW):
        client = page(clinic_data.patient_user)
        assert client.get("/platform/dashboard").status_code == 403
        assert client.get(clinic_url(clinic_data.clinic_a)).status_code == 404  # no role in the clinic


def test_the_consoles_link_to_their_dashboards(clinic_data):
    with at(NOW):
        clinic_home = page(clinic_data.staff_a["doctor"]).get(f"/clinic/{clinic_data.clinic_a.external_id}")
        platform_home = page(clinic_data.platform_admin).get("/platform")
    assert f'href="{clinic_url(clinic_data.clinic_a)}"' in clinic_home.content.decode()
    assert 'href="/platform/dashboard"' in platform_home.content.decode()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_platform_dashboard_shows_pl3(platform_data, language):
    with at(NOW):
        response = page(platform_data.platform_admin, language).get("/platform/dashboard")
    assert response.status_code == 200
    assert blocks(response) == {"bookings", "video", "urgent", "revenue"}
    assert [c.get("data-chart") for c in svgs(response)] == [
        "platform-bookings",
        "platform-video",
        "platform-urgent",
        "platform-revenue",
    ]
    assert figure(response, "bookings") == "3"
    assert figure(response, "minutes") == "62"
    html = response.content.decode()
    assert html.count('<tr><th scope="row"><bdi>') == 2  # the two clinics that received money
    if language == "en":
        assert figure(response, "median") == "2 min"
        assert figure(response, "received") == "JOD\u00a070.000"
        assert "<bdi>Clinic A</bdi>" in html
    else:
        assert '<html lang="ar" dir="rtl">' in html
        assert "<bdi>عيادة أ</bdi>" in html
