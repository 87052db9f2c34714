"""WCAG 2.2 AA on every page of the three front ends (and the public pages), in Arabic and in English: axe-core
(the npm package, installed by ``make test`` from package-lock.json) runs in Chromium on each page and must report
no serious or critical violation.

The pages are not listed by hand: every GET page route of the registry (the one the permission tests walk) is
visited, its ids made by the same providers as the route tests (``tests.routes``), so that a new page is checked as
soon as it exists. Only what is not an HTML page of a front end (downloads, scripts, redirects to outside services,
fragments) is left out, each with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from shifa.access import catalog
from shifa.access.registry import page_routes as registered_pages
from tests.conftest import sign_in_page
from tests.e2e.conftest import wait_until
from tests.routes import PROVIDERS, Target, url_for

pytestmark = pytest.mark.heavy(150)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: The WCAG 2.0, 2.1 and 2.2 success criteria at levels A and AA.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

#: Routes under these prefixes are no front end of Shifa: the API (and its docs), the local stand-ins of outside
#: services.
OTHER_PREFIXES = ("/api/", "/simulators/")
#: GET routes that answer no HTML page of a front end.
NOT_PAGES = {
    "/healthz": "a health check (JSON)",
    "/metrics": "Prometheus' text format, for its scraper",
    "/sw.js": "the service worker's script",
    "/manifest.webmanifest": "the web app manifest",
    "/accounts/providers/{provider}": "a redirect to Google's or Apple's sign-in",
    "/app/record/documents/{document_id}": "a PDF download",
    "/app/record/results/{result_id}": "a PDF (or image) download",
    "/clinic/{clinic_id}/results/{result_id}/file": "a PDF (or image) download",
    "/clinic/{clinic_id}/documents/{document_id}/file": "a PDF download",
    "/clinic/{clinic_id}/documents/{document_id}/progress": "an htmx fragment of the documents page (checked there)",
    "/clinic/{clinic_id}/insurance/claims/{claim_id}/export": "a claim file for the insurer (JSON, CSV)",
    "/clinic-photos/{photo_id}": "an image",
    "/platform/applications/{application_id}/documents/{number}": "a PDF download",
    "/files/{token}": "a signed file download",
    "/clinic/{clinic_id}/visits/{visit_id}/hakeem": "an htmx fragment of the visit page (checked there)",
    "/clinic/{clinic_id}/patients/{patient_id}/hakeem/imports/{import_id}": "an htmx fragment of the Hakeem history",
}
#: Pages reached with an invalid token (a stale or mistyped link): they answer the error page, which is checked.
ERROR_PAGES = {
    "/accounts/verify-email/{key}",
    "/accounts/invitations/{token}",
    "/call/guest/{secret}",
}
#: Pages that need a step before them (a number typed on the previous form): visited through that form instead.
THROUGH_A_FORM = {"/accounts/phone/code", "/accounts/password-reset/code"}

FRONT_ENDS = ["public", "patient", "clinic", "platform"]
LANGUAGES = ["ar", "en"]


def front_end_of(path: str) -> str:
    if path.startswith(("/app", "/accounts/security", "/accounts/notifications")):
        return "patient"
    if path.startswith("/clinic/") or path == "/clinic":
        return "clinic"
    if path.startswith("/platform"):
        return "platform"
    return "public"


def page_routes(front_end: str) -> list:
    return [
        r
        for r in registered_pages()
        if r.method == "GET"
        and not r.path.startswith(OTHER_PREFIXES)
        and r.path not in NOT_PAGES
        and r.path not in THROUGH_A_FORM
        and front_end_of(r.path) == front_end
    ]


def _violations(page) -> list[dict]:
    assert AXE.exists(), "axe-core is missing: `make test` installs it (npm ci)"
    # Run axe's source from here: the page's Content-Security-Policy refuses an added inline <script>, as it should.
    page.evaluate("() => {\n" + AXE.read_text(encoding="utf-8") + "\n}")
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        TAGS,
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


#: What the reader should never see: a time zone's database name, UCUM syntax ("Asia/Amman", "mm[Hg]", "{score}"),
#: except where a page shows values as stored (the audit log's before and after, marked ``data-stored``).
RAW_CODES = r"\b(?:Africa|America|Asia|Europe|Etc)/[A-Za-z_]+|\[(?:Hg|IU|arb'U|degF)\]|\{(?:score|INR|index|titer)\}|\bCel\b"


def _raw_codes(page) -> list:
    found = page.evaluate(
        """(pattern) => {
            const body = document.body.cloneNode(true);
            body.querySelectorAll('[data-stored], script, style, template').forEach((n) => n.remove());
            return body.textContent.match(new RegExp(pattern, 'g')) || [];
        }""",
        RAW_CODES,
    )
    return [{"id": "raw-code", "shown": sorted(set(found))}] if found else []


def _check_here(page, found: dict) -> None:
    # Loaded, and what htmx loads at once (hx-trigger="load") is in: cheaper than waiting for the network to idle.
    page.wait_for_load_state("load")
    wait_until(page, "() => !document.querySelector('.htmx-request')")
    problems = _violations(page) + _raw_codes(page)
    if problems:
        found[f"{page.evaluate('document.documentElement.lang')} {page.url}"] = problems


def _check(page, url: str, found: dict, *, error_page: bool = False) -> None:
    response = page.goto(url)
    status = response.status if response else None
    assert (status in (400, 404)) if error_page else status == 200, (url, status)
    assert response.headers.get("content-type", "").startswith("text/html"), url
    assert page.evaluate("document.doctype !== null"), f"{url} is no whole page: a fragment goes in NOT_PAGES"
    _check_here(page, found)


def _signed_in(page_for, live_server, user, language: str):
    """A browser page whose session is ``user``'s (past the second factor), speaking ``language``."""
    get_user_model().objects.filter(pk=user.pk).update(language=language)
    client = sign_in_page(Client(), user)
    page = page_for(language)
    name = settings.SESSION_COOKIE_NAME
    page.context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": live_server.url}])
    return page


def _caller(cast, spec, front_end: str):
    """Who opens the page: the patient (public pages of the app too), the platform admin, clinic A's doctor where their role may (the clinical
    pages) and its clinic admin elsewhere (settings, billing, insurance …), nobody for public pages."""
    if front_end == "patient":
        return cast.patient_user
    if front_end == "platform":
        return cast.platform_admin
    if front_end == "clinic":
        doctor = cast.staff_a["doctor"]
        return (
            doctor
            if catalog.ROLE_PERMISSIONS["doctor"].get(spec.permission)
            else cast.staff_a["clinic_admin"]
        )
    return None


def _more_rows(cast, api) -> None:
    """What the route providers leave empty: a notification, a sharing grant, home readings (and the alert they
    raise), messages in every conversation, a pre-approval waiting."""
    from shifa.telehealth.models import Conversation, Message

    patient = Target(cast.clinic_a, cast.staff_a["clinic_admin"].memberships.first(), cast.patient_user)
    PROVIDERS["notification_id"](patient)
    PROVIDERS["grant_id"](patient)
    PROVIDERS["pre_approval_id"](patient)
    response = api(cast.patient_user).post("/api/v1/me/readings", {"readings": {"8480-6": 175, "8462-4": 95}})
    assert response.status_code == 201, response.content
    for conversation in Conversation.unscoped.select_related("patient"):
        for sender, side, body in (
            (cast.patient_user, "patient", "Is the swelling normal after the first session?"),
            (cast.staff_a["doctor"], "clinic", "Yes, for two or three days. Keep the leg raised."),
        ):
            Message.unscoped.create(
                clinic_id=conversation.clinic_id,
                conversation=conversation,
                sender=sender,
                side=side,
                body=body,
            )


def _through_the_forms(page, found: dict, number: int) -> None:
    """The code pages of phone sign-in and of a password reset by phone (a new number each time: no resend wait)."""
    page.goto("/accounts/phone")
    page.fill("input[name=phone]", f"079 555 12{number:02d}")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/phone/code")
    _check_here(page, found)
    page.goto("/accounts/password-reset")
    page.fill("input[name=identifier]", f"079 555 43{number:02d}")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/password-reset/code")
    _check_here(page, found)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_every_page_has_no_serious_accessibility_violation(
    front_end, cast, api, page_for, live_server, settings, tmp_path
):
    """In Arabic and in English (one test for both: the data and the database's flush are paid once)."""
    settings.SMS_OUTBOX_DIR = tmp_path
    routes = page_routes(front_end)
    # Every id is made (and every object behind it) before the first page opens, so that lists show rows.
    visits = []
    for spec in routes:
        user = _caller(cast, spec, front_end)
        membership = (user.memberships.first() if user else None) or cast.staff_a[
            "clinic_admin"
        ].memberships.first()
        visits.append(
            (user, url_for(spec, Target(cast.clinic_a, membership, user)), spec.path in ERROR_PAGES)
        )
    _more_rows(cast, api)

    found: dict[str, list] = {}
    for language in LANGUAGES:
        pages: dict = {}
        for user, url, error_page in visits:
            if user not in pages:
                pages[user] = (
                    page_for(language) if user is None else _signed_in(page_for, live_server, user, language)
                )
            _check(pages[user], url, found, error_page=error_page)
        if front_end == "public":
            _through_the_forms(pages[None], found, LANGUAGES.index(language))
        assert {page.evaluate("document.documentElement.lang") for page in pages.values()} == {language}

    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)


def test_every_front_end_page_is_checked():
    """Each GET page route is checked in one front end, or left out with a reason."""
    checked = {r.path for front_end in FRONT_ENDS for r in page_routes(front_end)}
    every = {r.path for r in registered_pages() if r.method == "GET"}
    left_out = {p for p in every if p.startswith(OTHER_PREFIXES)} | set(NOT_PAGES) | THROUGH_A_FORM
    assert every == checked | left_out
    assert not checked & left_out
    assert set(NOT_PAGES) | THROUGH_A_FORM | ERROR_PAGES <= every  # no stale exemption
    assert {
        "/app/record/sharing",
        "/clinic/{clinic_id}/insurance/claims/{claim_id}",
        "/platform/revenue",
    } <= checked


def test_the_check_finds_a_violation(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_content('<html lang="en"><body><main><input type="text"><button></button></main></body></html>')
    rules = {v["rule"] for v in _violations(page)}
    context.close()
    assert {"label", "button-name"} <= rules


def test_the_check_finds_codes_no_reader_should_see(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        "<html><body><p>Times are in Asia/Amman.</p><p>120 mm[Hg], 37 Cel, pain 3 {score}</p>"
        '<table><tr><td data-stored>Africa/Cairo</td></tr></table><script>const zone = "Europe/Paris";</script>'
        "</body></html>"
    )
    found = _raw_codes(page)
    context.close()
    assert found == [{"id": "raw-code", "shown": ["Asia/Amman", "Cel", "[Hg]", "{score}"]}]
