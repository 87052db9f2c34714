"""Operational endpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from shifa.access.declare import public_page

from . import cache, jobs, timezones
from . import metrics as metrics_module


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


@public_page()
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (``shifa.core.metrics``) for a scraper that holds ``SHIFA_METRICS_TOKEN``; without that
    setting the route does not exist (404), and a wrong or missing token is 401."""
    import hmac

    from .errors import NotAuthenticated, NotFound, response_for

    token = settings.SHIFA_METRICS_TOKEN
    if not token:
        return response_for(NotFound())
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = response_for(NotAuthenticated(code="invalid_token"))
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics_module.exposition()
    return HttpResponse(body, content_type=content_type)
