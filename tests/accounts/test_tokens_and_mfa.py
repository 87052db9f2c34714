"""API tokens (short-lived access, rotating refresh, family revocation) and the staff second factor (ID-6)."""

from __future__ import annotations

import datetime as dt

import jwt
import pyotp
import pytest
from django.conf import settings
from django.test import Client

from shifa.accounts.models import RecoveryCode, TokenFamily, TotpDevice
from shifa.core import timezones
from tests.conftest import ApiClient, time_machine
from tests.factories import PASSWORD, enrol_authenticator

JSON = "application/json"


def post(path, body, **extra):
    return Client().post(path, body, content_type=JSON, **extra)


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def sign_in(user, password=PASSWORD):
    return post("/api/v1/auth/tokens", {"email": user.email, "password": password, "name": "Pixel 9"})


def staff_clinic_url(cast):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}/members"


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_whole_family(cast):
    pair = sign_in(cast.patient_user).json()
    renewed = post("/api/v1/auth/tokens/refresh", {"refresh_token": pair["refresh_token"]})
    assert renewed.status_code == 200
    second = renewed.json()
    assert second["refresh_token"] != pair["refresh_token"]
    assert Client().get("/api/v1/me", **bearer(second["access_token"])).status_code == 200

    # Someone replays the spent first refresh token: the family ends, for them and for the owner.
    replay = post("/api/v1/auth/tokens/refresh", {"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["code"] == "refresh_token_reused"
    family = TokenFamily.objects.get(user=cast.patient_user)
    assert family.revoked_reason == "refresh_token_reused"
    assert Client().get("/api/v1/me", **bearer(second["access_token"])).status_code == 401
    again = post("/api/v1/auth/tokens/refresh", {"refresh_token": second["refresh_token"]})
    assert again.status_code == 401


def test_sign_out_revokes_access_and_refresh_tokens(cast):
    pair = sign_in(cast.patient_user).json()
    response = Client().delete("/api/v1/auth/tokens/current", **bearer(pair["access_token"]))
    assert response.status_code == 204
    assert Client().get("/api/v1/me", **bearer(pair["access_token"])).status_code == 401
    assert post("/api/v1/auth/tokens/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401


def test_access_tokens_are_short_lived_and_refresh_tokens_expire(cast):
    pair = sign_in(cast.patient_user).json()
    issued = timezones.now()
    with time_machine(issued + dt.timedelta(seconds=settings.SHIFA_ACCESS_TOKEN_SECONDS + 1)):
        assert Client().get("/api/v1/me", **bearer(pair["access_token"])).status_code == 401
    with time_machine(issued + dt.timedelta(days=settings.SHIFA_REFRESH_TOKEN_DAYS, seconds=1)):
        assert (
            post("/api/v1/auth/tokens/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401
        )


@pytest.mark.parametrize(
    "tamper",
    ["other_key", "other_audience", "none_alg", "garbage", "unknown_family"],
)
def test_forged_access_tokens_are_refused(cast, tamper):
    pair = sign_in(cast.patient_user).json()
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    if tamper == "other_key":
        token = jwt.encode(claims, "not-our-key-" * 4, algorithm="HS256")
    elif tamper == "other_audience":
        token = jwt.encode(claims | {"aud": "someone-else"}, settings.SHIFA_JWT_KEY, algorithm="HS256")
    elif tamper == "none_alg":
        token = jwt.encode(claims, None, algorithm="none")
    elif tamper == "unknown_family":
        token = jwt.encode(
            claims | {"fam": "00000000-0000-0000-0000-000000000000"},
            settings.SHIFA_JWT_KEY,
            algorithm="HS256",
        )
    else:
        token = "not.a.token"
    response = Client().get("/api/v1/me", **bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_refresh_tokens_are_stored_only_as_digests(cast):
    pair = sign_in(cast.patient_user).json()
    family = TokenFamily.objects.get(user=cast.patient_user)
    digests = list(family.refresh_tokens.values_list("token_digest", flat=True))
    assert pair["refresh_token"] not in digests and len(digests) == 1


def test_staff_with_an_authenticator_sign_in_in_two_steps(cast):
    doctor = cast.staff_a["doctor"]
    secret = enrol_authenticator(doctor)
    first = sign_in(doctor)
    assert first.status_code == 202
    ticket = first.json()["mfa_token"]
    assert "access_token" not in first.json()
    wrong = post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": "000000"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "code"
    code = pyotp.TOTP(secret).now()
    ok = post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": code})
    assert ok.status_code == 201
    token = ok.json()["access_token"]
    assert Client().get(staff_clinic_url(cast), **bearer(token)).status_code == 200
    # The same code cannot be used twice (a watched screen does not give a second sign-in).
    replay = post("/api/v1/auth/tokens/mfa", {"mfa_token": sign_in(doctor).json()["mfa_token"], "code": code})
    assert replay.status_code == 422


def test_an_expired_or_forged_mfa_ticket_is_refused(cast):
    doctor = cast.staff_a["doctor"]
    secret = enrol_authenticator(doctor)
    ticket = sign_in(doctor).json()["mfa_token"]
    forged = post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket[:-3] + "abc", "code": "123456"})
    assert forged.status_code == 401 and forged.json()["code"] == "mfa_ticket_invalid"
    import time
    from unittest import mock

    with mock.patch("django.core.signing.time.time", return_value=time.time() + 600):
        late = post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": pyotp.TOTP(secret).now()})
    assert late.status_code == 401


def test_recovery_codes_work_once(cast):
    nurse = cast.staff_a["nurse"]
    client = ApiClient(nurse, mfa=False)
    setup = client.post("/api/v1/me/authenticator")
    assert setup.status_code == 201
    assert setup.json()["uri"].startswith("otpauth://totp/Shifa:")
    assert "<svg" in setup.json()["qr_svg"]
    confirmed = client.post(
        "/api/v1/me/authenticator/confirm", {"code": pyotp.TOTP(setup.json()["secret"]).now()}
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert not RecoveryCode.objects.filter(code_digest__in=codes).exists()
    device = TotpDevice.objects.get(user=nurse)
    assert setup.json()["secret"] not in device.secret_encrypted

    ticket = sign_in(nurse).json()["mfa_token"]
    assert post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": codes[0].lower()}).status_code == 201
    ticket = sign_in(nurse).json()["mfa_token"]
    assert post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": codes[0]}).status_code == 422
    # Enrolling twice is refused; a wrong first code does not enrol.
    assert client.post("/api/v1/me/authenticator").status_code == 409


def test_a_wrong_first_code_does_not_enrol(cast):
    client = ApiClient(cast.patient_user, mfa=False)
    client.post("/api/v1/me/authenticator")
    response = client.post("/api/v1/me/authenticator/confirm", {"code": "000000"})
    assert response.status_code == 422
    assert TotpDevice.objects.get(user=cast.patient_user).confirmed_at is None


def test_second_factor_codes_lock_out_with_back_off(cast):
    doctor = cast.staff_a["doctor"]
    enrol_authenticator(doctor)
    ticket = sign_in(doctor).json()["mfa_token"]
    answers = [
        post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": "000000"}).status_code for _ in range(6)
    ]
    assert answers[:5] == [422] * 5
    assert answers[5] == 429


@pytest.mark.parametrize("role", ["clinic_admin", "secretary", "assistant_doctor", "nurse", "doctor"])
def test_staff_without_a_second_factor_reach_no_staff_operation(cast, role):
    user = cast.staff_a[role]
    client = ApiClient(user, mfa=False)
    response = client.get(f"/api/v1/clinics/{cast.clinic_a.external_id}")
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_enrolment_required"
    enrol_authenticator(user)
    response = client.get(f"/api/v1/clinics/{cast.clinic_a.external_id}")
    assert response.status_code == 403 and response.json()["code"] == "mfa_required"
    # Their own account stays reachable, to enrol and to sign out.
    assert client.get("/api/v1/me").status_code == 200


def test_platform_admin_needs_the_second_factor_too(cast):
    response = ApiClient(cast.platform_admin, mfa=False).get("/api/v1/platform/clinics")
    assert response.status_code == 403 and response.json()["code"] == "mfa_enrolment_required"


def test_patients_need_no_second_factor(cast):
    assert ApiClient(cast.patient_user, mfa=False).get("/api/v1/me").status_code == 200


def test_replacing_the_authenticator_ends_api_sign_ins_and_needs_a_new_app(cast):
    doctor = cast.staff_a["doctor"]
    secret = enrol_authenticator(doctor)
    client = ApiClient(doctor)
    assert client.get(staff_clinic_url(cast)).status_code == 200
    refused = client.post("/api/v1/me/authenticator/remove", {"code": "000000"})
    assert refused.status_code == 422 and TotpDevice.objects.filter(user=doctor).exists()
    removed = client.post("/api/v1/me/authenticator/remove", {"code": pyotp.TOTP(secret).now()})
    assert removed.status_code == 204
    assert not TotpDevice.objects.filter(user=doctor).exists()
    assert client.get("/api/v1/me").status_code == 401  # every sign-in of the account ended
    fresh = ApiClient(doctor, mfa=False)
    assert fresh.get(staff_clinic_url(cast)).json()["code"] == "mfa_enrolment_required"


def test_replacing_the_authenticator_on_the_security_page(cast):
    from tests.conftest import sign_in_page

    nurse = cast.staff_a["nurse"]
    secret = enrol_authenticator(nurse)
    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), nurse)
    page = browser.get("/accounts/security").content.decode()
    assert "Replace the authenticator app" in page
    wrong = browser.post("/accounts/security", {"step": "remove", "code": "000000"})
    assert wrong.status_code == 400
    done = browser.post("/accounts/security", {"step": "remove", "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302 and done["Location"] == "/accounts/security"
    assert browser.get(f"/clinic/{cast.clinic_a.external_id}")["Location"].startswith("/accounts/security")


def test_replacing_the_authenticator_closes_the_consoles_to_every_other_browser(cast):
    admin = cast.staff_a["clinic_admin"]
    secret = enrol_authenticator(admin)
    console = f"/clinic/{cast.clinic_a.external_id}"

    def signed_in_browser():
        browser = Client()
        browser.post("/accounts/sign-in", {"email": admin.email, "password": PASSWORD})
        browser.post("/accounts/two-factor", {"code": pyotp.TOTP(secret).now()})
        return browser

    other = signed_in_browser()
    assert other.get(console).status_code == 200
    TotpDevice.objects.filter(user=admin).update(last_step=0)  # let the same 30-second code serve twice
    mine = signed_in_browser()
    TotpDevice.objects.filter(user=admin).update(last_step=0)
    assert (
        mine.post("/accounts/security", {"step": "remove", "code": pyotp.TOTP(secret).now()}).status_code
        == 302
    )
    assert other.get(console).status_code == 302
    assert other.get(console)["Location"].startswith("/accounts/security")


def test_changing_how_one_signs_in_needs_a_recent_sign_in(cast, oidc_keys):
    from shifa.accounts.actions import provider_nonce_issue

    patient = cast.patient_user
    client = ApiClient(patient, mfa=False)
    assert client.get("/api/v1/me").status_code == 200
    # A sign-in kept alive by refreshing (or a stolen refresh token) is not a recent sign-in.
    TokenFamily.objects.filter(user=patient).update(created_at=timezones.now() - dt.timedelta(minutes=16))
    nonce = provider_nonce_issue()["nonce"]
    token = oidc_keys.id_token(email="thief@gmail.com", nonce=nonce)
    refused = client.post("/api/v1/me/identities", {"provider": "google", "id_token": token, "nonce": nonce})
    assert refused.status_code == 403 and refused.json()["code"] == "recent_sign_in_required"
    assert client.post("/api/v1/me/authenticator").json()["code"] == "recent_sign_in_required"
    assert not TotpDevice.objects.filter(user=patient).exists()


def test_the_security_page_asks_a_stale_session_to_sign_in_again(cast):
    from shifa.accounts.actions import SESSION_SIGNED_IN_AT
    from tests.conftest import sign_in_page

    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.patient_user, mfa=False)
    session = browser.session
    session[SESSION_SIGNED_IN_AT] = (timezones.now() - dt.timedelta(hours=1)).timestamp()
    session.save()
    page = browser.post("/accounts/security", {"step": "start"})
    assert "sign in again to change how you sign in" in page.content.decode()
    assert not TotpDevice.objects.filter(user=cast.patient_user).exists()


def _rotate_secret_key(settings, *, keep_old: bool) -> None:
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-rotated-secret-key-" + "r" * 50
    settings.SECRET_KEY_FALLBACKS = [old] if keep_old else []


@pytest.mark.parametrize("keep_old", [True, False])
def test_refresh_tokens_and_recovery_codes_made_before_a_secret_key_rotation_match_while_it_is_a_fallback(
    cast, settings, keep_old
):
    pair = sign_in(cast.patient_user).json()
    nurse = cast.staff_a["nurse"]
    client = ApiClient(nurse, mfa=False)
    secret = client.post("/api/v1/me/authenticator").json()["secret"]
    codes = client.post("/api/v1/me/authenticator/confirm", {"code": pyotp.TOTP(secret).now()}).json()[
        "recovery_codes"
    ]

    _rotate_secret_key(settings, keep_old=keep_old)
    renewed = post("/api/v1/auth/tokens/refresh", {"refresh_token": pair["refresh_token"]})
    ticket = sign_in(nurse).json()["mfa_token"]
    recovered = post("/api/v1/auth/tokens/mfa", {"mfa_token": ticket, "code": codes[0]})
    if keep_old:
        assert renewed.status_code == 200
        assert recovered.status_code == 201
        # What is made after the rotation is made with the new key, and still works once the fallback goes.
        settings.SECRET_KEY_FALLBACKS = []
        again = post("/api/v1/auth/tokens/refresh", {"refresh_token": renewed.json()["refresh_token"]})
        assert again.status_code == 200
    else:
        assert renewed.status_code == 401
        assert recovered.status_code == 422
