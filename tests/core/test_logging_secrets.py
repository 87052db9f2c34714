"""Secrets of emailed links never reach the logs, even when Django logs a refused request's path."""

from __future__ import annotations

import logging

from django.test import RequestFactory

from shifa.core.logging import SecretPathFilter


def _record(msg, *args, request=None):
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, msg, args, None)
    if request is not None:
        record.request = request
    return record


def test_link_secrets_are_hidden_in_messages_arguments_and_the_request():
    secret = "Jq3x_9ZkL-secretpart"
    request = RequestFactory().post(f"/accounts/invitations/{secret}")
    record = _record("Bad Request: %s", f"/accounts/invitations/{secret}", request=request)
    SecretPathFilter().filter(record)
    text = record.getMessage() + str(record.request)
    assert secret not in text and "/accounts/invitations/[hidden]" in text
    for path in (f"/accounts/password-reset/MQ/{secret}", f"/accounts/verify-email/{secret}"):
        record = _record("Bad Request: %s", path)
        SecretPathFilter().filter(record)
        assert secret not in record.getMessage()


def test_other_paths_are_left_alone():
    for path in ("/accounts/password-reset/code", "/accounts/phone/code", "/clinic/abc/staff"):
        record = _record("Not Found: %s", path)
        SecretPathFilter().filter(record)
        assert record.getMessage() == f"Not Found: {path}"


def test_the_console_handler_uses_the_filter():
    from django.conf import settings

    assert "secret_paths" in settings.LOGGING["handlers"]["console"]["filters"]


def test_a_refused_requests_query_string_stays_out_of_the_logs():
    request = RequestFactory().get(
        "/api/v1/patients", {"national_id": "9861234567", "phone": "+962791234567"}
    )
    record = _record("Not Found: %s", request.path, request=request)
    SecretPathFilter().filter(record)
    text = record.getMessage() + str(record.request)
    assert "9861234567" not in text and "+962791234567" not in text
    assert "/api/v1/patients" in text and "GET" in text
