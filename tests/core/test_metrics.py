"""/metrics (issue 14): Prometheus' text format for a scraper holding SHIFA_METRICS_TOKEN — requests by route
pattern and status with their durations, and from the database the job queue, Hakeem sync states and Treat Me
Now's waiting requests. No token setting, no route; a wrong token, 401."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shifa.core import timezones

TOKEN = "scrape-me-4f1c2a"


@pytest.fixture
def scraper(settings):
    settings.SHIFA_METRICS_TOKEN = TOKEN
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{series} not in:\n{text[:3000]}"
    return float(found.group(1))


def test_without_a_token_setting_there_is_no_route_and_a_wrong_token_is_refused(db, settings):
    settings.SHIFA_METRICS_TOKEN = ""
    assert Client(HTTP_AUTHORIZATION="Bearer anything").get("/metrics").status_code == 404
    settings.SHIFA_METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    refused = Client(HTTP_AUTHORIZATION="Bearer not-the-token").get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in refused.content.decode()


def test_requests_are_counted_by_route_pattern_and_status(db, scraper, cast):
    before = scraper.get("/metrics").content.decode()
    healthz = 'shifa_http_requests_total{method="GET",route="healthz",status="200"}'
    start = value(before, healthz) if healthz in before else 0.0
    for _ in range(3):
        Client().get("/healthz")
    Client().get(f"/api/v1/clinics/{cast.clinic_a.external_id}")  # 401: anonymous
    text = scraper.get("/metrics").content.decode()
    assert value(text, healthz) == start + 3
    clinic_routes = [
        line
        for line in text.splitlines()
        if line.startswith("shifa_http_requests_total") and "clinics/" in line
    ]
    assert clinic_routes and all(str(cast.clinic_a.external_id) not in line for line in clinic_routes)
    assert any('status="401"' in line and "<" in line for line in clinic_routes)  # the pattern, not the id
    assert 'shifa_http_request_duration_seconds_bucket{le="0.1",method="GET",route="healthz"}' in text


def test_the_database_state_is_read_at_scrape_time(db, scraper, cast):
    from shifa.core import jobs
    from shifa.integrations.hakeem.models import SyncRecord
    from shifa.telehealth.models import UrgentRequest

    text = scraper.get("/metrics").content.decode()
    assert value(text, "shifa_urgent_waiting_requests") == 0
    assert (
        value(text, 'shifa_hakeem_sync_records{state="failed"}')
        == SyncRecord.unscoped.filter(state="failed").count()
    )

    UrgentRequest.objects.create(patient=cast.patient, requested_by=cast.patient_user, complaint="Fever")
    UrgentRequest.objects.filter().update(created_at=timezones.now() - dt.timedelta(minutes=4))
    jobs.app.configure_task("directory.refresh_listings").defer(clinic_id=cast.clinic_a.pk)
    text = scraper.get("/metrics").content.decode()
    assert value(text, "shifa_urgent_waiting_requests") == 1
    assert 240 <= value(text, "shifa_urgent_longest_wait_seconds") < 300
    assert value(text, 'shifa_jobs{queue="default",status="todo"}') >= 1
