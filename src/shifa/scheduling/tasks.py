"""Background jobs of scheduling: reminders before appointments (BK-7)."""

from __future__ import annotations

from shifa.core.jobs import task


@task("scheduling.remind")
def remind(appointment_id: int, hours: int) -> None:
    """Remind the patient ``hours`` before the appointment, unless it was cancelled or moved meanwhile."""
    from .actions import appointment_remind

    appointment_remind(appointment_pk=appointment_id, hours=hours)


@task("scheduling.waitlist_offer_ends")
def waitlist_offer_ends(entry_id: int) -> None:
    """A freed time offered to a waiting patient: when the offer ends unused, the next waiting patient gets it."""
    from .actions import waitlist_offer_end

    waitlist_offer_end(entry_pk=entry_id)
