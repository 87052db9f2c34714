"""Reads across the platform for operations (metrics): a few grouped counts, no personal data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min

from . import timezones

#: Job statuses worth watching (succeeded ones only pile up).
WATCHED_JOB_STATUSES = ("todo", "doing", "failed")


@dataclass(frozen=True)
class OperationalState:
    jobs: dict[tuple[str, str], int]  # (queue, status) → jobs
    sync: dict[str, int]  # Hakeem sync state → records
    urgent_waiting: int
    urgent_longest_wait_seconds: float


def operational_state(now: dt.datetime | None = None) -> OperationalState:
    """Jobs by queue and status, Hakeem records by state, and Treat Me Now's queue. Three grouped queries."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from shifa.integrations.hakeem.models import SyncRecord, SyncState
    from shifa.telehealth.models import UrgentRequest, UrgentStatus

    now = now or timezones.now()
    jobs = {
        (queue, status): n
        for queue, status, n in ProcrastinateJob.objects.filter(status__in=WATCHED_JOB_STATUSES)
        .order_by()
        .values_list("queue_name", "status")
        .annotate(n=Count("id"))
    }
    sync = dict.fromkeys(SyncState.values, 0)
    for state, n in SyncRecord.unscoped.order_by().values_list("state").annotate(n=Count("id")):
        sync[state] = n
    waiting = UrgentRequest.objects.filter(status=UrgentStatus.WAITING).aggregate(
        n=Count("id"), first=Min("created_at")
    )
    longest = (now - waiting["first"]).total_seconds() if waiting["first"] else 0.0
    return OperationalState(
        jobs=jobs, sync=sync, urgent_waiting=waiting["n"], urgent_longest_wait_seconds=max(0.0, longest)
    )
