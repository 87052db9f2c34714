"""Production settings refuse to start without their keys and shared services, and ``check --deploy`` names the
providers still off (shifa.core.deployment, docs/operations.md)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shifa.core import deployment, secrets


def _environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A complete production environment with fresh keys, in a data folder of its own."""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SHIFA_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "shifa.settings.production",
        "SECRET_KEY": secrets.new_secret_key(),
        "JWT_SIGNING_KEY": secrets.new_secret_key(),
        "FIELD_ENCRYPTION_KEYS": secrets.new_fernet_key(),
        "FIELD_MASTER_KEYS": "m1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        "FIELD_BLIND_INDEX_KEY": secrets.new_secret_key(),
        "VAPID_PRIVATE_KEY": secrets.new_vapid_private_key(),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/shifa_production_settings",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "ALLOWED_HOSTS": "care.example.jo",
        "SHIFA_PUBLIC_URL": "https://care.example.jo",
    }
    environ.update(overrides)
    return {name: value for name, value in environ.items() if value is not None}


def _shifa(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "shifa"), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_missing_key_and_service_is_named_at_once():
    found = deployment.problems({"SHIFA_PUBLIC_URL": "http://care.example.jo", "ALLOWED_HOSTS": "*"})
    named = {line.split(" ", 1)[0] for line in found}
    assert set(deployment.REQUIRED) - {"SHIFA_PUBLIC_URL", "ALLOWED_HOSTS"} <= named
    assert any("https://" in line for line in found)
    assert any("'*'" in line for line in found)


def test_a_complete_environment_has_no_problem(tmp_path):
    assert deployment.problems(_environment(tmp_path)) == []


def test_production_refuses_to_start_without_its_keys_and_writes_none(tmp_path):
    environ = _environment(tmp_path, SECRET_KEY=None, FIELD_MASTER_KEYS=None)
    result = _shifa(environ, "manage", "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "FIELD_MASTER_KEYS is not set" in result.stderr
    # Nothing generated in its place: a container's own keys would die with it.
    assert not (tmp_path / "data" / "secrets").exists()


def test_check_deploy_names_each_provider_left_off(tmp_path):
    result = _shifa(_environment(tmp_path), "manage", "check", "--deploy")
    output = result.stdout + result.stderr
    for check_id in ("shifa.W001", "shifa.W002", "shifa.W003", "shifa.W004", "shifa.W005"):
        assert check_id in output, output
    assert "shifa.W006" not in output  # simulators are off in production unless asked for


def test_check_deploy_is_quiet_about_providers_once_each_is_configured(tmp_path):
    environ = _environment(
        tmp_path,
        EMAIL_HOST="smtp.example.jo",
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID="AC0",
        TWILIO_AUTH_TOKEN="t",
        TWILIO_FROM="+962790000000",
        PAYTABS_SERVER_KEY="S-key",
        HAKEEM_FHIR_URL="https://hakeem.example.jo/fhir",
        HAKEEM_TOKEN="h",
        TURN_URLS="turn:turn.example.jo:3478",
        TURN_SECRET="turn-secret",
    )
    result = _shifa(environ, "manage", "check", "--deploy")
    output = result.stdout + result.stderr
    assert "shifa.W0" not in output, output
    # Django's own deploy checks are satisfied by the production settings too.
    assert "security.W" not in output, output


@pytest.mark.parametrize("url", ["http://care.example.jo", "care.example.jo", "https://"])
def test_the_public_address_must_be_https(tmp_path, url):
    assert any(
        "SHIFA_PUBLIC_URL must be an https://" in line
        for line in deployment.problems(_environment(tmp_path, SHIFA_PUBLIC_URL=url))
    )


PROBE = """
import django
django.setup()
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
middleware = SecurityMiddleware(lambda request: HttpResponse("ok"))
for path in ("/healthz", "/metrics", "/api/v1/doctors", "/"):
    request = RequestFactory().get(path, HTTP_HOST="care.example.jo")
    print(path, middleware(request).status_code)
"""


def test_plain_http_is_sent_to_https_except_for_probes_and_the_scraper(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=_environment(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    statuses = dict(line.split() for line in result.stdout.splitlines() if line.startswith("/"))
    assert statuses == {"/healthz": "200", "/metrics": "200", "/api/v1/doctors": "301", "/": "301"}
