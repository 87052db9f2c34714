"""Long work followed in the browser: a document asked for shows as waiting, with a busy bar, and turns into a
download link by itself once the worker has prepared it, without the page being loaded again; in Arabic, right to
left."""

from __future__ import annotations

import pytest

from shifa.access import catalog
from shifa.access.policies import Actor
from shifa.documents.actions import document_request
from tests.e2e.test_journeys import sign_in
from tests.e2e.test_record import _run_jobs
from tests.factories import enrol_authenticator

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_document_goes_from_waiting_to_ready_without_a_reload(cast, page_for, tmp_path):
    secretary = cast.staff_a["secretary"]
    type(secretary).objects.filter(pk=secretary.pk).update(language="ar")
    document = document_request(
        actor=Actor(user=secretary, clinic=cast.clinic_a, roles=frozenset({catalog.SECRETARY})),
        kind="letter",
        title="رسالة تحويل",
        language="ar",
        context={"recipient": "د. رنا حداد", "body": "يرجى متابعة حالة المريض."},
    )

    page = page_for("ar")
    sign_in(page, secretary.email, enrol_authenticator(secretary))
    page.wait_for_url("**/clinic**")
    page.goto(f"/clinic/{cast.clinic_a.external_id}/documents")
    assert page.get_attribute("html", "dir") == "rtl"
    job = f"#doc-{document.external_id} [data-job=document]"
    page.wait_for_selector(f"{job}[data-status=pending] progress")
    assert page.locator(f"#doc-{document.external_id} [aria-live=polite]").count() == 1
    page.evaluate("window.notReloaded = true")
    page.screenshot(path=str(tmp_path / "documents-waiting-ar.png"), full_page=True)

    _run_jobs()
    page.wait_for_selector(f"{job}[data-status=ready] a[data-download]", timeout=20000)
    assert page.evaluate(
        "window.notReloaded === true"
    )  # htmx swapped the fragment: the page was not loaded again
    page.screenshot(path=str(tmp_path / "documents-ready-ar.png"), full_page=True)
    assert page.locator(f"{job} progress").count() == 0
    assert page.locator(f"{job}[hx-trigger]").count() == 0  # done: it no longer polls
    href = page.get_attribute(f"{job} a[data-download]", "href")
    assert href == f"/clinic/{cast.clinic_a.external_id}/documents/{document.external_id}/file"
