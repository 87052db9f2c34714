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
