"""Background jobs of scheduling: reminders before appointments (BK-7)."""

from __future__ import annotations

from shifa.core.jobs import task


@task("scheduling.remind")
def remind(appointment_id: int, hours: int) -> None:
    """Remind the patient ``hours`` before the appointment, unless it was cancelled or moved meanwhile."""
    from .actions import appointment_remind

    appointment_remind(appointment_pk=appointment_id, hours=hours)
