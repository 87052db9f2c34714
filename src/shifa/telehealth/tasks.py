"""Background jobs of telehealth."""

from __future__ import annotations

from shifa.core.jobs import periodic_task, task


@task("telehealth.notify_unread")
def notify_unread(message_id: int) -> None:
    """A message not read half a minute after it was sent is notified to those who have not read it."""
    from .actions import notify_unread as notify

    notify(message_id=message_id)


@periodic_task("telehealth.escalate_urgent", cron="* * * * *")
def escalate_urgent(timestamp: int) -> None:
    """Every minute: urgent requests waiting too long are escalated to the doctors on duty."""
    from .actions import urgent_escalate

    urgent_escalate()
