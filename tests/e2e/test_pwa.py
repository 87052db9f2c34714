"""The patient app offline (issue 12): the service worker saves the record pages a patient opened, shows them
without a connection, shows the offline page for the others, and forgets them all when the patient signs out.
Also: the install offer and the size of the tab bar's touch targets."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import wait_until
from tests.e2e.test_journeys import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

SAVED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    if (!name.startsWith("shifa-pages-")) continue;
    for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
  }
  return urls;
}"""

FAKE_INSTALL_PROMPT = """() => {
  const event = new Event("beforeinstallprompt", { cancelable: true });
  event.prompt = () => { window.__installPrompted = true; };
  event.userChoice = Promise.resolve({ outcome: "accepted" });
  window.dispatchEvent(event);
  return event.defaultPrevented;
}"""


def saved_pages(
    page, expect_path: str | None = None, *, gone: bool = False, timeout: float = 10.0
) -> list[str]:
    """The paths in the worker's pages cache, once ``expect_path`` is among them (or, with ``gone``, once empty)."""
    deadline = time.monotonic() + timeout
    while True:
        urls = page.evaluate(SAVED_URLS)
        if (gone and not urls) or (not gone and expect_path in urls) or time.monotonic() > deadline:
            return urls
        page.wait_for_timeout(100)


def test_a_patient_reads_the_saved_record_offline_and_signing_out_forgets_it(cast, page_for):
    page = page_for("en")
    sign_in(page, cast.patient_user.email)
    page.wait_for_url("**/app")
    # pwa.js registers the worker from every patient page; it takes control of the page it was installed from.
    wait_until(page, "() => navigator.serviceWorker.controller !== null", timeout=15000)
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith("/sw.js")

    page.goto("/app/record")
    record_text = page.inner_text("main")
    assert "My record" in record_text
    assert "/app/record" in saved_pages(page, "/app/record")

    page.context.set_offline(True)
    page.reload()
    expect(page.locator("main h1")).to_have_text("My record")
    assert page.inner_text("main") == record_text  # the saved copy, not the offline page
    assert page.locator("[data-offline]").count() == 0

    page.goto("/app/record/visits")  # never opened: nothing saved
    expect(page.locator("[data-offline] h1")).to_have_text("You are offline")
    saved = page.locator("[data-saved-pages] a[href='/app/record']")
    expect(saved).to_have_text("My record")
    expect(page.locator("[data-saved-empty]")).to_be_hidden()
    saved.click()  # the list leads to the saved copy
    expect(page.locator("main h1")).to_have_text("My record")

    page.context.set_offline(False)
    page.goto("/app")
    page.click("form[action='/accounts/sign-out'] button")
    page.wait_for_url("**/welcome")
    assert saved_pages(page, gone=True) == []

    # Offline again on the same device: the record is gone, only the offline page is left.
    page.context.set_offline(True)
    page.goto("/app/record")
    expect(page.locator("[data-offline] h1")).to_have_text("You are offline")
    expect(page.locator("[data-saved-empty]")).to_be_visible()
    assert page.locator("[data-saved-pages] li").count() == 0
    page.context.set_offline(False)


def test_the_install_offer_shows_only_when_the_browser_can_install_and_stays_dismissed(cast, page_for):
    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(language="ar")
    page = page_for("ar")
    page.set_viewport_size({"width": 360, "height": 740})  # a mid-range phone
    sign_in(page, cast.patient_user.email)
    page.wait_for_url("**/app")
    offer = page.locator("[data-install]")
    expect(offer).to_be_hidden()  # headless Chromium never says it can install

    assert page.evaluate(FAKE_INSTALL_PROMPT) is True  # the browser's own banner is held back
    expect(offer).to_be_visible()
    offer.locator("[data-install-accept]").click()
    assert page.evaluate("window.__installPrompted") is True
    expect(offer).to_be_hidden()

    page.evaluate(FAKE_INSTALL_PROMPT)
    offer.locator("[data-install-dismiss]").click()
    expect(offer).to_be_hidden()
    page.reload()
    page.evaluate(FAKE_INSTALL_PROMPT)
    expect(offer).to_be_hidden()  # remembered on this device

    # Touch targets of the tab bar (its "More" menu opened) and the top bar: at least 44 x 44 CSS pixels, in Arabic
    # on a phone.
    assert page.get_attribute("html", "dir") == "rtl"
    page.locator(".tabbar summary").click()
    # (on a phone the account links live in "More", not in the top bar, which then holds no hidden target)
    targets = page.locator(".tabbar a, .tabbar summary, .tabbar button, .topbar a, .topbar button")
    shown = [targets.nth(i) for i in range(targets.count()) if targets.nth(i).is_visible()]
    assert len(shown) >= 8
    assert page.locator(".tabbar").get_by_text("تسجيل الخروج").is_visible()
    for target in shown:
        box = target.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, (target.inner_text(), box)


def test_pages_saved_for_one_person_are_dropped_when_another_is_signed_in(cast, page_for, live_server):
    """Without going through a sign-in form (a session that changed under the browser): the worker compares the
    page's opaque person key with the one the saved pages were kept under."""
    from django.conf import settings
    from django.test import Client

    from tests.conftest import sign_in_page

    page = page_for("en")
    sign_in(page, cast.patient_user.email)
    page.wait_for_url("**/app")
    wait_until(page, "() => navigator.serviceWorker.controller !== null", timeout=15000)
    page.goto("/app/record")
    assert "/app/record" in saved_pages(page, "/app/record")

    other = sign_in_page(Client(), cast.other_patient_user)
    session = other.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    page.goto("/app/appointments")
    assert saved_pages(page, gone=True) in ([], ["/app/appointments"])
    assert "/app/record" not in saved_pages(page)
