"""Background jobs of the directory: keeping the search read model in step (BK-1)."""

from __future__ import annotations

from shifa.core.jobs import periodic_task, task


@task("directory.refresh_listings")
def refresh_listings(clinic_id: int, doctor_id: int | None = None) -> None:
    from .actions import listings_refresh

    listings_refresh(clinic_pk=clinic_id, doctor_pk=doctor_id)


@periodic_task("directory.refresh_stale_listings", cron="*/10 * * * *")
def refresh_stale_listings(timestamp: int) -> None:
    from .actions import listings_refresh_stale

    listings_refresh_stale()
