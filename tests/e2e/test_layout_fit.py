"""The pages fit the screen: on a phone (412 by 915) and on a desktop (1280 by 800), in Arabic and in English, with long
data (a long message, the audit log's long values), no page is wider than the window: a long message preview is cut
after two lines and keeps its first words, a wide table scrolls inside its own frame (``.table-wrap``, which the keyboard can reach), never the
page. The patient app's tab bar shows every entry whole and big enough to tap, the clinic picker shows no list
bullets, and the dashboards' chart labels stay inside their charts.

The world is the user guides' (tests/e2e/test_guides.py): the demo and a working day around it. Screenshots of every
page go to the folder named by SHIFA_LAYOUT_SCREENSHOTS, when it is set, to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from shifa.accounts.models import User
from tests.conftest import sign_in_page
from tests.e2e.test_guides import DESKTOP, LANGUAGES, PHONE, SHOTS, USERS, build_world

pytestmark = pytest.mark.heavy(140)

#: A message no preview can show whole: words, and a link with no place to break.
LONG_MESSAGE = (
    "Good morning doctor, since the new dose my blood pressure readings are higher in the evening than in the "
    "morning and I feel dizzy after lunch, the readings are here: "
    "https://example.jo/readings/ahmad-ali/2026-11/evening-and-morning-blood-pressure-readings-export.pdf "
    "and the ones from last month, taken at the pharmacy near my work, are in the same folder under October, "
    "with a note from the pharmacist about the cuff size she used on my arm"
)

#: Whether a preview is cut (two lines at most) and still shows the message's first words, in either direction.
PREVIEW_SHOWN = """el => {
    const box = el.getBoundingClientRect();
    const text = [...el.querySelector('bdi').childNodes].find((n) => n.nodeType === Node.TEXT_NODE);
    const range = document.createRange();
    range.setStart(text, 0);
    range.setEnd(text, 12);
    const start = range.getBoundingClientRect();
    return {
        fits: el.scrollWidth <= el.clientWidth + 1,
        clamped: el.scrollHeight > el.clientHeight + 1,
        start_visible: start.left >= box.left - 1 && start.right <= box.right + 1 && start.bottom <= box.bottom + 1,
    };
}"""

#: Pages beyond the guides' (whose every page is checked): the clinic picker, the lists the guides open scrolled.
MORE_PAGES = [
    ("general_admin", "/clinic", False),
    ("secretary", "/clinic/{amman}/messages", False),
    ("patient", "/app/messages", True),
    ("patient", "/app/plans", True),
    ("patient", "/app/record/visits", True),
]

#: How wide the page is against its window; the elements that stick out past the window's edges.
OVERFLOW = """() => {
  const root = document.documentElement, width = root.clientWidth;
  const out = [...document.querySelectorAll('body *')].filter(el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && (box.right > width + 1 || box.left < -1) && !el.closest('.table-wrap, .skip-link');
  }).slice(0, 5).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : ''));
  return {scroll: root.scrollWidth, client: width, out};
}"""

#: The tab bar's entries (the "More" menu opened first): their text must not be cut, and each must be 44 px or more
#: both ways.
TABS = """() => {
  const more = document.querySelector('.tabbar details');
  if (more) more.open = true;
  // Those not shown at this width (the account links, in "More" on a phone only) are not entries.
  const entries = [...document.querySelectorAll('.tabbar a, .tabbar summary, .tabbar button')]
    .filter(el => el.getClientRects().length);
  const problems = entries.flatMap(el => {
    const label = el.querySelector('.tabbar__label') || el;
    const box = el.getBoundingClientRect(), found = [];
    if (label.scrollWidth > label.clientWidth) found.push('cut');
    if (box.width < 44 || box.height < 44) found.push(`${Math.round(box.width)}x${Math.round(box.height)}`);
    if (box.right > document.documentElement.clientWidth + 1 || box.left < -1) found.push('off screen');
    return found.length ? [`${el.textContent.trim()}: ${found.join(', ')}`] : [];
  });
  if (more) more.open = false;
  return {count: entries.length, problems};
}"""

#: The top bar on one row: the logo tile square and whole, and every entry of the bar beside it (none below the logo);
#: and where the account links are (in the bar, or in the tab bar's "More").
TOPBAR = """() => {
  const mark = document.querySelector('.topbar .brand-mark').getBoundingClientRect();
  const brand = document.querySelector('.topbar .brand').getBoundingClientRect();
  const shown = [...document.querySelectorAll('.topbar nav li')].filter(li => li.getClientRects().length);
  const below = shown.filter(li => li.getBoundingClientRect().top >= brand.bottom - 1).map(li => li.textContent.trim());
  const signOut = [...document.querySelectorAll('form[action$="/sign-out"] button')]
    .filter(b => b.getClientRects().length).map(b => b.closest('.tabbar') ? 'tabbar' : 'topbar');
  return {mark: [Math.round(mark.width), Math.round(mark.height)], below, signOut};
}"""

#: The chart labels and ticks that reach past their chart's own box (the SVG's view box).
CHART_TEXT = """() => [...document.querySelectorAll('svg.chart')].flatMap(svg => {
  const view = svg.viewBox.baseVal;
  return [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBBox();
    return b.x < view.x - 0.5 || b.x + b.width > view.x + view.width + 0.5;
  }).map(t => `${svg.dataset.chart}: ${t.textContent}`);
})"""

#: The scrolling frames of tables: each must be reachable with the keyboard and named (axe's scrollable-region-focusable).
TABLE_FRAMES = """() => [...document.querySelectorAll('table')].filter(table => {
  const frame = table.closest('.table-wrap');
  return !frame || frame.tabIndex !== 0 || frame.getAttribute('role') !== 'region' || !frame.getAttribute('aria-label');
}).map(table => table.closest('[data-chart-table], [id]')?.id || table.className || 'table')"""


def _world() -> dict[str, str]:
    from shifa.access.policies import Actor
    from shifa.telehealth.actions import message_send
    from shifa.telehealth.models import Conversation

    ids = build_world()
    conversation = Conversation.unscoped.get(external_id=ids["conversation"])
    patient = conversation.patient.user
    # Newest first on the clinic's list and in the audit log (its body, encrypted, is one long unbroken value).
    message_send(
        actor=Actor(user=patient, roles=frozenset({"patient"})),
        conversation=conversation,
        side="patient",
        body=LONG_MESSAGE,
    )
    return ids


def _more_menu_by_keyboard(page) -> list[str]:
    """Open the tab bar's "More" with the keyboard: its entries show, whole on the screen and 44 px high, and Tab
    goes from "More" to the first of them. Returns what is wrong."""
    found = []
    summary = page.locator(".tabbar summary")
    summary.focus()
    page.keyboard.press("Enter")
    if page.locator(".tabbar details[open]").count() != 1:
        return ["Enter does not open it"]
    links = page.locator(".tabbar__menu a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    if hrefs[:2] != ["/app/search", "/app/record"]:
        found.append(f"holds {hrefs}")
    window = page.viewport_size
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        if box is None or box["height"] < 44 or box["x"] < 0 or box["x"] + box["width"] > window["width"]:
            found.append(f"{hrefs[i]} at {box}")
    page.keyboard.press("Tab")
    if page.evaluate("document.activeElement.getAttribute('href')") != "/app/search":
        found.append("Tab does not reach its first entry")
    page.keyboard.press("Escape")  # shifa.js: closes it, the focus back on "More"
    if page.locator(".tabbar details[open]").count() or not page.evaluate(
        "document.activeElement.matches('.tabbar summary')"
    ):
        found.append("Escape does not close it back to More")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    if page.locator(".tabbar details[open]").count():
        found.append("Enter on More does not close it")
    page.keyboard.press("Enter")  # open again, for the screenshot
    return found


def _pages() -> list[tuple[str, str, bool]]:
    pages = [(shot.who, shot.path, shot.phone) for shot in SHOTS]
    return list(dict.fromkeys([*pages, *MORE_PAGES]))


@pytest.mark.django_db(transaction=True)
def test_every_page_fits_a_phone_and_a_desktop_in_both_languages(request, live_server):
    ids = _world()
    browser = request.getfixturevalue("browser")  # after the world: see test_guides
    folder = os.environ.get("SHIFA_LAYOUT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    cookie = settings.SESSION_COOKIE_NAME
    sessions = {
        who: sign_in_page(Client(), User.objects.get(email=email)).cookies[cookie].value
        for who, email in USERS.items()
    }
    problems: dict[str, object] = {}
    checked = {"tabs": 0, "topbar": 0, "charts": 0, "picker": 0, "messages": 0, "audit": 0, "more": 0}
    contexts = []
    try:
        for language in LANGUAGES:
            for viewport_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                phone = viewport_name == "phone"
                pages = {}
                for who, path, _phone in _pages():
                    if who not in pages:
                        context = browser.new_context(
                            locale=language,
                            base_url=live_server.url,
                            viewport=viewport,
                            is_mobile=phone,
                            has_touch=phone,
                        )
                        contexts.append(context)
                        context.add_cookies(
                            [
                                {"name": cookie, "value": sessions[who], "url": live_server.url},
                                {
                                    "name": settings.LANGUAGE_COOKIE_NAME,
                                    "value": language,
                                    "url": live_server.url,
                                },
                            ]
                        )
                        pages[who] = context.new_page()
                    page = pages[who]
                    url = path.format(**ids)
                    where = f"{language} {viewport_name} {url}"
                    response = page.goto(url)
                    assert response is not None and response.status == 200, (
                        where,
                        response and response.status,
                    )
                    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr"), where
                    page.evaluate("document.fonts.ready.then(() => true)")
                    if folder:
                        name = (
                            f"{language}-{viewport_name}-{who}-{path.strip('/').replace('/', '_') or 'home'}"
                        )
                        page.screenshot(
                            path=str(Path(folder) / f"{name.replace('{', '').replace('}', '')}.png")
                        )
                    width = page.evaluate(OVERFLOW)
                    if width["scroll"] > width["client"]:
                        problems[f"{where} wider than the window"] = width
                    frames = page.evaluate(TABLE_FRAMES)
                    if frames:
                        problems[f"{where} tables without a scrolling frame"] = frames
                    if path.startswith("/app"):
                        bar = page.evaluate(TOPBAR)
                        checked["topbar"] += 1
                        if bar["mark"] != [32, 32] or bar["below"]:
                            problems[f"{where} top bar"] = bar
                        # The way out is in the top bar on a desktop, in "More" on a phone: one of them, always.
                        if bar["signOut"] != ["tabbar" if phone else "topbar"]:
                            problems[f"{where} sign out"] = bar["signOut"]
                        tabs = page.evaluate(TABS)
                        assert tabs["count"] >= 5, where
                        checked["tabs"] += 1
                        if tabs["problems"]:
                            problems[f"{where} tab bar"] = tabs["problems"]
                    if path == "/app" and phone:
                        checked["more"] += 1
                        found = _more_menu_by_keyboard(page)
                        if folder:
                            page.screenshot(
                                path=str(Path(folder) / f"{language}-phone-patient-more-open.png")
                            )
                        page.eval_on_selector(".tabbar details", "more => { more.open = false; }")
                        if found:
                            problems[f"{where} the tab bar's More menu"] = found
                    if page.locator("svg.chart").count():
                        checked["charts"] += 1
                        cut = page.evaluate(CHART_TEXT)
                        if cut:
                            problems[f"{where} chart text cut"] = cut
                    if path == "/clinic":
                        checked["picker"] += 1
                        markers = page.eval_on_selector_all(
                            "main li.card", "items => items.map(li => getComputedStyle(li).listStyleType)"
                        )
                        assert markers, where
                        if set(markers) != {"none"}:
                            problems[f"{where} list bullets"] = markers
                    if path == "/clinic/{amman}/messages":
                        checked["messages"] += 1
                        preview = page.locator(".conversation__preview", has_text="Good morning doctor")
                        shown = preview.evaluate(PREVIEW_SHOWN)
                        # on a phone two lines cannot hold it; on a desktop they may hold the 120 characters kept
                        clamped = shown["clamped"] or viewport_name != "phone"
                        if not (clamped and shown["fits"] and shown["start_visible"]):
                            problems[f"{where} long preview"] = shown
                    if path == "/platform/audit":
                        checked["audit"] += 1
    finally:
        for context in contexts:
            context.close()
    assert not problems, "\n".join(f"{where}: {found}" for where, found in sorted(problems.items()))
    # Every kind of check ran, in both languages and on both screens.
    assert checked["tabs"] >= 4 * 16 and checked["charts"] >= 4 * 3, checked
    assert checked["topbar"] == checked["tabs"], checked
    assert checked["picker"] == checked["messages"] == checked["audit"] == 4, checked
    assert checked["more"] == 2, checked
