"""Sign-in with Google and Apple ID tokens, verified against a local JWKS (tests/support/oidc.py), and linking or
unlinking those accounts from the signed-in user."""

from __future__ import annotations

import hashlib
import socket
import uuid

import jwt
import pytest
from django.test import Client

from shifa.accounts.actions import provider_nonce_issue
from shifa.accounts.models import ExternalIdentity, TokenFamily, User
from shifa.records.models import Patient
from tests.factories import UserFactory, enrol_authenticator
from tests.support.oidc import APPLE_ISSUER, GOOGLE_CLIENT_ID, GOOGLE_ISSUER

pytestmark = pytest.mark.django_db

#: The nonce each token minted by the ``oidc_keys`` wrapper below carries (issued by the server, as the app does).
ISSUED: dict[str, str] = {}
_UNSET = object()


def new_nonce() -> str:
    return provider_nonce_issue()["nonce"]


class NonceMinting:
    """The test key server, minting tokens for a server-issued nonce unless the test names one."""

    def __init__(self, keys) -> None:
        self.keys = keys

    def id_token(self, provider: str = "google", *, nonce=_UNSET, **claims) -> str:
        if nonce is not _UNSET:
            return self.keys.id_token(provider, nonce=nonce, **claims)
        nonce = new_nonce()
        token = self.keys.id_token(provider, nonce=nonce, **claims)
        ISSUED[token] = nonce
        return token

    def __getattr__(self, name):
        return getattr(self.keys, name)


@pytest.fixture
def oidc_keys(oidc_keys):
    return NonceMinting(oidc_keys)


def link_body(provider: str, id_token: str) -> dict:
    return {"provider": provider, "id_token": id_token, "nonce": ISSUED.get(id_token) or new_nonce()}


def provider_sign_in(provider: str, id_token: str, **extra):
    if "nonce" not in extra:
        extra["nonce"] = ISSUED.get(id_token) or new_nonce()
    return Client().post(
        f"/api/v1/auth/providers/{provider}/tokens",
        {"id_token": id_token, **extra},
        content_type="application/json",
    )


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


def field_codes(body: dict) -> dict[str, str]:
    return {error["field"]: error["code"] for error in body["errors"]}


def me(access_token: str) -> dict:
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert response.status_code == 200
    return response.json()


# --- Sign-in and sign-up --------------------------------------------------------------------------------------


def test_a_new_verified_google_account_creates_a_patient_and_signs_in_again_by_subject(oidc_keys):
    token = oidc_keys.id_token("google", sub="g-1001", email="Layla@Example.JO", name="Layla Haddad")
    first = provider_sign_in("google", token, name="Pixel")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("shr_")
    user = User.objects.get(email="layla@example.jo")
    assert body["user"]["id"] == str(user.external_id)
    assert body["user"]["email_verified"] is True
    assert user.full_name == "Layla Haddad"
    assert not user.has_usable_password()  # no password was chosen: Google is the way in
    assert Patient.objects.get(user=user).full_name == "Layla Haddad"
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.provider, identity.subject, identity.email) == ("google", "g-1001", "layla@example.jo")
    assert me(body["access_token"])["user"]["id"] == str(user.external_id)

    # The subject, not the email, identifies the person: a later token (even with another email) signs in.
    again = provider_sign_in("google", oidc_keys.id_token("google", sub="g-1001", email="new@example.jo"))
    assert again.status_code == 201
    assert again.json()["user"]["id"] == str(user.external_id)
    assert again.json()["access_token"] != body["access_token"]
    assert User.objects.filter(email__in=["layla@example.jo", "new@example.jo"]).count() == 1
    assert Patient.objects.filter(user=user).count() == 1
    assert ExternalIdentity.objects.filter(subject="g-1001").count() == 1


def test_the_name_falls_back_to_the_requested_one_then_the_email(oidc_keys):
    named = provider_sign_in(
        "apple", oidc_keys.id_token("apple", email="a@privaterelay.appleid.com"), full_name="Omar Saleh"
    )
    assert named.status_code == 201
    assert User.objects.get(email="a@privaterelay.appleid.com").full_name == "Omar Saleh"
    bare = provider_sign_in("google", oidc_keys.id_token("google", email="rana.k@example.jo"))
    assert bare.status_code == 201
    assert User.objects.get(email="rana.k@example.jo").full_name == "rana.k"


def test_apple_signs_up_and_in_with_its_own_audience_and_issuer(oidc_keys):
    token = oidc_keys.id_token("apple", sub="001234.abcd", email="sami@icloud.com", name="Sami")
    first = provider_sign_in("apple", token)
    assert first.status_code == 201, first.content
    user = User.objects.get(email="sami@icloud.com")
    assert Patient.objects.filter(user=user).exists()
    assert ExternalIdentity.objects.get(user=user).provider == "apple"
    again = provider_sign_in("apple", oidc_keys.id_token("apple", sub="001234.abcd", email="sami@icloud.com"))
    assert again.status_code == 201
    assert again.json()["user"]["id"] == str(user.external_id)
    assert User.objects.filter(email="sami@icloud.com").count() == 1


def test_the_same_subject_at_another_provider_is_another_person(oidc_keys):
    google = provider_sign_in("google", oidc_keys.id_token("google", sub="shared-sub", email="g@example.jo"))
    apple = provider_sign_in("apple", oidc_keys.id_token("apple", sub="shared-sub", email="a@example.jo"))
    assert google.status_code == apple.status_code == 201
    assert google.json()["user"]["id"] != apple.json()["user"]["id"]


# --- Tokens that are refused ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "claims"),
    [
        pytest.param("google", {"forged": True}, id="forged-signature"),
        pytest.param("google", {"expires_in": -3600}, id="expired"),
        pytest.param("google", {"audience": "someone-else.apps.googleusercontent.com"}, id="wrong-audience"),
        pytest.param("google", {"issuer": "https://accounts.example.com"}, id="wrong-issuer"),
        pytest.param("google", {"issuer": APPLE_ISSUER}, id="apple-issuer-at-google"),
        pytest.param("google", {"provider": "apple"}, id="apple-token-at-google"),
        pytest.param("apple", {"provider": "google"}, id="google-token-at-apple"),
        pytest.param("apple", {"provider": "apple", "audience": GOOGLE_CLIENT_ID}, id="google-aud-at-apple"),
        pytest.param("apple", {"provider": "apple", "issuer": GOOGLE_ISSUER}, id="google-iss-at-apple"),
    ],
)
def test_tokens_that_fail_verification_are_refused(oidc_keys, route, claims):
    claims = {"provider": route, **claims}
    token = oidc_keys.id_token(claims.pop("provider"), email="victim@example.jo", **claims)
    users = User.objects.count()
    problem(provider_sign_in(route, token), 401, "invalid_id_token")
    assert User.objects.count() == users
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize(
    ("token_nonce", "request_nonce", "status", "code"),
    [
        pytest.param("A", "B", 401, "invalid_id_token", id="mismatch"),
        pytest.param("A", None, 422, "validation_failed", id="request-has-none"),
        pytest.param(None, "B", 401, "invalid_id_token", id="token-has-none"),
        pytest.param("sha256(A)", "B", 401, "invalid_id_token", id="digest-of-another-nonce"),
        pytest.param("A", "sha256(A)", 401, "invalid_nonce", id="request-sends-the-digest"),
        pytest.param("made-up", "made-up", 401, "invalid_nonce", id="not-issued-by-us"),
    ],
)
def test_nonces_must_be_ours_and_match(oidc_keys, token_nonce, request_nonce, status, code):
    issued = {"A": new_nonce(), "B": new_nonce(), "made-up": "a-nonce-we-never-issued"}
    issued["sha256(A)"] = hashlib.sha256(issued["A"].encode()).hexdigest()
    token = oidc_keys.id_token("google", email="n@example.jo", nonce=issued.get(token_nonce))
    body = {"id_token": token}
    if request_nonce is not None:
        body["nonce"] = issued[request_nonce]
    response = Client().post("/api/v1/auth/providers/google/tokens", body, content_type="application/json")
    problem(response, status, code)
    assert not User.objects.filter(email="n@example.jo").exists()


def test_a_matching_nonce_is_accepted_once(oidc_keys):
    nonce = new_nonce()
    token = oidc_keys.id_token("google", email="nonce@example.jo", nonce=nonce)
    assert provider_sign_in("google", token, nonce=nonce).status_code == 201
    # The same token and nonce again (a replay) is refused.
    problem(provider_sign_in("google", token, nonce=nonce), 401, "invalid_nonce")


def test_a_nonce_expires_after_ten_minutes(oidc_keys):
    import datetime as dt

    from shifa.core import timezones
    from tests.conftest import time_machine

    nonce = new_nonce()
    token = oidc_keys.id_token("google", email="late@example.jo", nonce=nonce)
    with time_machine(timezones.now() + dt.timedelta(minutes=11)):
        problem(provider_sign_in("google", token, nonce=nonce), 401, "invalid_nonce")


def test_apples_native_flow_echoes_the_sha256_of_the_nonce(oidc_keys):
    raw = new_nonce()
    token = oidc_keys.id_token(
        "apple", email="native@icloud.com", nonce=hashlib.sha256(raw.encode()).hexdigest()
    )
    response = provider_sign_in("apple", token, nonce=raw)
    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "native@icloud.com"


@pytest.mark.parametrize(
    "garbage",
    ["not-a-jwt-at-all", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "a.b.c.d.e.f.g.h"],
)
def test_garbage_is_refused(garbage):
    problem(provider_sign_in("google", garbage), 401, "invalid_id_token")


@pytest.mark.parametrize(
    ("key", "algorithm", "kid"),
    [
        pytest.param(None, "none", None, id="alg-none"),
        pytest.param("shared-secret-long-enough-for-hs256!", "HS256", None, id="hs256"),
        pytest.param("our-key", "RS256", "unknown-kid", id="unknown-kid"),
    ],
)
def test_tokens_not_signed_by_a_published_key_are_refused(oidc_keys, key, algorithm, kid):
    claims = jwt.decode(
        oidc_keys.id_token("google", email="alg@example.jo"), options={"verify_signature": False}
    )
    if key == "our-key":
        key = oidc_keys.key
    token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid or oidc_keys.kid})
    problem(provider_sign_in("google", token), 401, "invalid_id_token")
    assert not User.objects.filter(email="alg@example.jo").exists()


def test_the_published_keys_are_cached(oidc_keys):
    assert (
        provider_sign_in("google", oidc_keys.id_token("google", email="warm@example.jo")).status_code == 201
    )
    fetched = oidc_keys.requests
    for i in range(3):
        token = oidc_keys.id_token("google", email=f"cached{i}@example.jo")
        assert provider_sign_in("google", token).status_code == 201
    assert oidc_keys.requests == fetched


def test_an_unknown_provider_is_a_field_error(oidc_keys):
    body = problem(
        provider_sign_in("facebook", oidc_keys.id_token("google", email="f@example.jo")),
        422,
        "validation_failed",
    )
    assert field_codes(body) == {"provider": "unknown_provider"}


def test_a_provider_without_client_ids_is_switched_off(oidc_keys, settings):
    providers = oidc_keys.providers()
    providers["apple"]["audiences"] = []
    settings.SHIFA_OIDC_PROVIDERS = providers
    body = problem(
        provider_sign_in("apple", oidc_keys.id_token("apple", email="x@icloud.com")), 422, "validation_failed"
    )
    assert field_codes(body) == {"provider": "unknown_provider"}


def test_a_new_person_needs_a_verified_email(oidc_keys):
    token = oidc_keys.id_token("google", email="unverified@example.jo", email_verified=False)
    body = problem(provider_sign_in("google", token), 422, "validation_failed")
    assert field_codes(body) == {"id_token": "email_unverified"}
    assert not User.objects.filter(email="unverified@example.jo").exists()
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize(("claim", "status"), [("true", 201), ("false", 422)])
def test_apples_string_email_verified_claim_is_understood(oidc_keys, claim, status):
    token = oidc_keys.id_token("apple", email="s@icloud.com", email_verified=claim)
    assert provider_sign_in("apple", token).status_code == status
    assert User.objects.filter(email="s@icloud.com").exists() is (status == 201)


def test_a_token_without_an_email_cannot_create_an_account(oidc_keys):
    body = problem(provider_sign_in("apple", oidc_keys.id_token("apple")), 422, "validation_failed")
    assert field_codes(body) == {"id_token": "email_unverified"}
    assert not ExternalIdentity.objects.exists()


def test_an_existing_accounts_email_requires_linking_and_is_never_merged(cast, oidc_keys):
    users = User.objects.count()
    for email in (cast.patient_user.email, cast.patient_user.email.upper()):
        token = oidc_keys.id_token("google", sub="takeover", email=email)
        body = problem(provider_sign_in("google", token), 409, "link_required")
        assert "Google" in body["detail"]
    assert User.objects.count() == users
    assert not ExternalIdentity.objects.exists()


# --- Linking and unlinking -----------------------------------------------------------------------------------


def test_a_linked_identity_signs_its_user_in_and_is_listed(cast, api, oidc_keys):
    user = cast.patient_user
    client = api(user)
    token = oidc_keys.id_token("google", sub="link-1", email=user.email)
    linked = client.post("/api/v1/me/identities", link_body("google", token))
    assert linked.status_code == 201, linked.content
    assert linked.json()["provider"] == "google" and linked.json()["email"] == user.email
    identity = ExternalIdentity.objects.get(user=user)
    assert linked.json()["id"] == str(identity.external_id)
    assert identity.subject == "link-1"

    signed_in = provider_sign_in("google", oidc_keys.id_token("google", sub="link-1", email=user.email))
    assert signed_in.status_code == 201
    assert signed_in.json()["user"]["id"] == str(user.external_id)

    listed = client.get("/api/v1/me/identities")
    assert listed.status_code == 200
    assert [(i["id"], i["provider"]) for i in listed.json()] == [(str(identity.external_id), "google")]
    assert api(cast.other_patient_user).get("/api/v1/me/identities").json() == []

    # Linking the same account again (with a new token: each works once) is harmless.
    fresh = oidc_keys.id_token("google", sub="link-1", email=user.email)
    again = client.post("/api/v1/me/identities", link_body("google", fresh))
    assert again.status_code == 201
    assert ExternalIdentity.objects.filter(user=user).count() == 1


def test_a_linked_account_with_an_authenticator_still_needs_it(cast, api, oidc_keys):
    user = cast.staff_a["doctor"]
    enrol_authenticator(user)
    token = oidc_keys.id_token("google", sub="doctor-google", email=user.email)
    assert api(user).post("/api/v1/me/identities", link_body("google", token)).status_code == 201
    families = TokenFamily.objects.filter(user=user).count()
    response = provider_sign_in("google", oidc_keys.id_token("google", sub="doctor-google", email=user.email))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["mfa_required"] is True and body["mfa_token"]
    assert "access_token" not in body
    assert TokenFamily.objects.filter(user=user).count() == families


def test_a_disabled_account_cannot_sign_in_with_its_linked_identity(cast, api, oidc_keys):
    user = cast.patient_user
    token = oidc_keys.id_token("google", sub="disabled", email=user.email)
    assert api(user).post("/api/v1/me/identities", link_body("google", token)).status_code == 201
    User.objects.filter(pk=user.pk).update(is_active=False)
    fresh = oidc_keys.id_token("google", sub="disabled", email=user.email)
    problem(provider_sign_in("google", fresh), 403, "account_disabled")


def test_an_identity_with_another_email_can_be_linked_and_then_signs_in(cast, api, oidc_keys):
    token = oidc_keys.id_token("apple", sub="relay-1", email="xyz@privaterelay.appleid.com")
    assert api(cast.patient_user).post("/api/v1/me/identities", link_body("apple", token)).status_code == 201
    again = provider_sign_in(
        "apple", oidc_keys.id_token("apple", sub="relay-1", email="xyz@privaterelay.appleid.com")
    )
    assert again.status_code == 201
    assert again.json()["user"]["id"] == str(cast.patient_user.external_id)
    assert not User.objects.filter(email="xyz@privaterelay.appleid.com").exists()


def test_an_identity_linked_to_someone_else_cannot_be_taken(cast, api, oidc_keys):
    token = oidc_keys.id_token("google", sub="owned", email="owner@example.jo")
    assert api(cast.patient_user).post("/api/v1/me/identities", link_body("google", token)).status_code == 201
    again = oidc_keys.id_token("google", sub="owned", email="owner@example.jo")
    taken = api(cast.other_patient_user).post("/api/v1/me/identities", link_body("google", again))
    problem(taken, 409, "identity_taken")
    assert ExternalIdentity.objects.get(subject="owned").user == cast.patient_user


def test_linking_verifies_the_token_and_needs_a_signed_in_user(cast, api, anon, oidc_keys):
    forged = oidc_keys.id_token("google", sub="forged-link", email="f@example.jo", forged=True)
    problem(
        api(cast.patient_user).post("/api/v1/me/identities", link_body("google", forged)),
        401,
        "invalid_id_token",
    )
    good = oidc_keys.id_token("google", sub="anon-link", email="f@example.jo")
    assert anon.post("/api/v1/me/identities", link_body("google", good)).status_code == 401
    assert not ExternalIdentity.objects.exists()


def test_unlinking_works_while_a_password_remains(cast, api, oidc_keys):
    user = cast.patient_user
    client = api(user)
    token = oidc_keys.id_token("google", sub="unlink-1", email=user.email)
    identity_id = client.post("/api/v1/me/identities", link_body("google", token)).json()["id"]
    assert user.has_usable_password()
    assert client.delete(f"/api/v1/me/identities/{identity_id}").status_code == 204
    assert not ExternalIdentity.objects.filter(user=user).exists()
    assert client.get("/api/v1/me/identities").json() == []
    # Google no longer signs this person in, and the email is still not merged.
    fresh = oidc_keys.id_token("google", sub="unlink-1", email=user.email)
    problem(provider_sign_in("google", fresh), 409, "link_required")


def test_someone_elses_identity_cannot_be_unlinked(cast, api, oidc_keys):
    token = oidc_keys.id_token("google", sub="mine", email="mine@example.jo")
    identity_id = (
        api(cast.patient_user).post("/api/v1/me/identities", link_body("google", token)).json()["id"]
    )
    assert api(cast.other_patient_user).delete(f"/api/v1/me/identities/{identity_id}").status_code == 404
    assert api(cast.patient_user).delete(f"/api/v1/me/identities/{uuid.uuid4()}").status_code == 404
    assert ExternalIdentity.objects.filter(external_id=identity_id).exists()


def test_the_last_way_to_sign_in_cannot_be_unlinked(api, oidc_keys):
    token = oidc_keys.id_token("google", sub="only-way", email="only@example.jo")
    assert provider_sign_in("google", token).status_code == 201
    user = User.objects.get(email="only@example.jo")
    assert not user.has_usable_password() and user.phone_verified_at is None
    client = api(user)
    identity_id = client.get("/api/v1/me/identities").json()[0]["id"]
    problem(client.delete(f"/api/v1/me/identities/{identity_id}"), 409, "last_sign_in_method")
    assert ExternalIdentity.objects.filter(user=user).count() == 1

    # A second identity (or a verified phone) is another way in: then one of them may go.
    apple = oidc_keys.id_token("apple", sub="only-way-apple", email="only@example.jo")
    assert client.post("/api/v1/me/identities", link_body("apple", apple)).status_code == 201
    assert client.delete(f"/api/v1/me/identities/{identity_id}").status_code == 204
    (remaining,) = client.get("/api/v1/me/identities").json()
    assert remaining["provider"] == "apple"
    problem(client.delete(f"/api/v1/me/identities/{remaining['id']}"), 409, "last_sign_in_method")


def test_a_verified_phone_is_another_way_to_sign_in(api, oidc_keys):
    from shifa.core import timezones

    user = UserFactory(password=None, phone="+962791112233", phone_verified_at=timezones.now())
    user.set_unusable_password()
    user.save()
    client = api(user)
    token = oidc_keys.id_token("google", sub="phone-user", email=user.email)
    identity_id = client.post("/api/v1/me/identities", link_body("google", token)).json()["id"]
    assert client.delete(f"/api/v1/me/identities/{identity_id}").status_code == 204


# --- The provider cannot be reached ---------------------------------------------------------------------------


def test_an_unreachable_key_endpoint_answers_503(oidc_keys, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    providers = oidc_keys.providers()
    # A URL never used before: shifa.accounts.oidc keeps one key client (and its cached keys) per URL.
    providers["google"]["jwks_url"] = f"http://127.0.0.1:{closed_port}/keys-{uuid.uuid4().hex}"
    settings.SHIFA_OIDC_PROVIDERS = providers
    token = oidc_keys.id_token("google", email="down@example.jo")
    problem(provider_sign_in("google", token), 503, "provider_unavailable")
    assert not User.objects.filter(email="down@example.jo").exists()
    # Apple's endpoint still answers.
    assert provider_sign_in("apple", oidc_keys.id_token("apple", email="up@icloud.com")).status_code == 201
