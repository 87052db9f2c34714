"""Password sign-in for the API (bearer tokens), and who the caller is."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from shifa.accounts.models import RefreshToken, TokenFamily
from shifa.core import timezones
from tests.conftest import sign_in_page, time_machine
from tests.factories import PASSWORD


def sign_in(email, password=PASSWORD):
    return Client().post(
        "/api/v1/auth/tokens",
        {"email": email, "password": password, "name": "phone"},
        content_type="application/json",
    )


def test_sign_in_returns_a_token_pair_and_stores_only_a_digest(cast):
    response = sign_in(cast.staff_a["doctor"].email.upper())
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("shr_")
    assert body["expires_at"].endswith("Z")
    assert body["user"]["id"] == str(cast.staff_a["doctor"].external_id)
    stored = RefreshToken.objects.get(family__user=cast.staff_a["doctor"])
    assert body["refresh_token"] not in stored.token_digest
    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.status_code == 200
    assert me.json()["roles"] == ["doctor"]


def test_wrong_password_and_unknown_email_get_the_same_401(cast):
    wrong = sign_in(cast.staff_a["doctor"].email, "not-the-password")
    unknown = sign_in("nobody@example.jo")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == "invalid_credentials"


def test_inactive_user_cannot_sign_in_or_use_a_token(cast, api):
    user = cast.staff_a["nurse"]
    client = api(user)
    assert client.get("/api/v1/me").status_code == 200
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert sign_in(user.email).status_code == 401
    assert client.get("/api/v1/me").status_code == 401


def test_revoked_and_expired_tokens_are_refused(cast, api):
    client = api(cast.patient_user)
    assert client.delete("/api/v1/auth/tokens/current").status_code == 204
    assert client.get("/api/v1/me").status_code == 401
    other = api(cast.patient_user)
    assert other.get("/api/v1/me").status_code == 200
    assert TokenFamily.objects.filter(user=cast.patient_user, revoked_at__isnull=True).count() == 1
    later = timezones.now() + dt.timedelta(minutes=6)  # access tokens live five minutes
    with time_machine(later):
        assert other.get("/api/v1/me").status_code == 401


def test_me_lists_roles_and_clinics(cast, api):
    body = api(cast.general_admin).get("/api/v1/me").json()
    assert body["roles"] == ["general_admin"]
    assert [c["id"] for c in body["clinics"]] == [str(cast.clinic_a.external_id)]
    assert body["clinics"][0]["roles"] == ["general_admin"]
    doctor_b = api(cast.doctor_b).get("/api/v1/me").json()
    assert [c["id"] for c in doctor_b["clinics"]] == [str(cast.clinic_b.external_id)]


def test_me_answers_in_the_users_language_unless_the_caller_asks(cast, api):
    user = cast.staff_a["secretary"]
    type(user).objects.filter(pk=user.pk).update(language="ar")
    client = api(user)
    assert client.get("/api/v1/me").json()["clinics"][0]["name"] == "عيادة أ"
    english = client.get("/api/v1/me", headers={"Accept-Language": "en"}).json()
    assert english["clinics"][0]["name"] == "Clinic A"


def test_session_api_writes_need_csrf(cast):
    client = Client(enforce_csrf_checks=True)
    sign_in_page(client, cast.staff_a["clinic_admin"])
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/secretary/permissions/tenancy.view_members"
    response = client.put(url, '{"granted": false}', content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    client.get("/accounts/sign-in")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    ok = client.put(url, '{"granted": false}', content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200
