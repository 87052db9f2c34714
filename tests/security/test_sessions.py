"""Sessions and tokens expire and rotate (issue 13): a new session key at sign-in and again when the second factor
is passed (a planted session id is worth nothing), an expired session is refused, and API tokens expire."""

from __future__ import annotations

import datetime as dt

import pyotp
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from shifa.core import timezones
from tests.conftest import sign_in_page, time_machine
from tests.factories import PASSWORD, TOTP_SECRET, enrol_authenticator

JSON = "application/json"


def planted_session(client: Client) -> str:
    """Give the browser a session id before it signs in (as an attacker fixing the session would)."""
    session = SessionStore()
    session["planted"] = True
    session.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return session.session_key


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_signing_in_gives_a_new_session_key(cast):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    planted = planted_session(client)
    response = client.post("/accounts/sign-in", {"email": cast.patient_user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert session_key(client) != planted
    assert not Session.objects.filter(session_key=planted).exists()
    assert client.get("/app").status_code == 200


def test_passing_the_second_factor_gives_another_new_session_key(cast):
    doctor = cast.staff_a["doctor"]
    enrol_authenticator(doctor)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    planted = planted_session(client)
    assert client.post("/accounts/sign-in", {"email": doctor.email, "password": PASSWORD}).status_code == 302
    halfway = session_key(client)
    assert halfway != planted  # the pending second step lives in a fresh session…
    response = client.post("/accounts/two-factor", {"code": pyotp.TOTP(TOTP_SECRET).now()})
    assert response.status_code == 302
    assert session_key(client) not in {planted, halfway}  # …and the signed-in one in another
    assert not Session.objects.filter(session_key__in=[planted, halfway]).exists()
    assert client.get(f"/clinic/{cast.clinic_a.external_id}").status_code == 200


def test_a_session_lasts_twelve_hours_at_most_and_an_expired_one_is_refused(cast):
    client = sign_in_page(Client(), cast.patient_user, mfa=False)
    assert settings.SESSION_COOKIE_AGE <= 12 * 60 * 60
    record = Session.objects.get(session_key=session_key(client))
    assert record.expire_date <= timezone.now() + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE + 5)
    assert client.get("/app").status_code == 200

    Session.objects.filter(pk=record.pk).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    refused = client.get("/app")
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/sign-in")
    assert (
        Client().get("/api/v1/me", HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={record.pk}").status_code
        == 401
    )


def test_api_access_and_refresh_tokens_expire(cast):
    issued = timezones.now()
    with time_machine(issued):
        pair = (
            Client()
            .post(
                "/api/v1/auth/tokens",
                {"email": cast.patient_user.email, "password": PASSWORD},
                content_type=JSON,
            )
            .json()
        )
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {pair['access_token']}"}
    assert settings.SHIFA_ACCESS_TOKEN_SECONDS <= 15 * 60 and settings.SHIFA_REFRESH_TOKEN_DAYS <= 30
    with time_machine(issued + dt.timedelta(seconds=settings.SHIFA_ACCESS_TOKEN_SECONDS - 5)):
        assert Client().get("/api/v1/me", **bearer).status_code == 200
    with time_machine(issued + dt.timedelta(seconds=settings.SHIFA_ACCESS_TOKEN_SECONDS + 1)):
        assert Client().get("/api/v1/me", **bearer).status_code == 401
    with time_machine(issued + dt.timedelta(days=settings.SHIFA_REFRESH_TOKEN_DAYS, seconds=1)):
        expired = Client().post(
            "/api/v1/auth/tokens/refresh", {"refresh_token": pair["refresh_token"]}, content_type=JSON
        )
        assert expired.status_code == 401
