"""The time labels of the dashboards' charts stay inside the chart: the outermost slots are narrower than their
labels ("27 نوفمبر" under the latest day sits at the left edge in Arabic), so such a label moves inwards just enough;
the others stay centred under their slot. (The browser measures the real text: tests/e2e/test_layout_fit.py.)"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from shifa.dashboards import charts

SVG = "{http://www.w3.org/2000/svg}"


def _chart(labels: list[str], *, rtl: bool) -> ET.Element:
    series = charts.Series(
        "Bookings", tuple(charts.Datum(f"k{i}", label, i, str(i)) for i, label in enumerate(labels))
    )
    chart = charts.bar_chart(
        series,
        chart_id="bookings",
        title="Bookings",
        summary="Bookings by day",
        label_heading="Day",
        rtl=rtl,
        tick_text=str,
        label_every=1,
    )
    return ET.fromstring(str(chart.svg))


def _labels(root: ET.Element) -> dict[str, float]:
    return {t.text: float(t.get("x")) for t in root.iter(f"{SVG}text") if t.get("class") == "chart-label"}


def _estimated_edges(text: str, x: float) -> tuple[float, float]:
    half = len(text) * charts.FONT * charts.LABEL_EM / 2
    return x - half, x + half


@pytest.mark.parametrize("rtl", [True, False])
def test_thirty_days_of_labels_stay_inside_the_chart(rtl):
    days = [f"{day} نوفمبر" if rtl else f"Nov {day}" for day in range(1, 31)]
    labels = _labels(_chart(days, rtl=rtl))
    for text, x in labels.items():
        start, end = _estimated_edges(text, x)
        assert start >= charts.EDGE - 0.05 and end <= charts.WIDTH - charts.EDGE + 0.05, (text, x)
    latest, first = labels[days[-1]], labels[days[0]]
    assert (latest < first) if rtl else (latest > first)  # time still runs in the reading direction


def test_the_latest_label_moves_inwards_only_as_far_as_it_must():
    days = [f"{day} نوفمبر" for day in range(1, 31)]
    slot = (charts.WIDTH - charts.AXIS - charts.END) / 30
    latest = _labels(_chart(days, rtl=True))["30 نوفمبر"]
    centred = charts.END + slot / 2  # where the latest day's bar is, at the left in Arabic
    start, _end = _estimated_edges("30 نوفمبر", latest)
    assert latest > centred and start == pytest.approx(charts.EDGE, abs=0.05)


def test_labels_that_fit_stay_under_their_bar():
    ltr, rtl = _chart(["a", "b", "c"], rtl=False), _chart(["a", "b", "c"], rtl=True)
    bars = {
        g.get("data-key"): float(g.find(f"{SVG}rect").get("x")) + float(g.find(f"{SVG}rect").get("width")) / 2
        for g in ltr.iter(f"{SVG}g")
        if g.get("data-key") and g.find(f"{SVG}rect") is not None
    }
    labels = _labels(ltr)
    assert labels["b"] == pytest.approx(bars["k1"], abs=0.1) and labels["c"] == pytest.approx(
        bars["k2"], abs=0.1
    )
    assert _labels(rtl)["a"] == pytest.approx(charts.WIDTH - labels["a"], abs=0.1)  # a mirror image
