"""The first journey of each front end: sign in and land on the right home, in Arabic (right to left) or English."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, enrol_authenticator

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, email: str, totp_secret: str | None = None) -> None:
    page.goto("/accounts/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if totp_secret is not None:
        import pyotp

        page.wait_for_url("**/accounts/two-factor**")
        page.fill("input[name=code]", pyotp.TOTP(totp_secret).now())
        page.click("button[type=submit]")


def test_clinic_staff_sign_in_pick_the_clinic_and_see_the_staff(cast, page_for, tmp_path):
    from django.contrib.auth import get_user_model

    admin = cast.staff_a["clinic_admin"]
    get_user_model().objects.filter(pk=admin.pk).update(language="ar")
    page = page_for("ar")
    sign_in(page, admin.email, enrol_authenticator(admin))
    page.wait_for_url("**/clinic")
    assert page.get_attribute("html", "dir") == "rtl"
    page.click("text=عيادة أ")
    page.wait_for_url(f"**/clinic/{cast.clinic_a.external_id}")
    page.click("text=الطاقم")
    page.wait_for_url(f"**/clinic/{cast.clinic_a.external_id}/staff")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(len(cast.staff_a))
    assert page.locator(f"text={cast.doctor_b.email}").count() == 0
    # In right-to-left the sidebar sits on the right of the main area.
    sidebar = page.locator("nav.sidebar").bounding_box()
    main = page.locator("main").bounding_box()
    assert sidebar["x"] > main["x"]
    page.screenshot(path=str(tmp_path / "clinic-staff-ar.png"), full_page=True)


def test_patient_signs_in_to_the_app(cast, page_for):
    page = page_for("en")
    sign_in(page, cast.patient_user.email)
    page.wait_for_url("**/app")
    assert page.get_attribute("html", "dir") == "ltr"
    assert page.locator("h1").inner_text() == f"Hello, {cast.patient.full_name}"


def test_platform_admin_sees_every_clinic_and_switches_language(cast, page_for):
    page = page_for("en")
    sign_in(page, cast.platform_admin.email, enrol_authenticator(cast.platform_admin))
    page.wait_for_url("**/platform")
    text = page.locator("main").inner_text()
    assert "Clinic A" in text and "Clinic B" in text
    page.click("button[name=language][value=ar]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "ar"
    assert "عيادة أ" in page.locator("main").inner_text()


def test_wrong_password_keeps_the_user_on_the_form(cast, page_for):
    page = page_for("en")
    page.goto("/accounts/sign-in")
    page.fill("input[name=email]", cast.staff_a["doctor"].email)
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "The email or password is not correct."
