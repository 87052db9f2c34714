"""Billing screens (PAY-1): the clinic's desk (open invoices, an invoice's ledger, payments taken once however
often the button is pressed, field errors, discounts and refunds for those who may), the invoice of an appointment
from the day's desk, the patient's invoices with receipts and "Pay online", and the platform's revenue, which
must add up to the ledger."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from shifa.billing import queries
from shifa.billing.models import Invoice, LedgerEntry
from tests.billing.test_api import open_invoice, pay, visit
from tests.conftest import sign_in_page
from tests.factories import ClinicFactory, PatientFactory
from tests.routes_billing import make_invoice

pytestmark = pytest.mark.django_db


def page(user) -> Client:
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), user)


def desk_url(cast, invoice_id=None, tail: str = "") -> str:
    url = f"/clinic/{cast.clinic_a.external_id}/billing"
    return f"{url}/{invoice_id}{tail}" if invoice_id else url + tail


def payments(invoice_id) -> list[Decimal]:
    return list(
        LedgerEntry.unscoped.filter(invoice__external_id=invoice_id, kind="payment").values_list(
            "amount", flat=True
        )
    )


def test_the_desk_lists_what_is_due_and_shows_an_invoices_ledger(cast, api):
    due = open_invoice(cast, api, "25.500")
    settled = open_invoice(cast, api, "10.000")
    pay(api(cast.staff_a["secretary"]), cast, settled["id"], "10.000")
    desk = page(cast.staff_a["secretary"])
    listed = desk.get(desk_url(cast))
    assert listed.status_code == 200
    assert [r["invoice"].number for r in listed.context["rows"]] == [due["number"]]  # open ones first
    assert "JOD\u00a025.500" in listed.content.decode()
    assert settled["number"] in desk.get(desk_url(cast, tail="?status=paid")).content.decode()
    shown = desk.get(desk_url(cast, settled["id"]))
    body = shown.content.decode()
    assert shown.status_code == 200 and settled["number"] in body
    payment = LedgerEntry.unscoped.get(invoice__external_id=settled["id"], kind="payment")
    receipt = f"/api/v1/clinics/{cast.clinic_a.external_id}/invoices/{settled['id']}/receipts/{payment.external_id}.pdf"
    assert f"{receipt}?language=ar" in body and f"{receipt}?language=en" in body
    assert "Take a payment" not in body  # nothing is due
    assert "Take a payment" in desk.get(desk_url(cast, due["id"])).content.decode()


def test_a_payment_form_sent_twice_records_one_payment(cast, api):
    invoice = open_invoice(cast, api, "30.000")
    desk = page(cast.staff_a["secretary"])
    form = desk.get(desk_url(cast, invoice["id"])).context["payment_form"]
    assert form.initial["amount"] == "30.000"  # what is due, offered
    data = {
        "pay-amount": "12.500",
        "pay-method": "card",
        "pay-note": "Slip 0042",
        "pay-token": form.initial["token"],
    }
    first = desk.post(desk_url(cast, invoice["id"], "/payment"), data)
    second = desk.post(desk_url(cast, invoice["id"], "/payment"), data)
    assert first.status_code == second.status_code == 302
    assert payments(invoice["id"]) == [Decimal("12.500")]
    entry = LedgerEntry.unscoped.get(invoice__external_id=invoice["id"], kind="payment")
    assert (entry.method, entry.description, entry.recorded_by) == (
        "card",
        "Slip 0042",
        cast.staff_a["secretary"],
    )
    fresh = desk.get(desk_url(cast, invoice["id"])).context["payment_form"].initial["token"]
    assert fresh != form.initial["token"]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12.3456", "Use at most three decimals"),
        ("abc", "Enter an amount such as 12.500"),
        ("0", "above zero"),
    ],
)
def test_a_bad_amount_is_shown_on_its_field_and_nothing_is_recorded(cast, api, amount, message):
    invoice = open_invoice(cast, api, "30.000")
    desk = page(cast.staff_a["secretary"])
    data = {"pay-amount": amount, "pay-method": "cash", "pay-token": "t1"}
    response = desk.post(desk_url(cast, invoice["id"], "/payment"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["payment_form"].errors["amount"])
    assert 'id="id_pay-amount_error"' in response.content.decode()
    assert payments(invoice["id"]) == []


def test_more_than_is_due_is_refused_and_arabic_digits_are_read(cast, api):
    invoice = open_invoice(cast, api, "30.000")
    desk = page(cast.staff_a["secretary"])
    url = desk_url(cast, invoice["id"], "/payment")
    too_much = desk.post(url, {"pay-amount": "30.001", "pay-method": "cash", "pay-token": "t1"})
    assert too_much.status_code == 409
    assert "more than what is due" in too_much.content.decode()
    missing = desk.post(url, {"pay-amount": "5", "pay-token": "t2"})
    assert missing.status_code == 400 and "method" in missing.context["payment_form"].errors
    arabic = desk.post(
        url, {"pay-amount": "\u0661\u0662\u066b\u0665", "pay-method": "cash", "pay-token": "t3"}
    )
    assert arabic.status_code == 302 and payments(invoice["id"]) == [Decimal("12.500")]


def test_the_secretary_takes_payments_but_only_admins_give_discounts_and_refunds(cast, api):
    invoice = open_invoice(cast, api, "40.000")
    pay(api(cast.staff_a["secretary"]), cast, invoice["id"], "40.000")
    secretary = page(cast.staff_a["secretary"])
    body = secretary.get(desk_url(cast, invoice["id"])).content.decode()
    assert "Give a discount" not in body and "Refund at the desk" not in body
    discount = {
        "step": "discount",
        "discount-amount": "5",
        "discount-note": "Neighbour",
        "discount-token": "d1",
    }
    assert secretary.post(desk_url(cast, invoice["id"], "/adjust"), discount).status_code == 403
    admin = page(cast.staff_a["clinic_admin"])
    body = admin.get(desk_url(cast, invoice["id"])).content.decode()
    assert "Give a discount" in body and "Refund at the desk" in body
    unexplained = {**discount, "discount-note": ""}
    refused = admin.post(desk_url(cast, invoice["id"], "/adjust"), unexplained)
    assert refused.status_code == 400 and "note" in refused.context["discount_form"].errors
    assert admin.post(desk_url(cast, invoice["id"], "/adjust"), discount).status_code == 302
    shown = admin.get(desk_url(cast, invoice["id"]))
    assert shown.context["invoice_status"] == "refund_due" and shown.context["owed_back"] == Decimal("5.000")
    assert shown.context["refund_form"].initial["amount"] == "5.000"
    refund = {
        "step": "refund",
        "refund-amount": "5.000",
        "refund-method": "cash",
        "refund-note": "Discount after paying",
        "refund-token": "r1",
    }
    assert admin.post(desk_url(cast, invoice["id"], "/adjust"), refund).status_code == 302
    totals = queries.invoice_totals(Invoice.unscoped.get(external_id=invoice["id"]))
    assert totals.due == 0 and totals.refunded == Decimal("5.000")
    assert admin.post(desk_url(cast, invoice["id"], "/adjust"), {"step": "void"}).status_code == 400


def test_the_day_desk_opens_an_appointments_invoice_once(cast, api):
    from shifa.scheduling.models import Appointment

    appointment = visit(cast)
    Appointment.unscoped.filter(pk=appointment.pk).update(price=Decimal("20.000"))
    desk = page(cast.staff_a["secretary"])
    day = appointment.starts_at.astimezone(ZoneInfo(cast.clinic_a.time_zone)).date()
    day_page = desk.get(f"/clinic/{cast.clinic_a.external_id}/desk?day={day}").content.decode()
    assert "data-invoice" in day_page and str(appointment.external_id) in day_page
    url = desk_url(cast, tail="/for-appointment")
    first = desk.post(url, {"appointment_id": str(appointment.external_id), "day": str(day)})
    invoice = Invoice.unscoped.get(appointment=appointment)
    assert first.status_code == 302 and first["Location"] == desk_url(cast, invoice.external_id)
    again = desk.post(url, {"appointment_id": str(appointment.external_id)})
    assert again["Location"] == first["Location"] and Invoice.unscoped.count() == 1
    unpriced = visit(cast)
    back = desk.post(url, {"appointment_id": str(unpriced.external_id), "day": str(day)})
    assert back.status_code == 302 and back["Location"].endswith(f"/desk?day={day}")
    assert "no price" in desk.get(back["Location"]).content.decode()
    assert desk.post(url, {"appointment_id": "nonsense"}).status_code == 404
    nurse_page = page(cast.staff_a["nurse"]).get(f"/clinic/{cast.clinic_a.external_id}/desk?day={day}")
    assert "data-invoice" not in nurse_page.content.decode()


def test_the_patient_sees_invoices_receipts_and_pays_online_only_what_is_due(cast, api):
    invoice = open_invoice(cast, api, "18.000")
    app = page(cast.patient_user)
    listed = app.get("/app/invoices")
    assert listed.status_code == 200 and invoice["number"] in listed.content.decode()
    shown = app.get(f"/app/invoices/{invoice['id']}")
    assert shown.context["can_pay_online"] is True
    assert f'action="/app/invoices/{invoice["id"]}/pay"' in shown.content.decode()
    pay(api(cast.staff_a["secretary"]), cast, invoice["id"], "18.000")
    shown = app.get(f"/app/invoices/{invoice['id']}")
    assert shown.context["can_pay_online"] is False and "data-pay-online" not in shown.content.decode()
    entry = LedgerEntry.unscoped.get(invoice__external_id=invoice["id"], kind="payment")
    assert f"/api/v1/me/invoices/{invoice['id']}/receipts/{entry.external_id}.pdf" in shown.content.decode()
    other = page(cast.other_patient_user)
    assert other.get(f"/app/invoices/{invoice['id']}").status_code == 404
    assert invoice["number"] not in other.get("/app/invoices").content.decode()


def test_each_console_links_to_billing_for_those_who_may(cast):
    clinic = f"/clinic/{cast.clinic_a.external_id}"
    assert f'href="{clinic}/billing"' in page(cast.staff_a["secretary"]).get(clinic).content.decode()
    assert f'href="{clinic}/billing"' not in page(cast.staff_a["nurse"]).get(clinic).content.decode()
    assert 'href="/app/invoices"' in page(cast.patient_user).get("/app").content.decode()
    assert 'href="/platform/revenue"' in page(cast.platform_admin).get("/platform").content.decode()


# --- the platform's revenue -----------------------------------------------------------------------------------

AMMAN = ZoneInfo("Asia/Amman")


def _at(moment: dt.datetime):
    """Record rows as if written at ``moment``."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def test_revenue_adds_up_to_the_ledger_for_random_data(cast):
    rng = random.Random(20261126)
    london = ClinicFactory(slug="clinic-c", name_en="Clinic C", name_ar="عيادة ج", time_zone="Europe/London")
    clinics = [cast.clinic_a, cast.clinic_b, london]
    issuer = cast.staff_a["secretary"]
    patient = PatientFactory(full_name="Billed")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    written = []
    for _ in range(60):
        clinic = rng.choice(clinics)
        moment = start + dt.timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        with _at(moment):
            charge = f"{rng.randrange(1000, 90000) / 1000:.3f}"
            invoice = make_invoice(clinic, patient, charge=charge, paid=None, issued_by=issuer)
        written.append(LedgerEntry.unscoped.get(invoice=invoice))
        for kind in rng.sample(["payment", "refund", "discount", "insurer_share"], k=rng.randrange(0, 4)):
            later = moment + dt.timedelta(days=rng.randrange(0, 40), minutes=rng.randrange(0, 1440))
            with _at(later):
                written.append(
                    LedgerEntry.unscoped.create(
                        clinic=clinic,
                        invoice=invoice,
                        kind=kind,
                        amount=Decimal(rng.randrange(1, 5000)) / 1000,
                        method="cash" if kind in ("payment", "refund") else "",
                    )
                )
    # the sums every clinic's month should show, worked out here one entry at a time in the clinic's own zone
    expected: dict = {}
    for entry in written:
        clinic = next(c for c in clinics if c.pk == entry.clinic_id)
        local = entry.created_at.astimezone(ZoneInfo(clinic.time_zone))
        key = (clinic.pk, dt.date(local.year, local.month, 1))
        sums = expected.setdefault(
            key, dict.fromkeys(["charge", "discount", "insurer_share", "payment", "refund"], 0)
        )
        sums[entry.kind] += entry.amount
    since, until = dt.date(2026, 3, 1), dt.date(2026, 8, 1)
    with CaptureQueriesContext(connection) as counted:
        rows = queries.revenue_by_clinic_month(since=since, until=until)
    assert len(counted) <= 3  # two grouped queries and the clinics' names, however many clinics
    assert {(r["clinic_id"], r["month"]) for r in rows} == {k for k in expected if since <= k[1] <= until}
    for row in rows:
        sums = expected[(row["clinic_id"], row["month"])]
        assert (row["charged"], row["discounted"], row["insurer"], row["paid"], row["refunded"]) == (
            sums["charge"],
            sums["discount"],
            sums["insurer_share"],
            sums["payment"],
            sums["refund"],
        )
        owed = sum(
            s["charge"] - s["discount"] - s["insurer_share"] - s["payment"] + s["refund"]
            for (clinic_id, month), s in expected.items()
            if clinic_id == row["clinic_id"] and month <= row["month"]
        )
        assert row["outstanding"] == owed  # what patients owed at the month's end, counting the months before
    console = page(cast.platform_admin).get("/platform/revenue?since=2026-03&until=2026-08")
    assert console.status_code == 200
    grand = console.context["grand"]
    assert grand["charged"] == sum(r["charged"] for r in rows)
    assert grand["net_paid"] == sum(r["paid"] - r["refunded"] for r in rows)


def test_a_month_is_the_clinics_own(cast):
    patient = PatientFactory(full_name="Late payer")
    with _at(dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC)):  # 01:30 on 1 April in Amman
        make_invoice(
            cast.clinic_a, patient, charge="10.000", paid="4.000", issued_by=cast.staff_a["secretary"]
        )
    [row] = queries.revenue_by_clinic_month(since=dt.date(2026, 3, 1), until=dt.date(2026, 4, 1))
    assert row["month"] == dt.date(2026, 4, 1) and row["outstanding"] == Decimal("6.000")
    assert dt.datetime(2026, 4, 1, 1, 30, tzinfo=AMMAN).astimezone(dt.UTC).day == 31


def test_the_revenue_page_refuses_a_bad_range_and_others(cast):
    console = page(cast.platform_admin)
    assert console.get("/platform/revenue?since=2026-09&until=2026-01").status_code == 400
    assert console.get("/platform/revenue?since=nope").status_code == 400
    assert page(cast.staff_a["clinic_admin"]).get("/platform/revenue").status_code == 403
