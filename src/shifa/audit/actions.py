"""Writes of the audit app: the PHI read log (the audit table itself is written only by the database)."""

from __future__ import annotations

from shifa.core import timezones

from .context import current_metadata
from .models import RecordRead


def record_read(*, actor, patient, scope: str, subject=None, role: str = "") -> RecordRead:
    """Log that ``actor`` read ``patient``'s clinical content (ID-5); the patient sees it in the app."""
    return RecordRead.objects.create(
        occurred_at=timezones.now(),
        patient=patient,
        clinic=actor.clinic,
        reader=actor.user,
        role=role,
        scope=scope,
        subject=subject,
        request_id=str(current_metadata().get("request_id") or "")[:128],
    )
