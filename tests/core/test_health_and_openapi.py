from __future__ import annotations

import re

import pytest
from django.test import Client
from openapi_spec_validator import validate

from shifa.core import jobs


def test_healthz_is_200_when_database_and_queue_answer(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok" and body["checks"]["job_queue"] == "ok"
    assert body["time"].endswith("Z")


def test_healthz_is_503_when_the_queue_is_unreachable(db, monkeypatch):
    def broken():
        raise OSError("connection refused")

    monkeypatch.setattr(jobs.app, "check_connection", broken)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["job_queue"] == "down"


def test_healthz_is_503_when_the_database_is_down(db, monkeypatch):
    from shifa.core import views

    monkeypatch.setattr(views, "_database_ok", lambda: False)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down"


def test_openapi_document_is_valid_openapi_3(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    validate(document)
    assert "bearer" in str(document["components"]["securitySchemes"]).lower()


def test_api_docs_page_uses_local_assets(db):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    urls = re.findall(rb'(?:src|href)="([^"]+)"', response.content)
    assert urls, "the docs page loads its scripts and styles"
    assert [u for u in urls if u.startswith((b"http:", b"https:", b"//"))] == []


def test_callers_request_id_is_ignored_unless_a_proxy_is_trusted(db, settings):
    untrusted = Client().get("/healthz", HTTP_X_REQUEST_ID="forged-request-123")
    assert untrusted["X-Request-ID"] != "forged-request-123" and len(untrusted["X-Request-ID"]) == 32
    settings.SHIFA_TRUST_REQUEST_ID = True
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="trace-abc-123")["X-Request-ID"] == "trace-abc-123"
    malformed = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id!")
    assert malformed["X-Request-ID"] != "bad id!" and len(malformed["X-Request-ID"]) == 32


def test_when_the_database_is_unreachable_health_still_answers_503_json(db, monkeypatch):
    from django.db import OperationalError

    from shifa.access import middleware
    from shifa.core import views

    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(middleware, "authorize", unreachable)
    monkeypatch.setattr(views, "_database_ok", lambda: False)
    health = Client().get("/healthz")
    assert health.status_code == 503
    assert health.json()["checks"]["database"] == "down"
    api = Client().get("/api/v1/me")
    assert api.status_code == 503
    assert api["Content-Type"] == "application/problem+json" and api["Retry-After"] == "5"


@pytest.mark.parametrize("lost", ["operational", "interface"])
def test_a_connection_lost_while_signing_the_caller_in_is_503_for_pages_and_api(db, monkeypatch, lost):
    from django.db import InterfaceError, OperationalError

    from shifa.access import middleware

    error = {"operational": OperationalError, "interface": InterfaceError}[lost]

    def unreachable(*args, **kwargs):
        raise error("connection already closed")

    monkeypatch.setattr(middleware, "authorize", unreachable)
    api = Client().get("/api/v1/me")
    assert api.status_code == 503 and api["Retry-After"] == "5"
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/app/appointments")
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert b"<html" in page.content
