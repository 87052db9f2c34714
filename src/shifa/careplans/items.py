"""The items of a care plan, as a doctor writes them, and the dated steps they become. Pure: no database.

An item is a series: ``count`` steps, ``every_days`` apart, the first ``first_in_days`` after the plan starts.
"10 weekly physiotherapy sessions from next week" is ``{"kind": "visit", "count": 10, "every_days": 7,
"first_in_days": 7}``; "a blood-pressure reading every day for a month" is ``{"kind": "task", "task": "vital",
"vital_code": "8480-6", "count": 30, "every_days": 1}``; "an HbA1c test in 3 months" is ``{"kind": "task",
"task": "lab", "count": 1, "first_in_days": 90, "window_days": 14}``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext as _

from shifa.core.errors import FieldError

from .models import StepKind, TaskKind

#: Bounds that keep a plan something a person can follow (and a typing mistake from making 10,000 steps).
MAX_ITEMS = 20
MAX_STEPS_PER_ITEM = 366
MAX_STEPS = 1000
MAX_FIRST_IN_DAYS = 730
MAX_EVERY_DAYS = 365
MAX_WINDOW_DAYS = 60
#: The kinds of visit an appointment step may be (those of the booking flow).
VISIT_TYPES = ("office", "video", "home")
#: Days around its date a step may be done when the item does not say: a session can move a few days.
DEFAULT_WINDOW = {StepKind.VISIT: 3, StepKind.TASK: 0}


@dataclass(frozen=True)
class Item:
    kind: str
    title: str
    count: int
    every_days: int
    first_in_days: int
    window_days: int
    task: str = ""
    vital_code: str = ""
    visit_type: str = ""
    service_id: str = ""

    def as_dict(self) -> dict:
        data = {
            "kind": self.kind,
            "title": self.title,
            "count": self.count,
            "every_days": self.every_days,
            "first_in_days": self.first_in_days,
            "window_days": self.window_days,
        }
        if self.kind == StepKind.TASK:
            data["task"] = self.task
            if self.vital_code:
                data["vital_code"] = self.vital_code
        else:
            data["visit_type"] = self.visit_type
            if self.service_id:
                data["service_id"] = self.service_id
        return data


@dataclass(frozen=True)
class StepDate:
    item: int
    number: int
    of: int
    due_on: dt.date


def _int(raw: dict, key: str, default: int | None, low: int, high: int, field: str, errors: list) -> int:
    value = raw.get(key, default)
    if value is None:
        errors.append(FieldError(f"{field}.{key}", "required", _("This field is required.")))
        return low
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.append(FieldError(f"{field}.{key}", "invalid", _("Enter a whole number.")))
        return low
    try:
        number = int(str(value).strip())
    except ValueError:
        errors.append(FieldError(f"{field}.{key}", "invalid", _("Enter a whole number.")))
        return low
    if not low <= number <= high:
        errors.append(
            FieldError(
                f"{field}.{key}",
                "out_of_range",
                _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high},
            )
        )
        return low
    return number


def _text(raw: dict, key: str, field: str, errors: list, *, required: bool, limit: int) -> str:
    value = raw.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append(FieldError(f"{field}.{key}", "invalid", _("Enter text.")))
        return ""
    value = value.strip()
    if required and not value:
        errors.append(FieldError(f"{field}.{key}", "required", _("This field is required.")))
    elif len(value) > limit:
        errors.append(
            FieldError(
                f"{field}.{key}", "too_long", _("Use at most %(limit)s characters.") % {"limit": limit}
            )
        )
    return value[:limit]


def parse(raw_items, *, field: str = "items") -> tuple[list[Item], list[FieldError]]:
    """Check the items of a plan or template; every problem is reported with the field it is in."""
    errors: list[FieldError] = []
    if not isinstance(raw_items, list) or not raw_items:
        return [], [FieldError(field, "required", _("Add at least one appointment or task."))]
    if len(raw_items) > MAX_ITEMS:
        return [], [
            FieldError(field, "too_many", _("A plan has at most %(limit)s items.") % {"limit": MAX_ITEMS})
        ]
    items: list[Item] = []
    total = 0
    for index, raw in enumerate(raw_items):
        where = f"{field}.{index}"
        if not isinstance(raw, dict):
            errors.append(FieldError(where, "invalid", _("Each item is an appointment or a task.")))
            continue
        kind = raw.get("kind")
        if kind not in StepKind.values:
            errors.append(
                FieldError(f"{where}.kind", "invalid_choice", _("Choose an appointment or a task."))
            )
            continue
        title = _text(raw, "title", where, errors, required=True, limit=200)
        count = _int(raw, "count", 1, 1, MAX_STEPS_PER_ITEM, where, errors)
        every = _int(raw, "every_days", None if count > 1 else 1, 1, MAX_EVERY_DAYS, where, errors)
        first = _int(raw, "first_in_days", 0, 0, MAX_FIRST_IN_DAYS, where, errors)
        window = _int(raw, "window_days", DEFAULT_WINDOW[kind], 0, MAX_WINDOW_DAYS, where, errors)
        if count > 1 and window * 2 >= every:
            errors.append(
                FieldError(
                    f"{where}.window_days",
                    "overlapping",
                    _("The days allowed around each step must not reach the next one."),
                )
            )
        task = vital = visit_type = service = ""
        if kind == StepKind.TASK:
            task = raw.get("task") or TaskKind.OTHER
            if task not in TaskKind.values:
                errors.append(FieldError(f"{where}.task", "invalid_choice", _("Choose a kind of task.")))
            if task == TaskKind.VITAL:
                vital = _text(raw, "vital_code", where, errors, required=True, limit=10)
        else:
            visit_type = _text(raw, "visit_type", where, errors, required=False, limit=10) or "office"
            if visit_type not in VISIT_TYPES:
                errors.append(
                    FieldError(
                        f"{where}.visit_type",
                        "invalid_choice",
                        _("Choose a visit at the clinic, by video or at home."),
                    )
                )
            service = _text(raw, "service_id", where, errors, required=False, limit=40)
        total += count
        items.append(Item(kind, title, count, every, first, window, task, vital, visit_type, service))
    if total > MAX_STEPS:
        errors.append(
            FieldError(field, "too_many", _("A plan has at most %(limit)s steps.") % {"limit": MAX_STEPS})
        )
    return items, errors


def expand(items: list[Item], starts_on: dt.date) -> list[StepDate]:
    """The dated steps of the items, in date order."""
    steps = [
        StepDate(
            item=index,
            number=number + 1,
            of=item.count,
            due_on=starts_on + dt.timedelta(days=item.first_in_days + number * item.every_days),
        )
        for index, item in enumerate(items)
        for number in range(item.count)
    ]
    return sorted(steps, key=lambda s: (s.due_on, s.item, s.number))


def window(due_on: dt.date, window_days: int) -> tuple[dt.date, dt.date]:
    """The first and last day a step may be done (or its appointment be)."""
    spread = dt.timedelta(days=window_days)
    return due_on - spread, due_on + spread
