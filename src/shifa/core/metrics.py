"""Prometheus metrics (``prometheus_client``), served at ``/metrics`` to a scraper holding ``SHIFA_METRICS_TOKEN``.

Two kinds:

* counted in the process as requests are answered: requests by method, route pattern and status, and their
  durations (a histogram);
* read from the database when scraped, the same for every process: background jobs waiting, running and failed
  per queue, Hakeem sync records per state, and Treat Me Now's waiting requests with the longest wait.

With several web processes (``SHIFA_WEB_PROCESSES``) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by
them: ``prometheus_client`` then adds up every process's counters, whichever process answers the scrape.
"""

from __future__ import annotations

import os
import time

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter(
    "shifa_http_requests",
    "HTTP requests answered, by method, route pattern and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "shifa_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route pattern",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class MetricsMiddleware:
    """Counts and times every answer under its route's pattern (``api/v1/clinics/<clinic_id>``), never the raw
    path, so that ids do not multiply the series."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        DURATION.labels(request.method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response


class StateCollector:
    """What the database says at scrape time (a few grouped counts)."""

    def collect(self):
        from . import queries

        state = queries.operational_state()
        jobs = GaugeMetricFamily(
            "shifa_jobs", "Background jobs by queue and status", labels=["queue", "status"]
        )
        for (queue, status), count in sorted(state.jobs.items()):
            jobs.add_metric([queue, status], count)
        yield jobs
        sync = GaugeMetricFamily(
            "shifa_hakeem_sync_records", "Hakeem sync records by state", labels=["state"]
        )
        for name, count in sorted(state.sync.items()):
            sync.add_metric([name], count)
        yield sync
        yield GaugeMetricFamily(
            "shifa_urgent_waiting_requests",
            "Treat Me Now requests waiting for a doctor",
            value=state.urgent_waiting,
        )
        yield GaugeMetricFamily(
            "shifa_urgent_longest_wait_seconds",
            "How long the longest-waiting Treat Me Now request has waited",
            value=state.urgent_longest_wait_seconds,
        )


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(DURATION)
    registry.register(StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
