"""Background jobs of the PayTabs simulator: callbacks with retries, and the sweep that expires stale pages."""

from __future__ import annotations

from shifa.core.jobs import periodic_task, task


@task("sim_paytabs.deliver_callback")
def deliver_callback(delivery_id: int) -> None:
    """One attempt at a callback; a failed attempt queues the next one itself, with back-off."""
    from .actions import deliver

    deliver(delivery_id)


@periodic_task("sim_paytabs.expire_pages", cron="* * * * *")
def expire_pages(timestamp: int) -> None:
    """Every minute: pages whose time has passed with nobody choosing expire (X), with their callback."""
    from .actions import pages_expire

    pages_expire()
