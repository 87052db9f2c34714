"""Browser journeys of identity: a patient signs up and in with a texted code; a clinic admin invites a nurse,
who accepts, sets up an authenticator app and then reaches the clinic console (ID-1, ID-2, ID-6)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pyotp
import pytest
from django.core import mail

from shifa.accounts.models import User
from shifa.core import timezones
from shifa.records.models import Patient
from shifa.tenancy.models import Membership
from tests.conftest import time_machine
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator

pytestmark = pytest.mark.django_db(transaction=True)


def last_code(folder, phone: str) -> str:
    messages = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    body = [m for m in messages if m["to"] == phone][-1]["body"]
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_patient_signs_up_and_in_with_a_texted_code(cast, page_for, settings, tmp_path):
    settings.SMS_OUTBOX_DIR = tmp_path
    page = page_for("ar")
    page.goto("/accounts/sign-in")
    page.click("a[href='/accounts/phone']")
    assert page.get_attribute("html", "dir") == "rtl"
    page.fill("input[name=phone]", "079 555 1234")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/phone/code")
    assert "+962795551234" in page.locator("main").inner_text()

    # A wrong code keeps the person on the form with the reason.
    page.fill("input[name=code]", "000000" if last_code(tmp_path, "+962795551234") != "000000" else "111111")
    page.fill("input[name=full_name]", "سلمى الحسن")
    page.click("button[type=submit]")
    assert page.locator("#id_code_error").inner_text() == "هذا الرمز غير صحيح أو انتهت صلاحيته."

    page.fill("input[name=code]", last_code(tmp_path, "+962795551234"))
    page.fill("input[name=full_name]", "سلمى الحسن")
    page.click("button[type=submit]")
    page.wait_for_url("**/app")
    assert "سلمى الحسن" in page.locator("h1").inner_text()
    user = User.objects.get(phone="+962795551234")
    assert user.phone_verified_at is not None and Patient.objects.filter(user=user).exists()

    # Later, on another device: the same number signs the same patient in, with no name asked.
    other = page_for("en")
    other.goto("/accounts/phone")
    other.fill("input[name=phone]", "+962795551234")
    with time_machine(timezones.now() + dt.timedelta(seconds=61)):  # past the resend wait
        other.click("button[type=submit]")
        other.wait_for_url("**/accounts/phone/code")
        other.fill("input[name=code]", last_code(tmp_path, "+962795551234"))
        other.click("button[type=submit]")
        other.wait_for_url("**/app")
    assert User.objects.filter(phone="+962795551234").count() == 1


def test_invited_nurse_accepts_sets_up_totp_and_opens_the_console(cast, page_for):
    admin = cast.staff_a["clinic_admin"]
    page = page_for("en")
    sign_in(page, admin.email, enrol_authenticator(admin))
    page.wait_for_url("**/clinic")
    page.goto(f"/clinic/{cast.clinic_a.external_id}/invitations")
    page.fill("input[name=email]", "new.nurse@example.jo")
    page.select_option("select[name=role]", "nurse")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/clinic/{cast.clinic_a.external_id}/invitations")
    assert "new.nurse@example.jo" in page.locator("tbody").inner_text()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.nurse@example.jo"]
    link = re.search(r"http://\S+/accounts/invitations/\S+", mail.outbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]

    nurse = page_for("en")
    nurse.goto("/" + path)
    assert "Clinic A" in nurse.locator("h1").inner_text()
    nurse.fill("input[name=full_name]", "Noor Haddad")
    nurse.fill("input[name=password]", "a-long-and-unusual-passphrase")
    nurse.click("main button[type=submit]")
    nurse.wait_for_url("**/accounts/security")

    # The console stays shut until the authenticator app is set up.
    nurse.goto(f"/clinic/{cast.clinic_a.external_id}")
    nurse.wait_for_url("**/accounts/security?next=**")
    nurse.click("text=Set up an authenticator app")
    secret = nurse.locator("[data-testid=totp-secret]").inner_text().strip()
    assert nurse.locator(".qr svg").count() == 1
    nurse.fill("input[name=code]", pyotp.TOTP(secret).now())
    nurse.click("main button[type=submit]")
    codes = nurse.locator("[data-testid=recovery-codes] li")
    assert codes.count() == 10
    nurse.click("text=Continue")
    nurse.wait_for_url(f"**/clinic/{cast.clinic_a.external_id}")
    assert nurse.locator("nav.sidebar").count() == 1

    user = User.objects.get(email="new.nurse@example.jo")
    assert Membership.unscoped.filter(user=user, clinic=cast.clinic_a, role__code="nurse").exists()
    # The link worked once.
    again = page_for("en")
    again.goto("/" + path)
    assert "already used" in again.locator("main").inner_text()
