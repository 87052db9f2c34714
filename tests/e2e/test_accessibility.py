"""WCAG 2.2 AA on the main pages of the three front ends, in Arabic and in English: axe-core (the npm package,
installed by ``make test`` from package-lock.json) runs in Chromium on each page and must report no serious or
critical violation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator
from tests.support.records import committed_visit

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: The WCAG 2.0, 2.1 and 2.2 success criteria at levels A and AA.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _violations(page) -> list[dict]:
    assert AXE.exists(), "axe-core is missing: `make test` installs it (npm ci)"
    page.add_script_tag(path=str(AXE))
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


def _check(page, paths: list[str], found: dict) -> None:
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        problems = _violations(page)
        if problems:
            found[f"{page.evaluate('document.documentElement.lang')} {path}"] = problems


def _prepare_language(user, language: str) -> None:
    get_user_model().objects.filter(pk=user.pk).update(language=language)


@pytest.mark.parametrize("language", ["ar", "en"])
def test_main_pages_have_no_serious_accessibility_violation(cast, api, page_for, language):
    visit = committed_visit(cast, api)
    clinic = cast.clinic_a.external_id
    found: dict[str, list] = {}

    anonymous = page_for(language)
    _check(anonymous, ["/welcome", "/accounts/sign-in", "/accounts/sign-up"], found)

    _prepare_language(cast.patient_user, language)
    patient = page_for(language)
    sign_in(patient, cast.patient_user.email)
    patient.wait_for_url("**/app**")
    _check(
        patient,
        ["/app", "/app/search", "/app/appointments", "/app/record", "/app/plans", "/app/offline"],
        found,
    )

    doctor = cast.staff_a["doctor"]
    _prepare_language(doctor, language)
    staff = page_for(language)
    sign_in(staff, doctor.email, enrol_authenticator(doctor))
    staff.wait_for_url("**/clinic**")
    _check(
        staff,
        [
            f"/clinic/{clinic}",
            f"/clinic/{clinic}/dashboard",
            f"/clinic/{clinic}/visits/{visit['id']}",
            f"/clinic/{clinic}/hakeem",
        ],
        found,
    )

    admin = cast.platform_admin
    _prepare_language(admin, language)
    platform = page_for(language)
    sign_in(platform, admin.email, enrol_authenticator(admin))
    platform.wait_for_url("**/platform")
    _check(
        platform,
        ["/platform", "/platform/dashboard", "/platform/reference", "/platform/audit", "/platform/hakeem"],
        found,
    )

    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)


def test_the_check_finds_a_violation(page_for):
    page = page_for("en")
    page.set_content('<html lang="en"><body><main><input type="text"><button></button></main></body></html>')
    rules = {v["rule"] for v in _violations(page)}
    assert {"label", "button-name"} <= rules
