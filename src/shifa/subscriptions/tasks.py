"""Background jobs of subscriptions."""

from __future__ import annotations

from shifa.core.jobs import periodic_task


@periodic_task("subscriptions.renew_paytabs", cron="11 * * * *")
def renew_paytabs(timestamp: int) -> None:
    """Every hour: charge the card subscriptions that are due, end grace periods that ran out, expire what was not
    renewed (idempotent: a period is charged under one cart id per try, and a try is made once)."""
    from .actions import paytabs_renewals_run

    paytabs_renewals_run()
