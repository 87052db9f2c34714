"""Browser tests: Playwright driving Debian's Chromium (installed by .ci/run) against the live server."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("SHIFA_CHROMIUM", "/usr/bin/chromium")

# Playwright's sync API runs an event loop in the test thread; the test itself only reads the database.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


#: How every browser test starts Chromium (headless on a server, nothing fetched in the background).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """Per module: Playwright's event loop must stop before other tests run their own (asyncio.run)."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "install Debian's chromium (see .ci/run)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


@pytest.fixture
def page_for(browser, live_server):
    contexts = []

    def make(locale: str = "ar"):
        context = browser.new_context(locale=locale, base_url=live_server.url)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def wait_until(page, predicate: str, timeout: float = 10000) -> None:
    """Wait until the JavaScript function ``predicate`` (``"() => …"``) is true in ``page``. Playwright's own
    ``wait_for_function`` evaluates its argument with ``eval``, which the pages' Content-Security-Policy refuses."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} ms: {predicate}")
        page.wait_for_timeout(100)
