"""Background jobs of notifications."""

from __future__ import annotations

from procrastinate import RetryStrategy

from shifa.core.jobs import task


@task(
    "notifications.deliver",
    retry=RetryStrategy(max_attempts=6, exponential_wait=4, retry_exceptions={Exception}),
)
def deliver(delivery_id: int) -> None:
    from .actions import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@task(
    "notifications.deliver_many",
    retry=RetryStrategy(max_attempts=6, exponential_wait=4, retry_exceptions={Exception}),
)
def deliver_many(delivery_ids: list[int]) -> None:
    """Attempt many deliveries (made in bulk) in one job; one that must be tried again gets a job of its own, with
    its own back-off, so that the others are not sent twice."""
    from .actions import delivery_attempt

    for delivery_id in delivery_ids:
        try:
            delivery_attempt(delivery_id=delivery_id)
        except Exception:
            deliver.defer(delivery_id=delivery_id)
