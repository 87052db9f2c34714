"""How the actor, clinic and request id reach the audit trigger.

Each write statement is preceded by transaction-local ``set_config`` calls (django-pghistory's context
mechanism); the trigger reads them with ``current_setting``. Outside any context a write is still audited,
with no actor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pghistory


@contextlib.contextmanager
def audit_context(**metadata) -> Iterator[None]:
    """Attach ``metadata`` (actor_id, clinic_id, request_id, source) to every write inside the block.

    Nested calls add to the outer context.
    """
    clean = {k: v for k, v in metadata.items() if v is not None}
    with pghistory.context(**clean):
        yield


def add_to_audit_context(**metadata) -> None:
    """Add metadata to the context already entered (a no-op outside one)."""
    pghistory.context(**{k: v for k, v in metadata.items() if v is not None})
