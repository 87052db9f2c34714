"""The Hakeem sync monitor (HK-1, HK-2): a visit committed while Hakeem is down fails to go; the platform admin
finds the failed record with its error in the platform console (right to left, in Arabic), Hakeem comes back, the
admin sends it again and sees it acknowledged."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from shifa.integrations.hakeem import actions
from shifa.integrations.hakeem.models import Kind, SyncRecord, SyncState
from shifa.records.models import Patient
from shifa.simulators.hakeem import actions as simulator
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator
from tests.support.records import committed_visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_platform_admin_sends_again_a_record_that_failed_while_hakeem_was_down(cast, api, page_for):
    Patient.objects.filter(pk=cast.patient.pk).update(full_name="Zainab Qawasmeh")
    simulator.switch_set("down")
    visit = committed_visit(cast, api)
    actions.send_patient(clinic_id=cast.clinic_a.pk, patient_id=cast.patient.pk)  # the job's first try
    owed = SyncRecord.unscoped.filter(clinic=cast.clinic_a, patient=cast.patient)
    assert set(owed.values_list("state", flat=True)) == {SyncState.FAILED}
    encounter = owed.get(kind=Kind.VISIT, key=visit["id"])

    admin = cast.platform_admin
    get_user_model().objects.filter(pk=admin.pk).update(language="ar")
    page = page_for("ar")
    sign_in(page, admin.email, enrol_authenticator(admin))
    page.wait_for_url("**/platform")
    assert page.get_attribute("html", "dir") == "rtl"
    page.click("nav.sidebar a[href='/platform/hakeem']")
    page.wait_for_url("**/platform/hakeem")

    clinic_row = page.locator(f"tr[data-clinic='{cast.clinic_a.external_id}']")
    expect(clinic_row.locator("[data-count=failed]")).to_have_text(str(owed.count()))
    expect(clinic_row.locator("button[data-retry-clinic]")).to_be_visible()
    row = page.locator(f"tr[data-record='{encounter.external_id}']")
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator("[data-error]")).to_contain_text("503")
    assert "Zainab" not in page.locator("main").inner_text()  # a technical monitor: no patient

    simulator.switch_set("normal")
    row.locator("button[data-retry]").click()
    page.wait_for_url(f"**retried={encounter.external_id}**")
    retried = page.locator(f"[data-retried='{encounter.external_id}']")
    expect(retried.locator("[data-state]")).to_have_attribute("data-state", "acknowledged")
    expect(retried.locator("[data-remote-id]")).to_contain_text("Encounter/")
    # No longer among the failures, and the clinic has none left (the patient's other records went with it).
    expect(page.locator(f"tr[data-record='{encounter.external_id}']")).to_have_count(0)
    expect(clinic_row.locator("[data-count=failed]")).to_have_text("0")

    page.goto("/platform/hakeem?state=acknowledged")
    expect(page.locator(f"tr[data-record='{encounter.external_id}']")).to_have_attribute(
        "data-state", "acknowledged"
    )
    encounter.refresh_from_db()
    assert encounter.state == SyncState.ACKNOWLEDGED and encounter.remote_id.startswith("Encounter/")
