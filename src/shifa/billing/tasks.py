"""Background jobs of billing: giving back payments that came too late, and asking PayTabs about payments we
have not heard of."""

from __future__ import annotations

from shifa.core.jobs import periodic_task, task


@task("billing.refund_lost_payment")
def refund_lost_payment(payment_id: int) -> None:
    """A payment arrived after its appointment's time went to someone else: give it back in full."""
    from .actions import refund_lost_payment as refund

    refund(payment_pk=payment_id)


@periodic_task("billing.reconcile_payments", cron="*/2 * * * *")
def reconcile_payments(timestamp: int) -> None:
    """Every two minutes: ask PayTabs about open pages past their time and pending transactions."""
    from .actions import payments_reconcile

    payments_reconcile()
