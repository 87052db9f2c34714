"""Security headers on every answer (issue 13; docs/decisions/0031-security-headers.md): a Content-Security-Policy
with no inline script, a Permissions-Policy that lets only our own pages use the camera, microphone and location,
and Django's own (no sniffing, same-origin referrer and opener, no framing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from shifa.core import security
from tests.conftest import sign_in_page

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "shifa"


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_secure_headers(response):
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["connect-src"][0] == "'self'"
    assert all(source.startswith(("ws://", "wss://")) for source in policy["connect-src"][1:])
    assert policy["media-src"] == ["'self'", "blob:", "mediastream:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["form-action"][0] == "'self'"
    permissions = dict(
        (feature, allow)
        for feature, allow in re.findall(r"([a-z-]+)=(\([^)]*\))", response["Permissions-Policy"])
    )
    assert permissions["camera"] == permissions["microphone"] == permissions["geolocation"] == "(self)"
    assert permissions["payment"] == permissions["usb"] == permissions["display-capture"] == "()"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/welcome", "/accounts/sign-in", "/app/search"])
def test_public_pages_carry_the_security_headers(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert_secure_headers(response)


def test_patient_and_clinic_pages_carry_the_security_headers(cast):
    patient = sign_in_page(Client(), cast.patient_user, mfa=False)
    response = patient.get("/app")
    assert response.status_code == 200
    assert_secure_headers(response)
    staff = sign_in_page(Client(), cast.staff_a["clinic_admin"])
    response = staff.get(f"/clinic/{cast.clinic_a.external_id}")
    assert response.status_code == 200
    assert_secure_headers(response)


def test_api_answers_and_errors_carry_them_too(cast, api):
    response = api(cast.patient_user).get("/api/v1/me")
    assert response.status_code == 200
    assert_secure_headers(response)
    assert_secure_headers(Client().get("/api/v1/me"))  # a 401 problem


def test_hsts_in_production_only(monkeypatch):
    import importlib
    import sys

    from shifa.core import deployment

    for name in deployment.REQUIRED:
        monkeypatch.setenv(name, "set-from-the-secret-store")
    monkeypatch.setenv("SHIFA_PUBLIC_URL", "https://shifa.jo")
    monkeypatch.setenv("ALLOWED_HOSTS", "shifa.jo")
    monkeypatch.delitem(sys.modules, "shifa.settings.production", raising=False)
    production = importlib.import_module("shifa.settings.production")
    monkeypatch.delitem(sys.modules, "shifa.settings.production")

    assert production.SECURE_HSTS_SECONDS >= 31536000 and production.SECURE_HSTS_INCLUDE_SUBDOMAINS
    assert production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE


def test_form_action_allows_the_paytabs_page_the_checkout_redirects_to():
    """A checkout form is answered by a redirect to PayTabs' hosted page; browsers check that redirect against
    form-action, so the production policy names PayTabs' origin (and only its origin)."""
    policy = security.content_security_policy(
        public_url="https://shifa.jo", paytabs_base_url="https://secure-jordan.paytabs.com/"
    )["DIRECTIVES"]
    assert policy["form-action"] == ["'self'", "https://secure-jordan.paytabs.com"]
    assert policy["connect-src"] == ["'self'", "wss://shifa.jo"]
    local = security.content_security_policy(
        public_url="http://127.0.0.1:8000", paytabs_base_url="http://127.0.0.1:8000/simulators/paytabs"
    )["DIRECTIVES"]
    assert local["connect-src"] == ["'self'", "ws://127.0.0.1:8000"]


def test_no_template_has_an_inline_script_or_event_handler():
    """The policy refuses inline scripts: every script is a static file (JSON data blocks are fine)."""
    offenders = []
    for template in TEMPLATES.glob("**/templates/**/*.html"):
        text = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attributes = match.group(1)
            if "src=" not in attributes and "application/json" not in attributes:
                offenders.append(f"{template}: {match.group(0)}")
        offenders += [f"{template}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+\s*=\s*[\"']", text)]
        offenders += [f"{template}: javascript: URL" for _ in re.finditer(r"href=[\"']javascript:", text)]
    assert offenders == []
