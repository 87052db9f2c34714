"""Series → SVG markup, drawn on the server: no script, no chart library, nothing fetched from elsewhere.

Pure functions: they take series whose labels and values are already written in the reader's language (the caller
formats them) and return the markup with every text escaped. Time runs in the reading direction: left to right in
English, right to left in Arabic (``rtl=True`` mirrors the plot and moves the value axis to the right). The SVG's
own coordinates stay left-to-right (``direction="ltr"``); only the text of the labels follows the language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 240
TOP, BOTTOM = 14, 34  # room above the highest tick and below the baseline for the time labels
AXIS, END = 60, 14  # room for the value ticks on the start side, and a margin on the end side
FONT = 13
LABEL_EM, EDGE = 0.62, 2  # the estimated width of a label's character (in ems) and the room kept at each edge
SVG_NS = "http://www.w3.org/2000/svg"
#: Colours in the SVG itself, so that it reads right wherever it is shown; dashboards.css may restyle the classes.
TONES = {"primary": "#0b7a75", "accent": "#c2410c", "muted": "#5b6577", "danger": "#b42318"}
_ID = re.compile(r"^[a-z][a-z0-9-]{0,40}$")

Number = int | float | Decimal


@dataclass(frozen=True)
class Datum:
    key: str  # machine-readable (an ISO date, an hour): written as data-key
    label: str  # the axis label in the reader's language
    value: Number | None  # None: nothing to show (a gap in a line)
    text: str  # the value as the reader reads it


@dataclass(frozen=True)
class Series:
    name: str
    data: tuple[Datum, ...]
    tone: str = "primary"
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    summary: str
    label_heading: str  # the heading of the table's first column (Day, Hour, Month)
    series: tuple[Series, ...]
    svg: SafeString
    table_only: tuple[Series, ...] = ()  # more columns for the table (e.g. the counts behind a rate)

    @property
    def columns(self) -> tuple[Series, ...]:
        return (*self.series, *self.table_only)

    @property
    def rows(self) -> list[dict]:
        """The same figures as a table: one row per label, one cell per series."""
        first = self.series[0].data
        return [
            {"key": d.key, "label": d.label, "cells": [s.data[i].text for s in self.columns]}
            for i, d in enumerate(first)
        ]


def nice_ticks(low: float, high: float, *, count: int = 4, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) from at most ``low`` to at least ``high``;
    zero always among them."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 9) for i in range(first, last + 1)]


def _f(value: float) -> str:
    return f"{value:.1f}"


def _attrs(**attrs) -> str:
    return "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not None
    )


class _Frame:
    """The plot's geometry: where the n-th label sits and where a value sits."""

    def __init__(self, count: int, ticks: list[float], *, rtl: bool):
        self.count, self.ticks, self.rtl = max(count, 1), ticks, rtl
        self.left, self.right = (END, WIDTH - AXIS) if rtl else (AXIS, WIDTH - END)
        self.slot = (self.right - self.left) / self.count
        self.low, self.high = ticks[0], ticks[-1]
        self.base = HEIGHT - BOTTOM

    def x(self, index: int) -> float:
        """The middle of the index-th slot; time runs from the start side."""
        position = self.count - 1 - index if self.rtl else index
        return self.left + position * self.slot + self.slot / 2

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return self.base - (value - self.low) / span * (self.base - TOP)

    def grid(self, tick_text: Callable[[float], str]) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line class="chart-grid{" chart-zero" if tick == 0 else ""}"'
                f"{_attrs(x1=_f(self.left), x2=_f(self.right), y1=_f(y), y2=_f(y))}"
                f' stroke="{"#8a94a6" if tick == 0 else "#dfe4ea"}" stroke-width="1"/>'
            )
            x, anchor = (self.right + 6, "start") if self.rtl else (self.left - 6, "end")
            parts.append(
                f'<text class="chart-tick"{_attrs(x=_f(x), y=_f(y + FONT / 3), text_anchor=anchor)}'
                f' font-size="{FONT}" fill="#5b6577">{escape(tick_text(tick))}</text>'
            )
        return parts

    def labels(self, data: Sequence[Datum], every: int) -> list[str]:
        parts = []
        for index, datum in enumerate(data):
            if (len(data) - 1 - index) % every:  # the latest is always labelled, then every ``every``-th
                continue
            parts.append(
                f'<text class="chart-label"{_attrs(x=_f(label_x(self.x(index), datum.label)), y=_f(HEIGHT - 10))}'
                f' text-anchor="middle" font-size="{FONT}" fill="#5b6577"'
                f"{_attrs(direction='rtl' if self.rtl else None)}>{escape(datum.label)}</text>"
            )
        return parts


def label_x(x: float, label: str) -> float:
    """Where a time label centred under ``x`` goes so that it stays whole inside the chart: the outermost slots are
    narrower than their labels ("27 نوفمبر" under the latest day, at the left edge in Arabic), so a label that would
    reach past an edge moves inwards just enough. The width is an estimate on the generous side (the server knows
    no font): ``LABEL_EM`` of the font size per character."""
    half = len(label) * FONT * LABEL_EM / 2
    if 2 * half >= WIDTH - 2 * EDGE:
        return WIDTH / 2
    return min(max(x, EDGE + half), WIDTH - EDGE - half)


def _open(chart_id: str, title: str, summary: str) -> str:
    if not _ID.match(chart_id):
        raise ValueError(f"not a chart id: {chart_id!r}")
    return (
        f'<svg xmlns="{SVG_NS}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc" direction="ltr"'
        f' data-chart="{chart_id}">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(summary)}</desc>'
    )


def _values(series: Sequence[Series]) -> list[float]:
    return [float(d.value) for s in series for d in s.data if d.value is not None]


def _every(count: int, label_every: int | None) -> int:
    if label_every:
        return label_every
    return 1 if count <= 12 else (2 if count <= 24 else 5)


def bar_chart(
    series: Series,
    *,
    chart_id: str,
    title: str,
    summary: str,
    label_heading: str,
    rtl: bool,
    tick_text: Callable[[float], str],
    integer: bool = False,
    label_every: int | None = None,
    table_only: Sequence[Series] = (),
) -> Chart:
    """One bar per datum (negative values hang below the zero line), with round value ticks."""
    values = _values([series])
    ticks = nice_ticks(min(values, default=0.0), max(values, default=0.0), integer=integer)
    frame = _Frame(len(series.data), ticks, rtl=rtl)
    width = min(frame.slot * 0.7, 48)
    colour = TONES.get(series.tone, TONES["primary"])
    parts = [_open(chart_id, title, summary), *frame.grid(tick_text)]
    for index, datum in enumerate(series.data):
        bar = ""
        if datum.value is not None and datum.value != 0:
            top, bottom = sorted((frame.y(float(datum.value)), frame.y(0.0)))
            bar = (
                f"<rect{_attrs(x=_f(frame.x(index) - width / 2), y=_f(top), width=_f(width))}"
                f'{_attrs(height=_f(max(bottom - top, 0.5)))} fill="{colour}"/>'
            )
        parts.append(
            f'<g class="chart-bar chart-tone-{escape(series.tone)}"'
            f"{_attrs(data_key=datum.key, data_value='' if datum.value is None else str(datum.value))}>"
            f"<title>{escape(datum.label)}: {escape(datum.text)}</title>{bar}</g>"
        )
    parts += frame.labels(series.data, _every(len(series.data), label_every))
    parts.append("</svg>")
    svg = mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()
    return Chart(chart_id, title, summary, label_heading, (series,), svg, tuple(table_only))


def line_chart(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    summary: str,
    label_heading: str,
    rtl: bool,
    tick_text: Callable[[float], str],
    integer: bool = False,
    label_every: int | None = None,
    table_only: Sequence[Series] = (),
) -> Chart:
    """A line per series over the same labels (those of the first series); a missing value breaks the line, a
    point standing alone is still drawn."""
    if not series:
        raise ValueError("a line chart needs a series")
    values = _values(series)
    ticks = nice_ticks(min(values, default=0.0), max(values, default=0.0), integer=integer)
    count = len(series[0].data)
    frame = _Frame(count, ticks, rtl=rtl)
    parts = [_open(chart_id, title, summary), *frame.grid(tick_text)]
    for s in series:
        colour = TONES.get(s.tone, TONES["primary"])
        points = [
            (frame.x(i), frame.y(float(d.value))) if d.value is not None else None
            for i, d in enumerate(s.data)
        ]
        runs, run = [], []
        for point in [*points, None]:
            if point is None:
                if len(run) > 1:
                    runs.append(run)
                run = []
            else:
                run.append(point)
        group = [f'<g class="chart-line chart-tone-{escape(s.tone)}"{_attrs(data_series=s.name)}>']
        for run in runs:
            group.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2.5"'
                f"{_attrs(stroke_dasharray='6 4' if s.dashed else None)}"
                f' points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in run)}"/>'
            )
        for datum, point in zip(s.data, points, strict=True):
            if point is None:
                continue
            group.append(
                f'<circle{_attrs(cx=_f(point[0]), cy=_f(point[1]), data_key=datum.key)} r="3.5"'
                f' fill="{colour}"><title>{escape(s.name)}, {escape(datum.label)}: {escape(datum.text)}</title>'
                "</circle>"
            )
        group.append("</g>")
        parts += group
    parts += frame.labels(series[0].data, _every(count, label_every))
    parts.append("</svg>")
    svg = mark_safe("".join(parts))  # noqa: S308 — every text above went through escape()
    return Chart(chart_id, title, summary, label_heading, tuple(series), svg, tuple(table_only))
