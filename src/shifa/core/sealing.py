"""Turning plain text columns into encrypted ones (``EncryptedTextField``) in a migration, and back.

The rows are read and written as raw text, batch by batch: the field itself would try to decrypt them. A column's
context is the one the field binds as associated data, ``app.Model.field``. Triggers named in ``paused`` (say a
guard that refuses any change to committed rows: the text stays the same, only sealed) are disabled for the
conversion and enabled again in the same transaction; ``ALTER TABLE`` holds the table's lock until the migration
commits. The audit trigger stays on: each converted row leaves an audit row marked with ``source``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

BATCH = 500


def seal(text: str, context: str) -> str:
    from . import keys

    return text if keys.is_sealed(text) else keys.encrypt(text, context)


def unseal(text: str, context: str) -> str:
    from . import keys

    return keys.decrypt(text, context) if keys.is_sealed(text) else text


def convert(
    schema_editor,
    *,
    table: str,
    columns: dict[str, str],
    change: Callable[[str, str], str],
    source: str,
    paused: tuple[str, ...] = (),
) -> None:
    """Apply ``change(text, context)`` to every non-empty value of ``columns`` (column name → context) in
    ``table``."""
    names = list(columns)
    listed = ", ".join(names)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pghistory.context_metadata', true)")
        (before,) = cursor.fetchone()
        cursor.execute(
            "SELECT set_config('pghistory.context_metadata', %s, true)", [json.dumps({"source": source})]
        )
        for trigger in paused:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        last = 0
        while True:
            cursor.execute(
                f"SELECT id, {listed} FROM {table} WHERE id > %s AND ("  # noqa: S608 - our own names
                + " OR ".join(f"{name} <> ''" for name in names)
                + ") ORDER BY id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            for pk, *values in rows:
                new = [change(v, columns[n]) if v else v for n, v in zip(names, values, strict=True)]
                if new != values:
                    assignments = ", ".join(f"{name} = %s" for name in names)
                    cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*new, pk])  # noqa: S608
            if len(rows) < BATCH:
                break
            last = rows[-1][0]
        for trigger in paused:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        cursor.execute("SELECT set_config('pghistory.context_metadata', %s, true)", [before or ""])


def operation(*, table: str, columns: dict[str, str], source: str, paused: tuple[str, ...] = ()):
    """The migration step that seals ``columns`` of ``table`` going forward and unseals them going back."""
    from django.db import migrations

    def forward(apps, schema_editor):
        convert(schema_editor, table=table, columns=columns, change=seal, source=source, paused=paused)

    def backward(apps, schema_editor):
        convert(schema_editor, table=table, columns=columns, change=unseal, source=source, paused=paused)

    return migrations.RunPython(forward, backward)
