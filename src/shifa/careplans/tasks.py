"""Background jobs of care plans."""

from __future__ import annotations

from shifa.core.jobs import periodic_task


@periodic_task("careplans.review_steps", cron="7 * * * *")
def review_steps(timestamp: int) -> None:
    """Every hour: steps whose days have passed become missed and are flagged to the plan's doctor."""
    from .actions import steps_review

    steps_review()
