"""Account pages: the second step of sign-in, the staff console gate, sign-up and enrolment (ID-1, ID-6)."""

from __future__ import annotations

import re

import pyotp
from django.core import mail
from django.test import Client

from shifa.accounts.models import TotpDevice
from tests.conftest import sign_in_page
from tests.factories import PASSWORD, enrol_authenticator


def test_staff_with_an_authenticator_sign_in_in_two_steps(cast):
    admin = cast.staff_a["clinic_admin"]
    secret = enrol_authenticator(admin)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(
        "/accounts/sign-in", {"email": admin.email, "password": PASSWORD, "next": "/clinic"}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor?next=/clinic"
    # The password alone opens nothing.
    assert client.get("/clinic")["Location"].startswith("/accounts/sign-in")
    wrong = client.post("/accounts/two-factor", {"code": "000000", "next": "/clinic"})
    assert wrong.status_code == 400
    assert "This code is not correct or was already used." in wrong.content.decode()
    ok = client.post("/accounts/two-factor", {"code": pyotp.TOTP(secret).now(), "next": "/clinic"})
    assert ok.status_code == 302 and ok["Location"] == "/clinic"
    assert client.get(f"/clinic/{cast.clinic_a.external_id}").status_code == 200


def test_the_second_step_without_a_first_one_explains_itself(db):
    response = Client().get("/accounts/two-factor")
    assert response.status_code == 200
    assert "/accounts/sign-in" in response.content.decode()
    assert Client().post("/accounts/two-factor", {"code": "123456"}).status_code == 200


def test_staff_without_an_authenticator_are_sent_to_set_one_up(cast):
    client = sign_in_page(Client(), cast.staff_a["secretary"], mfa=False)
    url = f"/clinic/{cast.clinic_a.external_id}"
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"/accounts/security?next={url}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Clinic and platform staff must use an authenticator app" in page.content.decode()


def test_a_session_that_skipped_the_second_factor_must_sign_in_again(cast):
    doctor = cast.staff_a["doctor"]
    enrol_authenticator(doctor)
    client = sign_in_page(Client(), doctor, mfa=False)
    response = client.get("/clinic")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in?next=")


def test_enrolling_on_the_security_page_shows_recovery_codes_once(cast):
    nurse = cast.staff_a["nurse"]
    client = sign_in_page(Client(), nurse, mfa=False)
    started = client.post("/accounts/security", {"step": "start", "next": "/clinic"})
    assert started.status_code == 200
    body = started.content.decode()
    assert "<svg" in body
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', body).group(1)
    wrong = client.post("/accounts/security", {"code": "000000", "next": "/clinic"})
    assert wrong.status_code == 400
    done = client.post("/accounts/security", {"code": pyotp.TOTP(secret).now(), "next": "/clinic"})
    assert done.status_code == 200
    assert done.content.decode().count("<li>") >= 10
    assert TotpDevice.objects.get(user=nurse).confirmed_at is not None
    # Enrolling proved the second factor for this session: the console opens.
    assert client.get(f"/clinic/{cast.clinic_a.external_id}").status_code == 200
    assert 'data-testid="recovery-codes"' not in client.get("/accounts/security").content.decode()


def test_sign_up_page_sends_the_confirmation_link_in_the_visitors_language(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="ar")
    page = client.get("/accounts/sign-up")
    assert page.status_code == 200 and 'dir="rtl"' in page.content.decode()
    response = client.post(
        "/accounts/sign-up",
        {"full_name": "ليلى", "email": "layla@example.jo", "password": "a-long-and-unusual-passphrase"},
    )
    assert response.status_code == 201
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["layla@example.jo"]
    assert mail.outbox[0].subject == "أكّد بريدك الإلكتروني لشفاء"
    weak = client.post(
        "/accounts/sign-up", {"full_name": "x", "email": "x@example.jo", "password": "password"}
    )
    assert weak.status_code == 400


def test_phone_pages_refuse_a_bad_number_with_the_reason(db):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post("/accounts/phone", {"phone": "12"})
    assert response.status_code == 400
    assert "Enter a valid phone number." in response.content.decode()
    assert Client().get("/accounts/phone/code")["Location"] == "/accounts/phone"


def _start(client, provider="google", next_url=""):
    from urllib.parse import parse_qs, urlsplit

    response = client.get(f"/accounts/providers/{provider}" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    return response, query


def test_web_sign_in_with_google_creates_the_patient_and_signs_in(db, oidc_keys):
    client = Client()
    response, query = _start(client, next_url="/app")
    assert response["Location"].startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert query["response_mode"] == "form_post" and query["redirect_uri"].endswith(
        "/accounts/providers/google/callback"
    )
    cookie = response.cookies["shifa_oidc"]
    assert cookie["samesite"] == "None" and cookie["secure"] and cookie["httponly"]
    token = oidc_keys.id_token(email="rami@gmail.com", name="Rami Saad", nonce=query["nonce"])
    back = client.post("/accounts/providers/google/callback", {"id_token": token, "state": query["state"]})
    assert back.status_code == 302 and back["Location"] == "/app"
    assert client.get("/app").status_code == 200


def test_web_provider_callback_refuses_a_wrong_state_or_nonce(db, oidc_keys):
    client = Client()
    _response, query = _start(client)
    good = oidc_keys.id_token(email="x@gmail.com", nonce=query["nonce"])
    wrong_state = client.post("/accounts/providers/google/callback", {"id_token": good, "state": "forged"})
    assert wrong_state.status_code == 400
    other_nonce = oidc_keys.id_token(email="x@gmail.com", nonce="someone-elses")
    response = client.post(
        "/accounts/providers/google/callback", {"id_token": other_nonce, "state": query["state"]}
    )
    assert response.status_code == 400
    # Without the cookie set at the start (another browser), nothing is accepted.
    stranger = Client().post(
        "/accounts/providers/google/callback", {"id_token": good, "state": query["state"]}
    )
    assert stranger.status_code == 400
    assert "_auth_user_id" not in client.session


def test_sign_in_page_offers_the_configured_providers(db):
    body = Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/sign-in").content.decode()
    assert "Continue with Google" in body and "Continue with Apple" in body
