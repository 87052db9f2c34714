"""The patient app as an installable web app (issue 12): manifest and icons, the service worker's rules, the
offline page, and the sign-out that forgets what the browser kept."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import Resolver404, resolve
from PIL import Image

from shifa.core import timezones
from shifa.directory.actions import listings_refresh
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking

#: A fixed id: parametrized paths must be the same on every xdist worker.
ID = "5ba6b4b1-a243-449a-b324-a2f5dad7dab6"


def static_file(url: str) -> Path:
    assert url.startswith("/static/"), url
    found = finders.find(url.removeprefix("/static/"))
    assert found, f"{url} is not a static file"
    return Path(found)


def manifest(language: str = "en") -> dict:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    return json.loads(response.content)


def sw_source() -> str:
    response = Client().get("/sw.js")
    assert response.status_code == 200
    return response.content.decode()


def sw_list(source: str, name: str) -> str:
    return re.search(rf"const {name} = \[(.*?)\n\];", source, re.S).group(1)


# Manifest and icons --------------------------------------------------------------------------------------------


def test_manifest_has_everything_a_browser_needs_to_install_the_app(db):
    data = manifest()
    assert data["id"] == "/app" and data["scope"] == "/app"
    assert data["start_url"].startswith(data["scope"]) and "source=pwa" in data["start_url"]
    assert resolve(data["start_url"].split("?")[0]).url_name == "patient_home"
    assert data["display"] == "standalone"
    assert data["name"] == "Shifa" and data["short_name"] == "Shifa" and data["description"]
    assert data["theme_color"] == "#0b7a75" and re.fullmatch(r"#[0-9a-f]{6}", data["background_color"])
    assert (data["lang"], data["dir"]) == ("en", "ltr")
    assert data["categories"] == ["medical", "health"]
    purposes = {(icon["sizes"], icon["purpose"]) for icon in data["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes
    names = [s["name"] for s in data["shortcuts"]]
    assert names == ["Find a doctor", "My appointments", "My record"]
    for shortcut in data["shortcuts"]:
        assert resolve(shortcut["url"]) and shortcut["url"].startswith(data["scope"])
        assert shortcut["icons"]


def test_manifest_speaks_arabic_right_to_left(db):
    data = manifest("ar")
    assert (data["lang"], data["dir"]) == ("ar", "rtl")


def test_every_icon_is_a_png_of_the_size_it_claims(db):
    data = manifest()
    icons = data["icons"] + [icon for s in data["shortcuts"] for icon in s["icons"]]
    for icon in icons:
        assert icon["type"] == "image/png"
        with Image.open(static_file(icon["src"])) as image:
            assert image.format == "PNG"
            assert f"{image.width}x{image.height}" == icon["sizes"], icon["src"]


def test_the_maskable_icon_keeps_the_cross_inside_the_safe_zone(db):
    """Android may cut the icon to a circle of 80 % of its side: no white outside it, and no transparent corner."""
    (maskable,) = [i for i in manifest()["icons"] if i["purpose"] == "maskable"]
    with Image.open(static_file(maskable["src"])) as image:
        pixels = image.convert("RGBA")
        side = pixels.width
        centre, safe = (side - 1) / 2, side * 0.4
        white_inside = 0
        for y in range(0, side, 4):
            for x in range(0, side, 4):
                r, g, b, a = pixels.getpixel((x, y))
                assert a == 255, (x, y)
                if r > 200 and g > 200 and b > 200:
                    assert (x - centre) ** 2 + (y - centre) ** 2 < safe**2, (x, y)
                    white_inside += 1
        assert white_inside > 0
        assert pixels.getpixel((0, 0))[:3] == (11, 122, 117)  # full bleed teal


def test_apple_touch_icon_is_opaque_and_the_favicon_is_svg():
    with Image.open(static_file("/static/shifa/icons/apple-touch-icon.png")) as image:
        assert image.size == (180, 180) and image.mode == "RGB"
    with Image.open(static_file("/static/shifa/icons/icon-192.png")) as image:
        assert image.convert("RGBA").getpixel((0, 0))[3] == 0  # the rounded square's corner
    svg = static_file("/static/shifa/icons/favicon.svg").read_text()
    assert svg.startswith("<svg") and "#0b7a75" in svg


def test_every_front_end_has_the_favicon_and_the_patient_app_its_install_links(cast):
    landing = Client().get("/welcome").content.decode()
    assert 'rel="icon" href="/static/shifa/icons/favicon.svg"' in landing
    assert "pwa.js" not in landing
    patient = sign_in_page(Client(), cast.patient_user)
    page = patient.get("/app").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest" crossorigin="use-credentials">' in page
    assert 'rel="apple-touch-icon" href="/static/shifa/icons/apple-touch-icon.png"' in page
    assert '<meta name="theme-color" content="#0b7a75">' in page
    assert '<script src="/static/shifa/js/pwa.js" defer></script>' in page
    assert 'rel="icon" href="/static/shifa/icons/favicon.svg"' in page
    # The install offer waits, hidden, for the browser to say it can install.
    assert re.search(r'<div class="install-offer" data-install hidden>', page)


def test_the_worker_key_names_nobody_and_changes_with_the_person(cast):
    def key(user) -> str:
        page = sign_in_page(Client(), user).get("/app").content.decode()
        return re.search(r'<meta name="shifa-user" content="([0-9a-f]*)">', page).group(1)

    mine, theirs = key(cast.patient_user), key(cast.other_patient_user)
    assert len(mine) == 24 and mine != theirs
    assert mine == key(cast.patient_user)
    user = cast.patient_user
    # an opaque key (a keyed hash), not an id, an e-mail or anything the page could be traced back by
    assert mine.lstrip("0") not in (str(user.pk), format(user.pk, "x"))
    assert mine not in str(user.external_id).replace("-", "") and user.email not in mine
    anonymous = Client().get("/app/search").content.decode()
    assert '<meta name="shifa-user" content="">' in anonymous


# Service worker ------------------------------------------------------------------------------------------------


def test_the_service_worker_is_served_for_the_whole_site_and_always_revalidated(db):
    response = Client().get("/sw.js")
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"


def test_the_service_worker_keeps_an_offline_shell_and_still_shows_push(db):
    source = sw_source()
    assert 'const OFFLINE_URL = "/app/offline";' in source
    assert "shell.add(new Request(OFFLINE_URL" in source
    assert "NETWORK_TIMEOUT_MS = 4000" in source and "MAX_PAGES = 40" in source
    assert "/no-store/i.test" in source
    assert "caches.delete" in source and "self.clients.claim()" in source
    assert "showNotification" in source and "notificationclick" in source
    assets = re.findall(r'"([^"]+)"', sw_list(source, "SHELL_ASSETS"))
    assert "/static/shifa/css/shifa.css" in assets and "/static/shifa/js/offline.js" in assets
    for url in assets:
        static_file(url)  # a missing file would make the worker's installation fail
    fonts = {
        Path(f).name
        for f in Path(static_file("/static/shifa/css/shifa.css")).parent.parent.glob("fonts/*.woff2")
    }
    assert fonts == {Path(url).name for url in assets if url.endswith(".woff2")}


SAVED = [
    "/app",
    "/app/record",
    "/app/record/visits",
    f"/app/record/visits/{ID}",
    f"/app/record/results/{ID}",
    "/app/appointments",
    f"/app/appointments/{ID}",
    "/app/plans",
    f"/app/plans/{ID}",
    f"/app/plans/{ID}/steps/{ID}",
    "/app/medicines",
    f"/app/medicines/{ID}/times",
    "/app/readings",
]
NOT_SAVED = [
    "/app/offline",
    "/app/search",
    "/app/book",
    f"/app/appointments/{ID}/pay",
    f"/app/appointments/{ID}/call",
    f"/app/appointments/{ID}/step",
    "/app/record/sharing",
    "/app/record/sharing/grant",
    "/app/record/family/add",
    "/app/invoices",
    "/app/messages",
    "/app/subscription",
    "/accounts/sign-in",
    "/accounts/notifications",
    "/api/v1/me",
    "/clinic",
    "/application",
]


def _saved_patterns() -> list[re.Pattern]:
    # The worker's patterns are JavaScript regular expression literals of the subset Python reads the same way.
    literals = re.findall(r"^\s*/(\^.*\$)/,$", sw_list(sw_source(), "SAVED_PAGES"), re.M)
    assert len(literals) == 6
    return [re.compile(literal) for literal in literals]


@pytest.mark.parametrize("path", SAVED)
def test_record_reading_pages_are_saved_for_offline(path, db):
    assert any(p.match(path) for p in _saved_patterns()), path
    assert resolve(path)  # a real page


@pytest.mark.parametrize("path", NOT_SAVED)
def test_forms_payments_calls_and_other_front_ends_are_never_saved(path, db):
    assert not any(p.match(path) for p in _saved_patterns()), path


def test_only_pages_of_the_patient_app_are_handled_and_identity_forms_forget(db):
    source = sw_source()
    assert 'const inApp = (pathname) => pathname === "/app" || pathname.startsWith("/app/");' in source
    identity = re.compile(re.search(r"const IDENTITY_CHANGES =\s*/(.*?)/;", source, re.S).group(1))
    for path in ["/accounts/sign-in", "/accounts/sign-out", "/accounts/two-factor", "/accounts/phone/code"]:
        assert identity.match(path), path
        resolve(path)
    for path in ["/accounts/notifications", "/accounts/security", "/accounts/password-reset"]:
        assert not identity.match(path), path
    with pytest.raises(Resolver404):
        resolve("/app/")  # the app's root has no trailing slash: the scope is /app


# Offline page --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "direction"), [("en", "ltr"), ("ar", "rtl")])
def test_the_offline_page_is_public_and_renders_in_both_languages(language, direction, db):
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get("/app/offline")
    assert response.status_code == 200
    assert response["Content-Language"] == language  # the worker refreshes its copy when the language changes
    body = response.content.decode()
    assert f'<html lang="{language}" dir="{direction}">' in body
    assert "data-saved-pages" in body and "data-saved-empty" in body and "data-retry" in body
    assert '<script src="/static/shifa/js/offline.js" defer></script>' in body
    if language == "en":
        assert "You are offline" in body


def test_the_offline_page_holds_nothing_personal(cast):
    """The worker keeps it after sign-out: no name, no sign-out form, no link to a person's page."""
    body = sign_in_page(Client(), cast.patient_user).get("/app/offline").content.decode()
    assert cast.patient_user.full_name not in body and cast.patient_user.email not in body
    assert "/accounts/sign-out" not in body and "shifa-user" not in body


# Sign-out ------------------------------------------------------------------------------------------------------


def test_sign_out_tells_the_browser_to_drop_its_cache(cast):
    patient = sign_in_page(Client(), cast.patient_user)
    response = patient.post("/accounts/sign-out")
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"cache"'
    assert patient.get("/app").status_code == 302


# Push at a sensible moment -------------------------------------------------------------------------------------


def test_reminders_are_offered_on_the_booked_appointment_not_before(cast):
    clinic = open_for_booking(cast)
    listings_refresh(clinic_pk=clinic.pk)
    zone = "Asia/Amman"
    day = timezones.to_local(timezones.now(), zone).date() + dt.timedelta(days=2)
    when = timezones.local_datetime(day, dt.time(10, 0), zone)
    patient = sign_in_page(Client(), cast.patient_user)
    held = patient.post(
        "/app/book",
        {
            "clinic": str(clinic.external_id),
            "doctor": str(clinic.doctor.external_id),
            "visit_type": "office",
            "starts_at": timezones.isoformat_z(when),
        },
    )
    assert held.status_code == 302
    assert "data-push-offer" not in patient.get(held["Location"]).content.decode()  # still only a hold
    assert patient.post(held["Location"] + "/step", {"step": "confirm"}).status_code == 302
    booked = patient.get(held["Location"]).content.decode()
    assert "Your appointment is booked." in booked
    offer = re.search(r"<section [^>]*data-push-offer hidden[^>]*>(.*?)</section>", booked, re.S)
    assert offer and "Get reminders on this phone" in offer.group(1)
    assert '<script src="/static/shifa/js/push.js" defer></script>' in booked


def test_the_notifications_page_still_offers_push_through_the_shared_script(cast):
    page = sign_in_page(Client(), cast.patient_user).get("/accounts/notifications").content.decode()
    push, notifications = (
        page.index("/static/shifa/js/push.js"),
        page.index("/static/shifa/js/notifications.js"),
    )
    assert push < notifications  # notifications.js uses window.shifaPush
    assert "data-push-enable" in page
