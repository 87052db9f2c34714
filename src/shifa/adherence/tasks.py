"""Background jobs of medication reminders."""

from __future__ import annotations

from shifa.core.jobs import periodic_task


@periodic_task("adherence.dispatch_due_doses", cron="* * * * *")
def dispatch_due_doses(timestamp: int) -> None:
    """Every minute: remind the doses that are due, then mark long-unanswered ones missed."""
    from .actions import doses_dispatch, doses_mark_missed

    doses_dispatch()
    doses_mark_missed()
