"""Bulk loading through PostgreSQL's ``COPY``: many rows of one model in one statement, at a fraction of the cost
of one INSERT per row. Row triggers (the audit trail) and constraints still apply to every row."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from django.db import connection, models
from django.utils import timezone

#: Rows sent to the server per write.
CHUNK = 20_000


def _text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _prepared(field: models.Field, value):
    if isinstance(field, models.JSONField) and value is not None:
        return json.dumps(value, ensure_ascii=False)
    return value


def next_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` primary keys drawn from the table's own sequence, so rows can be sent with their keys."""
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(
    model: type[models.Model], given: Sequence[str], rows: Sequence[Sequence], *, ids: bool = False
) -> list[int]:
    """Insert ``rows`` into the model's table with one COPY.

    Each row holds the values of the ``given`` fields (attribute names, e.g. ``clinic_id``), in that order. Every
    other field takes its default (a fresh one per row for unique fields such as ``external_id``), the current
    time for automatic timestamps, NULL when nullable, or an empty string when blank text is allowed. With
    ``ids`` the primary keys are drawn first and returned in the order of ``rows``.
    """
    if not rows:
        return []
    meta = model._meta
    by_name = {f.attname: f for f in meta.concrete_fields}
    missing = [name for name in given if name not in by_name]
    if missing:
        raise ValueError(f"{meta.label} has no field {missing}")
    now = timezone.now()
    fresh: list[models.Field] = []
    constant: list[tuple[models.Field, object]] = []
    for field in meta.concrete_fields:
        if field.primary_key or field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            constant.append((field, now))
        elif field.has_default():
            if callable(field.default) and field.unique:
                fresh.append(field)
            else:
                constant.append((field, field.get_default()))
        elif field.null:
            continue  # left out: the column is NULL
        elif field.empty_strings_allowed and field.blank:
            constant.append((field, ""))
        else:
            raise ValueError(f"{meta.label}.{field.attname} has no default: give it")
    quote = connection.ops.quote_name
    columns = (
        ([meta.pk.column] if ids else [])
        + [by_name[name].column for name in given]
        + [f.column for f in fresh]
        + [f.column for f, _ in constant]
    )
    tail = [_text(_prepared(f, v)) for f, v in constant]
    json_positions = [i for i, name in enumerate(given) if isinstance(by_name[name], models.JSONField)]
    keys = next_ids(model, len(rows)) if ids else []
    statement = f"COPY {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        lines: list[str] = []
        for index, row in enumerate(rows):
            values = list(row)
            for position in json_positions:
                values[position] = _prepared(by_name[given[position]], values[position])
            parts = [str(keys[index])] if ids else []
            parts += [_text(v) for v in values]
            parts += [_text(f.default()) for f in fresh]
            parts += tail
            lines.append("\t".join(parts))
            if len(lines) >= CHUNK:
                copy.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            copy.write("\n".join(lines) + "\n")
    return keys
