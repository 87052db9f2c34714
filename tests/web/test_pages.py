"""The three front ends' base pages: sign-in, language and direction, role homes."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import sign_in_page
from tests.factories import PASSWORD


def html_attrs(response):
    match = re.search(rb"<html lang=\"(\w+)\" dir=\"(\w+)\">", response.content)
    return match.group(1).decode(), match.group(2).decode()


def test_sign_in_page_is_arabic_and_right_to_left_by_default(db):
    response = Client().get("/accounts/sign-in")
    assert response.status_code == 200
    assert html_attrs(response) == ("ar", "rtl")
    assert "تسجيل الدخول إلى شفاء".encode() in response.content


def test_english_is_left_to_right(db):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/accounts/sign-in")
    assert html_attrs(response) == ("en", "ltr")
    assert b"Sign in to Shifa" in response.content


def test_pages_load_only_local_assets(db):
    response = Client().get("/accounts/sign-in")
    for url in re.findall(rb'(?:src|href)="([^"]+)"', response.content):
        assert not url.startswith((b"http://", b"https://", b"//")), url


def test_static_assets_are_served_by_the_product(db):
    client = Client()
    for path in (
        "/static/shifa/css/shifa.css",
        "/static/shifa/vendor/htmx.min.js",
        "/static/shifa/fonts/ibm-plex-sans-arabic-arabic-400-normal.woff2",
    ):
        response = client.get(path)
        assert response.status_code == 200, path


@pytest.mark.parametrize(
    ("who", "home"),
    [
        ("platform_admin", "/platform"),
        ("doctor", "/clinic"),
        ("patient", "/app"),
        ("general_admin", "/clinic"),
    ],
)
def test_sign_in_sends_each_role_home(cast, who, home):
    user = {
        "platform_admin": cast.platform_admin,
        "doctor": cast.staff_a["doctor"],
        "patient": cast.patient_user,
        "general_admin": cast.general_admin,
    }[who]
    client = Client()
    response = client.post("/accounts/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == home
    opened = client.get(home)
    if who == "patient":
        assert opened.status_code == 200
    else:  # staff and platform admins set up their authenticator app before a console opens
        assert opened.status_code == 302
        assert opened["Location"] == f"/accounts/security?next={home}"


def test_wrong_password_shows_the_error_without_revealing_which_part(cast):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/accounts/sign-in", {"email": cast.staff_a["doctor"].email, "password": "wrong"}
    )
    assert response.status_code == 400
    assert b"The email or password is not correct." in response.content


def test_next_is_followed_only_within_the_site(cast):
    client = Client()
    data = {"email": cast.staff_a["doctor"].email, "password": PASSWORD}
    inside = client.post(f"/accounts/sign-in?next=/clinic/{cast.clinic_a.external_id}", data)
    assert inside["Location"] == f"/clinic/{cast.clinic_a.external_id}"
    outside = Client().post("/accounts/sign-in?next=https://evil.example/", data)
    assert outside["Location"] == "/clinic"


def test_clinic_console_shows_the_acting_clinic_and_staff(cast):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_page(client, cast.staff_a["clinic_admin"])
    home = client.get(f"/clinic/{cast.clinic_a.external_id}")
    assert home.status_code == 200
    assert b"Clinic A" in home.content and b"Clinic admin" in home.content
    staff = client.get(f"/clinic/{cast.clinic_a.external_id}/staff")
    assert staff.status_code == 200
    for user in cast.staff_a.values():
        assert user.email.encode() in staff.content
    assert cast.doctor_b.email.encode() not in staff.content
    assert client.get(f"/clinic/{cast.clinic_b.external_id}").status_code == 404


def test_picker_lists_only_the_users_clinics(cast):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_page(client, cast.staff_a["doctor"])
    page = client.get("/clinic")
    assert b"Clinic A" in page.content and b"Clinic B" not in page.content


def test_platform_console_lists_every_clinic(cast):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in_page(client, cast.platform_admin)
    page = client.get("/platform")
    assert b"Clinic A" in page.content and b"Clinic B" in page.content


def test_language_switch_is_remembered_for_the_user(cast):
    user = cast.staff_a["secretary"]
    client = Client()
    sign_in_page(client, user)
    response = client.post("/i18n/language", {"language": "en", "next": "/clinic"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "en"
    fresh = Client()
    sign_in_page(fresh, user)
    assert html_attrs(fresh.get("/clinic")) == ("en", "ltr")


def test_sign_out_needs_post(cast):
    client = Client()
    sign_in_page(client, cast.patient_user)
    assert client.get("/accounts/sign-out").status_code == 403
    assert client.post("/accounts/sign-out").status_code == 302
    assert client.get("/app").status_code == 302


def test_patient_app_shell_is_installable(cast):
    client = Client()
    sign_in_page(client, cast.patient_user)
    page = client.get("/app")
    assert page.status_code == 200
    assert b'rel="manifest"' in page.content
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    assert manifest.json()["dir"] == "ltr"  # the patient's own language is English
    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(language="ar")
    assert client.get("/manifest.webmanifest").json()["dir"] == "rtl"


def test_page_problem_renders_an_error_page(cast):
    client = Client()
    sign_in_page(client, cast.platform_admin)
    response = client.get("/platform?cursor=forged")
    assert response.status_code == 422
    assert b"<html" in response.content


def test_field_errors_are_announced_with_their_input(db):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/accounts/sign-in", {"email": "not-an-email", "password": ""}
    )
    html = response.content.decode()
    described = re.search(r'<input[^>]*name="email"[^>]*aria-describedby="([^"]+)"', html)
    assert described, "the email input names its error"
    assert f'id="{described.group(1)}"' in html
    assert 'aria-invalid="true"' in html


def test_console_navigation_is_a_landmark(cast):
    client = Client()
    sign_in_page(client, cast.staff_a["clinic_admin"])
    page = client.get(f"/clinic/{cast.clinic_a.external_id}").content.decode()
    assert '<nav class="sidebar"' in page
    picker = client.get("/clinic").content.decode()
    assert 'class="sidebar"' not in picker
