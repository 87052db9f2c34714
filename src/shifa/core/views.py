"""Operational endpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from shifa.access.declare import public_page

from . import cache, jobs, timezones


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


@public_page()
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the job queue answer (and the in-process worker runs, where there is one). Redis
    is reported but does not fail the check: without it the product carries on (pages poll, counters are kept per
    process)."""
    database = _database_ok()
    queue = database and jobs.queue_reachable()
    worker = jobs.in_process_worker_alive()
    checks = {
        "database": "ok" if database else "down",
        "job_queue": "ok" if queue else "down",
        "worker": "not_in_this_process" if worker is None else ("ok" if worker else "down"),
        "redis": cache.redis_state(),
    }
    healthy = database and queue and (worker is not False or not settings.SHIFA_RUN_WORKER)
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": checks,
            "time": timezones.isoformat_z(timezones.now()),
        },
        status=200 if healthy else 503,
    )
