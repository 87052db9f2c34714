"""Sign-in and sign-up with a six-digit code texted to the phone: the code, its limits and its lockout."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pyotp
import pytest
from django.test import Client

from shifa.accounts.models import CodePurpose, OneTimeCode, TokenFamily, User
from shifa.audit.models import AuditEvent
from shifa.core import timezones
from shifa.records.models import Patient
from tests.factories import PASSWORD, UserFactory, enrol_authenticator

pytestmark = pytest.mark.django_db

PHONE = "+962791234567"
LOCAL = "0791234567"  # the same number, as people in Jordan write it


@pytest.fixture
def clock(monkeypatch):
    """Move the product's clock forward without waiting."""
    offset = {"value": dt.timedelta(0)}
    real_now = timezones.now
    monkeypatch.setattr(timezones, "now", lambda: real_now() + offset["value"])
    return offset


class Outbox:
    def __init__(self, folder):
        self.folder = folder

    def messages(self, to: str) -> list[dict]:
        found = []
        for path in self.folder.glob("*.json"):
            message = json.loads(path.read_text())
            if message["to"] == to:
                found.append((message["sent_at"], path.stat().st_mtime_ns, message))
        return [message for *_, message in sorted(found, key=lambda item: item[:2])]

    def code(self, to: str = PHONE) -> str:
        """The code in the newest message to ``to``."""
        messages = self.messages(to)
        assert messages, f"no SMS to {to}"
        match = re.search(r"\b([0-9]{6})\b", messages[-1]["body"])
        assert match, messages[-1]["body"]
        return match.group(1)


@pytest.fixture
def outbox(settings, tmp_path) -> Outbox:
    settings.SMS_BACKEND = "outbox"
    settings.SMS_OUTBOX_DIR = tmp_path
    return Outbox(tmp_path)


def post(path: str, body: dict, address: str = "10.1.1.1"):
    return Client(REMOTE_ADDR=address).post(path, body, content_type="application/json")


def send_code(phone: str = PHONE, purpose: str = "sign_in", address: str = "10.1.1.1"):
    return post("/api/v1/auth/phone/codes", {"phone": phone, "purpose": purpose}, address)


def sign_in(code: str, phone: str = PHONE, address: str = "10.1.1.1", **extra):
    return post("/api/v1/auth/phone/tokens", {"phone": phone, "code": code, **extra}, address)


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


def field_codes(body: dict) -> dict[str, str]:
    return {error["field"]: error["code"] for error in body["errors"]}


def wrong(code: str) -> str:
    """A six-digit code that is not ``code``."""
    return f"{(int(code) + 1) % 10**6:06d}"


def phone_user(phone: str = PHONE, **kwargs) -> User:
    return UserFactory(phone=phone, phone_verified_at=timezones.now(), **kwargs)


# --- Sending the code ----------------------------------------------------------------------------------------


def test_a_local_number_gets_a_six_digit_code_at_its_e164_form(outbox):
    response = send_code(LOCAL)
    assert response.status_code == 202, response.content
    assert response.json() == {"expires_in": 300, "resend_after": 60}
    (message,) = outbox.messages(PHONE)
    assert re.fullmatch(r"[0-9]{6}", outbox.code(PHONE))
    assert outbox.code(PHONE) in message["body"]
    record = OneTimeCode.objects.get()
    assert (record.phone, record.purpose, record.attempts, record.consumed_at) == (PHONE, "sign_in", 0, None)
    assert dt.timedelta(minutes=4) < record.expires_at - timezones.now() <= dt.timedelta(minutes=5)


def test_the_database_keeps_only_a_digest_of_the_code(outbox):
    send_code()
    code = outbox.code()
    record = OneTimeCode.objects.get()
    assert record.code_digest != code
    assert re.fullmatch(r"[0-9a-f]{64}", record.code_digest)
    for column, value in OneTimeCode.objects.values().get().items():
        if isinstance(value, str):
            assert code not in value, column
    audit = AuditEvent.objects.filter(table_name=OneTimeCode._meta.db_table)
    assert audit.exists()
    for event in audit:
        assert f'"{code}"' not in json.dumps([event.before, event.after])
        assert (event.after or {}).get("code_digest") in (None, record.code_digest)


def test_the_code_is_not_logged_in_clear(outbox, caplog):
    with caplog.at_level(logging.DEBUG):
        assert send_code(LOCAL).status_code == 202
        code = outbox.code()
        assert sign_in(wrong(code), LOCAL).status_code == 422
        assert sign_in(code, LOCAL, full_name="Huda Nasser").status_code == 201
    assert "written to" in caplog.text  # the outbox did log (with a masked number), so capture works
    assert code not in caplog.text
    assert PHONE not in caplog.text


@pytest.mark.parametrize("raw", ["not a phone", "+96279", "0791", "+1 555 0000 0000 000", "07912345678901"])
def test_an_invalid_number_is_a_phone_field_error(outbox, raw):
    body = problem(send_code(raw), 422, "validation_failed")
    assert "phone" in field_codes(body)
    body = problem(sign_in("123456", raw), 422, "validation_failed")
    assert "phone" in field_codes(body)
    assert not OneTimeCode.objects.exists()
    assert not list(outbox.folder.iterdir())


def test_an_unknown_purpose_is_refused(outbox):
    response = send_code(purpose="verify_everything")
    assert response.status_code == 422
    assert not OneTimeCode.objects.exists()


# --- Signing in and up -----------------------------------------------------------------------------------------


def test_a_new_number_needs_a_name_then_becomes_a_verified_patient(outbox, clock):
    assert send_code(LOCAL).status_code == 202
    nameless = problem(sign_in(outbox.code(), LOCAL), 422, "validation_failed")
    assert field_codes(nameless) == {"full_name": "required"}
    assert not User.objects.filter(phone=PHONE).exists()

    # The code was right, so it stays usable: the person only adds the name.
    response = sign_in(outbox.code(), LOCAL, full_name="  Huda Nasser ", language="en", name="iPhone")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["refresh_token"].startswith("shr_")
    assert body["user"]["phone"] == PHONE and body["user"]["phone_verified"] is True
    assert body["user"]["email"] == "" and body["user"]["language"] == "en"
    user = User.objects.get(phone=PHONE)
    assert body["user"]["id"] == str(user.external_id)
    assert user.full_name == "Huda Nasser" and user.phone_verified
    assert not user.has_usable_password()
    patient = Patient.objects.get(user=user)
    assert (patient.full_name, patient.phone) == ("Huda Nasser", PHONE)
    assert TokenFamily.objects.get(user=user).name == "iPhone"


def test_an_existing_users_number_signs_that_user_in(outbox):
    user = phone_user()
    users = User.objects.count()
    assert send_code(LOCAL).status_code == 202
    response = sign_in(outbox.code(), LOCAL, full_name="Someone Else")
    assert response.status_code == 201, response.content
    assert response.json()["user"]["id"] == str(user.external_id)
    assert User.objects.count() == users
    user.refresh_from_db()
    assert user.full_name != "Someone Else"


def test_a_number_an_account_never_proved_gives_no_access_to_that_account(outbox):
    squatter = UserFactory(phone=PHONE, phone_verified_at=None)
    assert send_code().status_code == 202
    nameless = problem(sign_in(outbox.code()), 422, "validation_failed")
    assert field_codes(nameless) == {"full_name": "required"}
    response = sign_in(outbox.code(), full_name="Real Owner")
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["id"] != str(squatter.external_id)
    assert body["user"]["phone"] == PHONE and body["user"]["phone_verified"] is True
    squatter.refresh_from_db()
    assert squatter.phone == ""


def test_a_disabled_account_cannot_sign_in_by_phone(outbox):
    phone_user(is_active=False)
    assert send_code().status_code == 202
    problem(sign_in(outbox.code()), 403, "account_disabled")
    assert not TokenFamily.objects.exists()


def test_an_authenticator_app_is_still_required(outbox):
    user = phone_user()
    secret = enrol_authenticator(user)
    assert send_code().status_code == 202
    response = sign_in(outbox.code())
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["mfa_required"] is True and body["mfa_token"]
    assert "access_token" not in body and "refresh_token" not in body
    assert not TokenFamily.objects.filter(user=user).exists()
    finished = post(
        "/api/v1/auth/tokens/mfa", {"mfa_token": body["mfa_token"], "code": pyotp.TOTP(secret).now()}
    )
    assert finished.status_code == 201
    assert finished.json()["user"]["id"] == str(user.external_id)


# --- Wrong, spent and expired codes --------------------------------------------------------------------------


def test_a_wrong_code_is_a_code_field_error(outbox):
    phone_user()
    send_code()
    code = outbox.code()
    body = problem(sign_in(wrong(code)), 422, "validation_failed")
    assert field_codes(body) == {"code": "invalid_code"}
    assert OneTimeCode.objects.get().attempts == 1
    assert sign_in(code).status_code == 201  # one mistake does not spend the code


def test_without_any_code_sent_every_guess_is_wrong(outbox):
    phone_user()
    body = problem(sign_in("000000"), 422, "validation_failed")
    assert field_codes(body) == {"code": "invalid_code"}


def test_four_wrong_tries_still_leave_the_right_code_usable(outbox):
    phone_user()
    send_code()
    code = outbox.code()
    for _ in range(4):
        assert sign_in(wrong(code)).status_code == 422
    assert sign_in(code).status_code == 201


def test_after_five_wrong_tries_the_right_code_no_longer_works(outbox, clock):
    phone_user()
    send_code()
    code = outbox.code()
    for _ in range(5):
        problem(sign_in(wrong(code)), 422, "validation_failed")
    record = OneTimeCode.objects.get()
    assert record.attempts == 5 and record.consumed_at is not None
    clock["value"] = dt.timedelta(seconds=31)  # past the number's 30-second lock, well within the code's life
    body = problem(sign_in(code), 422, "validation_failed")
    assert field_codes(body) == {"code": "invalid_code"}
    assert not TokenFamily.objects.exists()
    # That refusal was the number's sixth failure (a 60-second lock); afterwards a new code works.
    clock["value"] = dt.timedelta(seconds=31 + 61)
    assert send_code().status_code == 202
    assert sign_in(outbox.code()).status_code == 201


def test_a_code_expires_after_five_minutes(outbox, clock):
    phone_user()
    send_code()
    code = outbox.code()
    clock["value"] = dt.timedelta(minutes=5, seconds=1)
    body = problem(sign_in(code), 422, "validation_failed")
    assert field_codes(body) == {"code": "invalid_code"}


def test_a_code_still_works_just_before_it_expires(outbox, clock):
    phone_user()
    send_code()
    clock["value"] = dt.timedelta(minutes=4, seconds=50)
    assert sign_in(outbox.code()).status_code == 201


def test_a_code_is_single_use(outbox):
    phone_user()
    send_code()
    code = outbox.code()
    assert sign_in(code).status_code == 201
    body = problem(sign_in(code), 422, "validation_failed")
    assert field_codes(body) == {"code": "invalid_code"}
    assert TokenFamily.objects.count() == 1


def test_a_new_code_replaces_the_previous_one(outbox, clock):
    phone_user()
    send_code()
    first = outbox.code()
    clock["value"] = dt.timedelta(seconds=61)
    send_code()
    second = outbox.code()
    if first != second:
        problem(sign_in(first), 422, "validation_failed")
    assert sign_in(second).status_code == 201


def test_a_code_is_bound_to_its_number(outbox):
    phone_user()
    phone_user("+962781234567")
    send_code()
    code = outbox.code()
    problem(sign_in(code, "+962781234567"), 422, "validation_failed")
    assert sign_in(code).status_code == 201


def test_sign_in_and_password_reset_codes_are_not_interchangeable(outbox, clock):
    user = phone_user()
    new_password = "a-fresh-long-passphrase-42"

    assert send_code(purpose="sign_in").status_code == 202
    sign_in_code = outbox.code()
    refused = post(
        "/api/v1/auth/password-reset/code", {"phone": PHONE, "code": sign_in_code, "password": new_password}
    )
    assert field_codes(problem(refused, 422, "validation_failed")) == {"code": "invalid_code"}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    clock["value"] = dt.timedelta(seconds=61)
    assert send_code(purpose="reset_password").status_code == 202
    reset_code = outbox.code()
    assert OneTimeCode.objects.filter(purpose=CodePurpose.RESET_PASSWORD).count() == 1
    assert field_codes(problem(sign_in(reset_code), 422, "validation_failed")) == {"code": "invalid_code"}
    assert not TokenFamily.objects.filter(user=user).exists()

    done = post(
        "/api/v1/auth/password-reset/code", {"phone": PHONE, "code": reset_code, "password": new_password}
    )
    assert done.status_code == 204, done.content
    user.refresh_from_db()
    assert user.check_password(new_password)
    # Asking for the reset code did not spend the sign-in code.
    assert sign_in(sign_in_code).status_code == 201


def test_a_reset_code_goes_only_to_a_registered_number(outbox):
    response = send_code(purpose="reset_password")
    assert response.status_code == 202  # the same answer whether or not an account uses the number
    assert outbox.messages(PHONE) == []


def test_reset_code_requests_answer_the_same_whether_or_not_the_number_is_registered(outbox):
    """The reset flow must not tell who has an account: a registered and an unknown number get the same
    answers to the same requests (the code is sent only to the registered one)."""
    phone_user()
    registered = [send_code(PHONE, "reset_password").status_code for _ in range(2)]
    unknown = [send_code("+962781234567", "reset_password").status_code for _ in range(2)]
    assert len(outbox.messages(PHONE)) == 1
    assert registered == unknown


def test_the_code_may_be_typed_with_spaces(outbox):
    phone_user()
    send_code()
    code = outbox.code()
    assert sign_in(f"{code[:3]} {code[3:]}").status_code == 201


# --- Throttling ------------------------------------------------------------------------------------------------


def test_a_second_code_within_a_minute_is_refused(outbox, clock):
    assert send_code().status_code == 202
    clock["value"] = dt.timedelta(seconds=20)
    body = problem(send_code(LOCAL), 429, "code_recently_sent")
    assert body["detail"]
    too_soon = send_code()
    assert 1 <= int(too_soon["Retry-After"]) <= 41
    assert len(outbox.messages(PHONE)) == 1
    clock["value"] = dt.timedelta(seconds=61)
    assert send_code().status_code == 202
    assert len(outbox.messages(PHONE)) == 2


def test_more_than_five_codes_an_hour_are_refused(outbox, clock):
    for i in range(5):
        clock["value"] = dt.timedelta(seconds=61 * i)
        assert send_code().status_code == 202, i
    clock["value"] = dt.timedelta(seconds=61 * 5)
    refused = send_code()
    problem(refused, 429, "too_many_codes")
    assert int(refused["Retry-After"]) > 60
    assert len(outbox.messages(PHONE)) == 5
    # Another number is not affected.
    assert send_code("+962781234567").status_code == 202


def test_the_reset_purpose_shares_the_numbers_limits(outbox):
    phone_user()
    assert send_code(purpose="sign_in").status_code == 202
    problem(send_code(purpose="reset_password"), 429, "code_recently_sent")


# --- Lockout ---------------------------------------------------------------------------------------------------


def test_many_wrong_codes_for_a_number_lock_it_out(outbox, clock):
    phone_user()
    send_code()
    code = outbox.code()
    for i in range(5):
        assert sign_in(wrong(code), address=f"10.9.0.{i}").status_code == 422
    locked = sign_in(code, address="10.9.1.1")  # the right code, from a fresh address
    problem(locked, 429, "locked_out")
    assert 1 <= int(locked["Retry-After"]) <= 31
    assert not TokenFamily.objects.exists()
    # While locked, no new code is sent either.
    clock["value"] = dt.timedelta(seconds=10)
    problem(send_code(address="10.9.1.2"), 429, "locked_out")


def test_many_wrong_codes_from_one_address_lock_that_address_out(outbox):
    attacker, neighbour = "203.0.113.50", "203.0.113.51"
    phone_user()
    assert send_code(address=neighbour).status_code == 202
    code = outbox.code()
    answers = [sign_in("000000", f"+9627910000{i:02d}", address=attacker).status_code for i in range(40)]
    assert set(answers[:30]) == {422}
    assert 429 in answers  # eventually the address is locked out
    body = problem(sign_in(code, address=attacker), 429, "locked_out")
    assert body["detail"]
    # The lock is on the address: the same right code from another address still signs in.
    assert sign_in(code, address=neighbour).status_code == 201
