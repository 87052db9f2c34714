"""ID-6: failed sign-ins lock out with growing back-off, per account and per client address."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import Client

from shifa.accounts import lockout
from shifa.accounts.models import SignInThrottle
from shifa.core import timezones
from tests.factories import PASSWORD


def sign_in(email, password, address="10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/api/v1/auth/tokens", {"email": email, "password": password}, content_type="application/json"
    )


@pytest.fixture
def clock(monkeypatch):
    """Move time forward without waiting."""
    offset = {"value": dt.timedelta(0)}
    real_now = timezones.now

    def now():
        return real_now() + offset["value"]

    monkeypatch.setattr(timezones, "now", now)
    return offset


def test_policy_doubles_up_to_the_cap():
    assert lockout.ACCOUNT.lock_for(4) is None
    assert [lockout.ACCOUNT.lock_for(n).total_seconds() for n in (5, 6, 7)] == [30, 60, 120]
    assert lockout.ACCOUNT.lock_for(50) == dt.timedelta(hours=1)


def test_account_locks_after_five_failures_and_unlocks_only_after_the_back_off(cast, clock):
    email = cast.staff_a["doctor"].email
    for _ in range(5):
        assert sign_in(email, "wrong").status_code == 401
    locked = sign_in(email, PASSWORD)  # even the right password is refused while locked
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"
    assert 1 <= int(locked["Retry-After"]) <= 31
    clock["value"] = dt.timedelta(seconds=20)
    assert sign_in(email, PASSWORD).status_code == 429
    clock["value"] = dt.timedelta(seconds=31)
    assert sign_in(email, PASSWORD).status_code == 201
    assert not SignInThrottle.objects.filter(key=lockout.account_key(email)).exists()


def test_each_further_failure_doubles_the_lock(cast, clock):
    email = cast.staff_a["nurse"].email
    for _ in range(5):
        sign_in(email, "wrong")
    clock["value"] = dt.timedelta(seconds=31)
    assert sign_in(email, "wrong").status_code == 401  # the sixth failure: 60 seconds
    clock["value"] = dt.timedelta(seconds=31 + 59)
    assert sign_in(email, PASSWORD).status_code == 429
    clock["value"] = dt.timedelta(seconds=31 + 61)
    assert sign_in(email, PASSWORD).status_code == 201


def test_lock_is_per_account_and_reveals_nothing_about_existence(cast):
    for _ in range(5):
        sign_in("nobody@example.jo", "wrong")
    assert sign_in("nobody@example.jo", "wrong").status_code == 429  # unknown emails lock the same way
    assert (
        sign_in(cast.staff_a["doctor"].email, PASSWORD).status_code == 201
    )  # other accounts are not affected


def test_an_address_trying_many_accounts_is_locked(cast):
    for i in range(lockout.ADDRESS.free):
        sign_in(f"guess{i}@example.jo", "wrong", address="203.0.113.9")
    assert sign_in(cast.staff_a["doctor"].email, PASSWORD, address="203.0.113.9").status_code == 429
    assert sign_in(cast.staff_a["doctor"].email, PASSWORD, address="203.0.113.10").status_code == 201


def test_success_resets_the_account_but_not_the_address(cast):
    email = cast.staff_a["secretary"].email
    for _ in range(4):
        sign_in(email, "wrong", address="198.51.100.7")
    assert sign_in(email, PASSWORD, address="198.51.100.7").status_code == 201
    assert not SignInThrottle.objects.filter(key=lockout.account_key(email)).exists()
    assert SignInThrottle.objects.get(key="address:198.51.100.7").failures == 4


def test_the_sign_in_page_is_locked_too(cast):
    email = cast.staff_a["doctor"].email
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(5):
        assert client.post("/accounts/sign-in", {"email": email, "password": "wrong"}).status_code == 400
    locked = client.post("/accounts/sign-in", {"email": email, "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed attempts" in locked.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_all_counted(cast):
    email = cast.staff_a["assistant_doctor"].email

    def attempt():
        try:
            sign_in(email, "wrong")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert SignInThrottle.objects.get(key=lockout.account_key(email)).failures == 4


def test_old_failures_are_forgiven_after_a_quiet_day(cast, clock):
    email = cast.patient_user.email
    for _ in range(4):
        assert sign_in(email, "wrong").status_code == 401
    clock["value"] = dt.timedelta(hours=25)
    # Four old failures plus four new ones would have locked the account; the old ones no longer count.
    for _ in range(4):
        assert sign_in(email, "wrong").status_code == 401
    assert sign_in(email, PASSWORD).status_code == 201
    for _ in range(5):
        assert sign_in(email, "wrong").status_code == 401  # the fifth in a row locks
    assert sign_in(email, PASSWORD).status_code == 429


def test_one_address_cannot_send_texts_without_end(db, clock, settings, tmp_path):
    settings.SMS_OUTBOX_DIR = tmp_path
    answers = []
    for n in range(22):
        phone = f"+96279{2000000 + n}"
        answers.append(
            Client()
            .post(
                "/api/v1/auth/phone/codes",
                {"phone": phone},
                content_type="application/json",
                REMOTE_ADDR="10.9.9.9",
            )
            .status_code
        )
    assert answers[:20] == [202] * 20
    assert answers[20] == 429
    other = Client().post(
        "/api/v1/auth/phone/codes",
        {"phone": "+962792999999"},
        content_type="application/json",
        REMOTE_ADDR="10.9.9.10",
    )
    assert other.status_code == 202


def _in_parallel(fn, count: int) -> list:
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait()
            results[i] = fn()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_parallel_authenticator_guesses_cannot_pass_the_limit(cast):
    from tests.factories import enrol_authenticator

    doctor = cast.staff_a["doctor"]
    enrol_authenticator(doctor)
    first = sign_in(doctor.email, PASSWORD)
    ticket = first.json()["mfa_token"]

    def guess():
        return (
            Client(REMOTE_ADDR="10.0.0.1")
            .post(
                "/api/v1/auth/tokens/mfa",
                {"mfa_token": ticket, "code": "000000"},
                content_type="application/json",
            )
            .status_code
        )

    answers = _in_parallel(guess, 12)
    assert answers.count(422) == lockout.ACCOUNT.free  # checked; every other guess was refused unchecked
    assert answers.count(429) == 12 - lockout.ACCOUNT.free


@pytest.mark.django_db(transaction=True)
def test_parallel_code_requests_send_one_text(db, settings, tmp_path):
    settings.SMS_OUTBOX_DIR = tmp_path

    def ask():
        return (
            Client(REMOTE_ADDR="10.0.0.2")
            .post("/api/v1/auth/phone/codes", {"phone": "+962791234567"}, content_type="application/json")
            .status_code
        )

    answers = _in_parallel(ask, 8)
    assert answers.count(202) == 1 and answers.count(429) == 7
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_ipv6_addresses_count_per_64_network():
    assert lockout.address_key("2001:db8:1:2::5") == lockout.address_key("2001:db8:1:2:ffff::9")
    assert lockout.address_key("2001:db8:1:2::5") != lockout.address_key("2001:db8:1:3::5")
    assert lockout.address_key("::ffff:192.0.2.7") == lockout.address_key("192.0.2.7") == "address:192.0.2.7"
    assert lockout.address_key(None) is None
