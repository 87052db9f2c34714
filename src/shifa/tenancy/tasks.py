"""Background jobs of tenancy."""

from __future__ import annotations

from shifa.core.jobs import periodic_task


@periodic_task("tenancy.notify_expiring_licences", cron="0 5 * * *")
def notify_expiring_licences(timestamp: int) -> None:
    """Every morning (08:00 in Amman): tell each clinic whose licence is about to expire, once."""
    from .actions import licences_notify_expiring

    licences_notify_expiring()
