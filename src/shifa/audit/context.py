"""How the actor, clinic and request id reach the audit trigger.

Each write statement is preceded by transaction-local ``set_config`` calls (django-pghistory's context
mechanism); the trigger reads them with ``current_setting``. Outside any context a write is still audited,
with no actor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pghistory
import pghistory.runtime


@contextlib.contextmanager
def audit_context(**metadata) -> Iterator[None]:
    """Attach ``metadata`` (actor_id, clinic_id, request_id, source) to every write inside the block.

    A nested block adds to or overrides the outer context for its own writes only: the outer metadata is restored
    when it ends (pghistory alone would keep the inner values for the rest of the outer block).
    """
    clean = {k: v for k, v in metadata.items() if v is not None}
    outer = getattr(pghistory.runtime._tracker, "value", None)
    saved = dict(outer.metadata) if outer is not None else None
    try:
        with pghistory.context(**clean):
            yield
    finally:
        if outer is not None:
            metadata = outer.metadata  # the same dict pghistory sends with each write
            metadata.clear()
            metadata |= saved


def add_to_audit_context(**metadata) -> None:
    """Add metadata to the context already entered (a no-op outside one)."""
    pghistory.context(**{k: v for k, v in metadata.items() if v is not None})


def current_metadata() -> dict:
    """The metadata of the context entered (empty outside one)."""
    tracker = getattr(pghistory.runtime._tracker, "value", None)
    return dict(tracker.metadata) if tracker is not None else {}
