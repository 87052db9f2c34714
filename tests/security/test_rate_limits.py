"""Rate limits (issue 13): hammering sign-in, one-time codes (texted codes, authenticator codes, mailed links) or
the doctor search ends in 429 Too Many Requests with a Retry-After saying when to come back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shifa.accounts import lockout
from shifa.core import timezones
from tests.conftest import time_machine
from tests.factories import PASSWORD, UserFactory, enrol_authenticator

JSON = "application/json"
PHONE = "+962791234567"


def api_post(path, body, address="10.20.30.40"):
    return Client(REMOTE_ADDR=address).post(path, body, content_type=JSON)


def assert_rate_limited(response):
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) > 0


def hammer(send, times):
    """``send()`` ``times`` times; the answers' status codes, then the last answer."""
    answers = [send() for _ in range(times)]
    return [a.status_code for a in answers], answers[-1]


def test_password_sign_in_page_and_api(cast):
    email = cast.staff_a["doctor"].email
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    statuses, last = hammer(
        lambda: client.post("/accounts/sign-in", {"email": email, "password": "wrong"}), 6
    )
    assert statuses == [400] * 5 + [429]
    assert_rate_limited(last)

    other = cast.patient_user.email
    statuses, last = hammer(lambda: api_post("/api/v1/auth/tokens", {"email": other, "password": "nope"}), 6)
    assert statuses == [401] * 5 + [429]
    assert_rate_limited(last)
    assert last.json()["code"] == "locked_out"


def test_texted_codes_cannot_be_requested_or_guessed_without_end(db, settings, tmp_path):
    settings.SMS_BACKEND = "outbox"
    settings.SMS_OUTBOX_DIR = tmp_path
    assert api_post("/api/v1/auth/phone/codes", {"phone": PHONE}).status_code == 202
    again = api_post("/api/v1/auth/phone/codes", {"phone": PHONE})
    assert_rate_limited(again)
    assert again.json()["code"] == "code_recently_sent"

    statuses, last = hammer(
        lambda: api_post("/api/v1/auth/phone/tokens", {"phone": PHONE, "code": "000000"}), 6
    )
    assert statuses == [422] * 5 + [429]
    assert_rate_limited(last)


def test_authenticator_codes_cannot_be_guessed_without_end(cast):
    doctor = cast.staff_a["doctor"]
    enrol_authenticator(doctor)
    ticket = api_post("/api/v1/auth/tokens", {"email": doctor.email, "password": PASSWORD}).json()[
        "mfa_token"
    ]
    statuses, last = hammer(
        lambda: api_post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": "000000"}), 6
    )
    assert statuses == [422] * 5 + [429]
    assert_rate_limited(last)

    # The sign-in page's second step too.
    nurse = cast.staff_a["nurse"]
    enrol_authenticator(nurse)
    client = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.9.8.7")
    assert client.post("/accounts/sign-in", {"email": nurse.email, "password": PASSWORD}).status_code == 302
    statuses, last = hammer(lambda: client.post("/accounts/two-factor", {"code": "000000"}), 6)
    assert statuses == [400] * 5 + [429]
    assert_rate_limited(last)


def test_mailed_links_cannot_be_requested_without_end(db):
    user = UserFactory(email_verified_at=None)
    statuses, last = hammer(lambda: api_post("/api/v1/auth/email/resend", {"email": user.email}), 4)
    assert statuses[-1] == 429 and len(set(statuses[:-1])) == 1 and statuses[0] < 300
    assert_rate_limited(last)


@pytest.mark.django_db
def test_the_search_page_and_api_are_limited_per_address(monkeypatch):
    monkeypatch.setattr(lockout, "SEARCHES_FROM_ADDRESS", lockout.Window(limit=5, seconds=60))
    at = timezones.now().replace(second=10, microsecond=0)
    with time_machine(at):
        page = Client(REMOTE_ADDR="10.1.2.3", HTTP_ACCEPT_LANGUAGE="en")
        statuses, last = hammer(lambda: page.get("/app/search", {"q": "heart"}), 3)
        assert statuses == [200] * 3
        statuses, last = hammer(lambda: page.get("/api/v1/search/doctors", {"q": "heart"}), 3)
        assert statuses == [200, 200, 429]  # the page and the API count together
        assert_rate_limited(last)
        assert last["Content-Type"].startswith("application/problem+json")
        assert last.json()["code"] == "too_many_searches"
        assert int(last["Retry-After"]) == 51  # the rest of the minute
        refused = page.get("/app/search", {"q": "heart"})
        assert_rate_limited(refused)
        assert b"Too many searches" in refused.content
        # Another address is not held back.
        assert Client(REMOTE_ADDR="10.1.2.4").get("/api/v1/search/doctors").status_code == 200
    with time_machine(at + dt.timedelta(minutes=1)):
        assert page.get("/api/v1/search/doctors").status_code == 200


def test_the_search_is_limited_per_signed_in_user_from_any_address(cast, monkeypatch):
    from tests.conftest import sign_in_page

    monkeypatch.setattr(lockout, "SEARCHES", lockout.Window(limit=4, seconds=60))
    client = sign_in_page(Client(), cast.patient_user, mfa=False)
    answers = [client.get("/app/search", REMOTE_ADDR=f"10.3.0.{n}").status_code for n in range(5)]
    assert answers == [200] * 4 + [429]
    # Someone else, from the same addresses, still searches.
    assert Client(REMOTE_ADDR="10.3.0.1").get("/app/search").status_code == 200


def test_the_default_search_limits_leave_room_for_people():
    assert lockout.SEARCHES.limit >= 60 and lockout.SEARCHES.seconds == 60
    assert lockout.SEARCHES_FROM_ADDRESS.limit > lockout.SEARCHES.limit
