from __future__ import annotations

import pytest

from shifa.accounts.actions import normalize_phone, user_create, user_set_language
from shifa.core.errors import Conflict, ValidationFailed


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0791234567", "+962791234567"),
        ("+962 79 123 4567", "+962791234567"),
        ("00966501234567", "+966501234567"),
    ],
)
def test_phone_numbers_are_stored_in_e164(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["12", "not a phone", "+96279"])
def test_invalid_phone_numbers_are_a_field_error(raw):
    with pytest.raises(ValidationFailed) as info:
        normalize_phone(raw)
    assert info.value.errors[0].field == "phone"


def test_user_email_is_unique_whatever_its_case(db):
    user = user_create(email="Rana@Example.jo", full_name="Rana", password="a-long-password-1")
    assert user.email == "rana@example.jo"
    assert user.check_password("a-long-password-1")
    with pytest.raises(Conflict):
        user_create(email="RANA@example.jo", full_name="Other", password="a-long-password-2")


def test_argon2_is_the_production_hasher(settings):
    """Tests use a fast hasher; every real environment hashes with argon2."""
    from django.contrib.auth.hashers import check_password, make_password

    from shifa.settings import base

    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS
    hashed = make_password("a-long-password-1")
    assert hashed.startswith("argon2$argon2id$")
    assert check_password("a-long-password-1", hashed)


def test_language_choice_is_validated(db):
    user = user_create(email="a@example.jo", full_name="A")
    user_set_language(user=user, language="en")
    user.refresh_from_db()
    assert user.language == "en"
    with pytest.raises(ValidationFailed):
        user_set_language(user=user, language="fr")


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short1", "password_too_short"),
        ("password123", "password_too_common"),
        ("1234567890123", "password_entirely_numeric"),
    ],
)
def test_weak_passwords_are_refused_per_rule(db, password, code):
    with pytest.raises(ValidationFailed) as info:
        user_create(email="weak@example.jo", full_name="Weak", password=password)
    assert code in {e.code for e in info.value.errors}
    assert {e.field for e in info.value.errors} == {"password"}


def test_email_addresses_have_one_form_and_unicode_lookalikes_are_refused(cast):
    from django.test import Client

    from shifa.accounts.actions import user_create
    from shifa.core.errors import ValidationFailed

    user = user_create(
        email="  Rami.Saad@Example.JO ", full_name="Rami", password="a-long-unusual-passphrase"
    )
    assert user.email == "rami.saad@example.jo"
    lookalike = "rami.saad@example.jo".replace("i", "\u0131")  # dotless i: PostgreSQL's UPPER() equates them
    with pytest.raises(ValidationFailed) as refused:
        user_create(email=lookalike, full_name="x", password="a-long-unusual-passphrase")
    assert refused.value.errors[0].field == "email"
    sign_in = Client().post(
        "/api/v1/auth/tokens",
        {"email": lookalike, "password": "a-long-unusual-passphrase"},
        content_type="application/json",
    )
    assert sign_in.status_code == 401
    ok = Client().post(
        "/api/v1/auth/tokens",
        {"email": "RAMI.SAAD@example.jo", "password": "a-long-unusual-passphrase"},
        content_type="application/json",
    )
    assert ok.status_code == 403 and ok.json()["code"] == "email_unverified"  # found, not yet confirmed
