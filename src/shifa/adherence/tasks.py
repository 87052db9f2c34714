"""Background jobs of medication reminders."""

from __future__ import annotations

from shifa.core.jobs import periodic_task, task

#: Helpers asked to share a large minute (100,000 doses due at 08:00): each takes batches until none is left.
MAX_HELPERS = 3


@periodic_task("adherence.dispatch_due_doses", cron="* * * * *")
def dispatch_due_doses(timestamp: int) -> None:
    """Every minute: remind the doses that are due, then mark long-unanswered ones missed. When more are due than
    one batch, helper jobs are queued first so that every free worker shares the minute."""
    from .actions import DISPATCH_BATCH, doses_dispatch, doses_due_count, doses_mark_missed

    due = doses_due_count()
    helpers = min(MAX_HELPERS, due // DISPATCH_BATCH)
    if helpers:
        dispatch_more.batch_defer(*({} for _ in range(helpers)))
    doses_dispatch()
    doses_mark_missed()


@task("adherence.dispatch_more")
def dispatch_more() -> None:
    """A helper of the minute's dispatch: reminds due doses alongside it (batches are locked, never shared)."""
    from .actions import doses_dispatch

    doses_dispatch()
