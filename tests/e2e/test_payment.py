"""The payment journey (PAY-1): a patient books a video visit, pays on PayTabs' page (the local simulator), comes
back to the booked visit; the secretary sees the invoice paid."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from shifa.billing.models import Invoice, LedgerEntry, OnlinePayment
from shifa.directory.actions import listings_refresh
from shifa.scheduling.models import Appointment
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator
from tests.support.booking import open_for_booking

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paytabs_on_live_server(settings, live_server, monkeypatch):
    """PayTabs is the simulator served by the live server, reached over HTTP, and PayTabs sends browsers and
    callbacks back to it."""
    from shifa.billing import paytabs
    from shifa.simulators.paytabs import actions as simulator

    settings.SHIFA_PUBLIC_URL = live_server.url
    settings.PAYTABS_BASE_URL = live_server.url + "/simulators/paytabs"
    monkeypatch.setattr(paytabs, "transport", None)
    monkeypatch.setattr(simulator, "transport", None)


def test_a_patient_pays_a_video_visit_on_the_payment_page_and_the_desk_sees_it_paid(
    cast, page_for, paytabs_on_live_server
):
    clinic = open_for_booking(cast)
    listings_refresh(clinic_pk=clinic.pk)
    patient = page_for("en")
    sign_in(patient, cast.patient_user.email)
    patient.wait_for_url("**/app")
    patient.goto(f"/app/doctors/{clinic.external_id}/{cast.staff_a['doctor'].external_id}?visit_type=video")
    patient.locator(".card:has(button[data-slot])").nth(1).locator("button[data-slot]").first.click()
    patient.wait_for_url("**/app/appointments/**")
    appointment = Appointment.unscoped.get()
    assert appointment.status == "held" and appointment.visit_type == "video"
    # A video visit is paid to be booked: no "confirm" without paying.
    assert patient.locator("button[value=confirm]").count() == 0
    patient.click("button[data-pay]")

    patient.wait_for_url("**/simulators/paytabs/payment/page/**")
    assert "15.500" in patient.inner_text("body")
    patient.click("button[value=pay]")

    patient.wait_for_url("**/app/payments/**")
    expect(patient.locator("[data-payment-status]")).to_have_attribute("data-payment-status", "authorised")
    assert "Your appointment is booked." in patient.inner_text("main")
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    payment = OnlinePayment.unscoped.get()
    invoice = Invoice.unscoped.get(appointment=appointment)
    assert list(LedgerEntry.unscoped.filter(invoice=invoice).values_list("kind", "reference")) == [
        ("charge", ""),
        ("payment", payment.tran_ref),
    ]
    patient.click("text=Back to the appointment")
    expect(patient.locator("[data-status=booked]")).to_have_count(1)

    secretary = cast.staff_a["secretary"]
    desk = page_for("en")
    sign_in(desk, secretary.email, enrol_authenticator(secretary))
    desk.wait_for_url("**/clinic**")
    desk.goto(f"/clinic/{clinic.external_id}/billing?status=paid")
    row = desk.locator(f"tr:has(a[href$='{invoice.external_id}'])")
    expect(row.locator("[data-invoice-status]")).to_have_attribute("data-invoice-status", "paid")
    row.locator(f"a[href$='{invoice.external_id}']").first.click()
    desk.wait_for_url(f"**/billing/{invoice.external_id}")
    expect(desk.locator("main [data-invoice-status]").first).to_have_attribute("data-invoice-status", "paid")
    assert invoice.number in desk.inner_text("main")
    assert desk.locator("[data-transaction]").inner_text() == payment.tran_ref
