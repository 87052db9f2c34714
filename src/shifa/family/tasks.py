"""Background jobs of Family Doctor."""

from __future__ import annotations

from shifa.core.jobs import periodic_task


@periodic_task("family.review_entitlements", cron="*/10 * * * *")
def review_entitlements(timestamp: int) -> None:
    """Every ten minutes: family doctors of patients whose subscription lapsed are paused (their clinic stops
    reading the record); those whose subscription came back are resumed."""
    from .actions import entitlements_review

    entitlements_review()
