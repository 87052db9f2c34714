"""The billing API (PAY-1): the desk opens invoices (by hand or for an appointment), takes cash and card, gives
discounts and refunds; patients see their own invoices; nobody sees another clinic's or another patient's."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from shifa.billing.models import Invoice, LedgerEntry
from shifa.core import timezones
from tests.conftest import ApiClient
from tests.factories import PatientFactory
from tests.support.records import in_care

pytestmark = pytest.mark.django_db


def base(clinic) -> str:
    return f"/api/v1/clinics/{clinic.external_id}/invoices"


def visit(cast, patient=None, *, clinic=None):
    """A booked appointment of ``patient`` (the cast's) at ``clinic`` (A), an hour after the ones made before."""
    from shifa.scheduling.models import Appointment

    return in_care(cast, patient, clinic=clinic, hours=1 + Appointment.unscoped.count())


def open_invoice(cast, api, *amounts: str, by: str = "secretary", patient=None) -> dict:
    from shifa.records.policies import clinic_patients

    patient = patient or cast.patient
    if not clinic_patients(cast.clinic_a.pk).filter(pk=patient.pk).exists():
        visit(cast, patient)
    lines = [{"description": f"Service {i}", "amount": a} for i, a in enumerate(amounts or ("25.500",))]
    response = api(cast.staff_a[by]).post(
        base(cast.clinic_a), {"patient_id": str(patient.external_id), "lines": lines}
    )
    assert response.status_code == 201, response.content
    return response.json()


def pay(client, cast, invoice_id: str, amount: str, *, key: str | None = None, method: str = "cash"):
    headers = {"Idempotency-Key": key} if key else None
    return client.post(
        f"{base(cast.clinic_a)}/{invoice_id}/payments", {"amount": amount, "method": method}, headers=headers
    )


def test_the_desk_opens_an_invoice_and_reads_it_with_exact_totals(cast, api):
    created = open_invoice(cast, api, "25.500", "4.250")
    assert created["number"].endswith("-000001") and created["status"] == "open"
    assert created["totals"]["charged"] == {"amount": "29.750", "currency": "JOD"}
    assert created["totals"]["due"] == {"amount": "29.750", "currency": "JOD"}
    assert [line["amount"]["amount"] for line in created["lines"]] == ["25.500", "4.250"]
    assert created["patient"]["id"] == str(cast.patient.external_id)
    desk = api(cast.staff_a["secretary"])
    detail = desk.get(f"{base(cast.clinic_a)}/{created['id']}")
    assert detail.status_code == 200 and detail.json() == created
    paid = pay(desk, cast, created["id"], "29.750")
    assert paid.status_code == 201
    body = paid.json()
    assert body["status"] == "paid" and body["totals"]["due"]["amount"] == "0.000"
    payment = body["entries"][-1]
    assert payment["kind"] == "payment" and payment["method"] == "cash"
    assert payment["receipt_url"] == f"{base(cast.clinic_a)}/{created['id']}/receipts/{payment['id']}.pdf"
    assert body["entries"][0]["receipt_url"] is None  # a charge has no receipt


def test_a_new_invoice_says_where_it_is(cast, api):
    visit(cast)
    response = api(cast.staff_a["secretary"]).post(
        base(cast.clinic_a),
        {"patient_id": str(cast.patient.external_id), "lines": [{"description": "X-ray", "amount": "12"}]},
    )
    assert response["Location"] == f"{base(cast.clinic_a)}/{response.json()['id']}"


def test_a_double_click_with_one_idempotency_key_records_one_payment(cast, api):
    invoice = open_invoice(cast, api, "30.000")
    desk = api(cast.staff_a["secretary"])
    first = pay(desk, cast, invoice["id"], "10.000", key="desk-click-1")
    again = pay(desk, cast, invoice["id"], "10.000", key="desk-click-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert LedgerEntry.unscoped.filter(invoice__external_id=invoice["id"], kind="payment").count() == 1
    other = pay(desk, cast, invoice["id"], "5.000", key="desk-click-1")  # the key, for something else
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert pay(desk, cast, invoice["id"], "10.000", key="desk-click-2").json()["totals"]["due"]["amount"] == (
        "10.000"
    )


def _parallel(calls) -> list:
    barrier = threading.Barrier(len(calls))
    answers: list = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait()
            response = call()
            with lock:
                answers.append(response)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_key_record_once_and_without_keys_never_exceed_what_is_due(cast, api):
    invoice = open_invoice(cast, api, "40.000")
    clients = [ApiClient(cast.staff_a["secretary"]) for _ in range(6)]
    for c in clients:
        c.token()
    same_key = _parallel(
        [lambda c=c: pay(c, cast, invoice["id"], "15.000", key="one-click") for c in clients]
    )
    assert [r.status_code for r in same_key] == [201] * 6
    assert len({r.content for r in same_key}) == 1
    assert LedgerEntry.unscoped.filter(invoice__external_id=invoice["id"], kind="payment").count() == 1
    # 25.000 left: six people each paying all of it at once — one succeeds, the others are told it is too much
    full = _parallel([lambda c=c: pay(c, cast, invoice["id"], "25.000") for c in clients])
    assert sorted(r.status_code for r in full) == [201] + [409] * 5
    assert {r.json()["code"] for r in full if r.status_code == 409} == {"exceeds_due"}
    totals = LedgerEntry.unscoped.filter(invoice__external_id=invoice["id"], kind="payment")
    assert sum(e.amount for e in totals) == Decimal("40.000")


@pytest.mark.parametrize(
    ("amount", "code"),
    [("abc", "invalid"), ("0", "not_positive"), ("-1", "not_positive"), ("1.2345", "too_precise")],
)
def test_bad_amounts_are_field_errors_and_write_nothing(cast, api, amount, code):
    invoice = open_invoice(cast, api)
    response = pay(api(cast.staff_a["secretary"]), cast, invoice["id"], amount)
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("amount", code)]
    assert not LedgerEntry.unscoped.filter(invoice__external_id=invoice["id"], kind="payment").exists()


def test_a_json_number_is_not_money_and_a_method_is_required(cast, api):
    invoice = open_invoice(cast, api)
    desk = api(cast.staff_a["secretary"])
    url = f"{base(cast.clinic_a)}/{invoice['id']}/payments"
    as_number = desk.post(url, {"amount": 12.5, "method": "cash"})
    assert as_number.status_code == 422 and as_number.json()["errors"][0]["field"].endswith("amount")
    online = desk.post(url, {"amount": "1.000", "method": "online"})  # online money only comes from PayTabs
    assert online.status_code == 422 and online.json()["errors"][0]["field"].endswith("method")
    malformed = desk.request("POST", url, raw="{not json")
    assert malformed.status_code == 400 and malformed.json()["errors"][0]["field"] == "body"
    bad_lines = desk.post(
        base(cast.clinic_a),
        {
            "patient_id": str(cast.patient.external_id),
            "lines": [{"description": "", "amount": "5"}, {"description": "X-ray", "amount": "-2"}],
        },
    )
    assert bad_lines.status_code == 422
    assert {(e["field"], e["code"]) for e in bad_lines.json()["errors"]} == {
        ("lines.0.description", "required"),
        ("lines.1.amount", "not_positive"),
    }
    assert Invoice.unscoped.count() == 1
    assert not LedgerEntry.unscoped.filter(invoice__external_id=invoice["id"], kind="payment").exists()


def test_refunds_and_discounts_say_why_and_keep_within_the_ledger(cast, api):
    invoice = open_invoice(cast, api, "50.000")
    admin = api(cast.staff_a["clinic_admin"])
    url = f"{base(cast.clinic_a)}/{invoice['id']}"
    assert pay(admin, cast, invoice["id"], "50.000").status_code == 201
    unexplained = admin.post(f"{url}/discounts", {"amount": "5.000", "note": "  "})
    assert unexplained.status_code == 422 and unexplained.json()["errors"][0]["field"] == "note"
    too_much = admin.post(f"{url}/refunds", {"amount": "50.001", "method": "cash", "note": "Mistake"})
    assert too_much.status_code == 409 and too_much.json()["code"] == "exceeds_paid"
    discounted = admin.post(f"{url}/discounts", {"amount": "10.000", "note": "Staff family"})
    assert discounted.status_code == 201
    body = discounted.json()
    assert body["status"] == "refund_due" and body["totals"]["due"]["amount"] == "-10.000"
    refunded = admin.post(f"{url}/refunds", {"amount": "10.000", "method": "card", "note": "Discount given"})
    assert refunded.status_code == 201 and refunded.json()["status"] == "paid"
    kinds = [(e["kind"], e["method"], e["note"]) for e in refunded.json()["entries"]]
    assert kinds[-2:] == [("discount", None, "Staff family"), ("refund", "card", "Discount given")]
    assert refunded.json()["entries"][-1]["receipt_url"].endswith(".pdf")


def test_the_invoice_list_filters_and_pages(cast, api):
    first = open_invoice(cast, api, "10.000")
    second = open_invoice(cast, api, "20.000")
    dependant = PatientFactory(full_name="Child", user=None, guardian=cast.patient)
    third = open_invoice(cast, api, "5.000", patient=dependant)
    desk = api(cast.staff_a["secretary"])
    pay(desk, cast, second["id"], "20.000")
    listed = desk.get(f"{base(cast.clinic_a)}?status=open").json()
    assert [i["id"] for i in listed["items"]] == [third["id"], first["id"]]
    assert listed["items"][0]["totals"]["due"]["amount"] == "5.000"
    assert [i["id"] for i in desk.get(f"{base(cast.clinic_a)}?status=paid").json()["items"]] == [second["id"]]
    page = desk.get(f"{base(cast.clinic_a)}?limit=2").json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = desk.get(f"{base(cast.clinic_a)}?limit=2&cursor={page['next_cursor']}").json()
    assert [i["id"] for i in rest["items"]] == [first["id"]] and rest["next_cursor"] is None
    mine = desk.get(f"{base(cast.clinic_a)}?patient_id={dependant.external_id}").json()
    assert [i["id"] for i in mine["items"]] == [third["id"]]
    today = timezones.to_local(timezones.now(), cast.clinic_a.time_zone).date()
    assert len(desk.get(f"{base(cast.clinic_a)}?since={today}&until={today}").json()["items"]) == 3
    tomorrow = today + dt.timedelta(days=1)
    assert desk.get(f"{base(cast.clinic_a)}?since={tomorrow}").json()["items"] == []
    assert desk.get(f"{base(cast.clinic_a)}?status=unpaid").status_code == 422
    assert desk.get(f"{base(cast.clinic_a)}?cursor=forged").status_code == 422


def test_the_invoice_list_costs_the_same_whatever_its_length(cast, api):
    from django.test.utils import CaptureQueriesContext

    desk = api(cast.staff_a["secretary"])
    desk.get(base(cast.clinic_a))  # the first call of a token records its use
    counts = []
    for _ in range(2):
        for _ in range(3):
            open_invoice(cast, api, "3.000", "4.000")
        with CaptureQueriesContext(connection) as queries:
            assert desk.get(base(cast.clinic_a)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8
    mine = api(cast.patient_user)
    mine.get("/api/v1/me/invoices")
    with CaptureQueriesContext(connection) as queries:
        assert len(mine.get("/api/v1/me/invoices").json()["items"]) == 6
    assert len(queries) <= 8


# --- access ---------------------------------------------------------------------------------------------------


def test_another_clinics_invoice_is_not_found(cast, api):
    invoice = open_invoice(cast, api)
    doctor_b = api(cast.doctor_b)
    assert doctor_b.get(f"{base(cast.clinic_a)}/{invoice['id']}").status_code == 404  # not their clinic
    # clinic B's own staff, with the right permission there, still cannot reach clinic A's invoice through B
    from shifa.access.models import Role
    from tests.factories import MembershipFactory, UserFactory

    secretary_b = UserFactory(full_name="Secretary of B")
    MembershipFactory(clinic=cast.clinic_b, user=secretary_b, role=Role.objects.get(code="secretary"))
    other = api(secretary_b)
    for path in ("", "/receipts/" + invoice["id"] + ".pdf"):
        assert other.get(f"{base(cast.clinic_b)}/{invoice['id']}{path}").status_code == 404
    assert pay(other, cast, invoice["id"], "1.000").status_code == 404  # clinic A's path: no role there
    response = other.post(
        f"{base(cast.clinic_b)}/{invoice['id']}/payments", {"amount": "1", "method": "cash"}
    )
    assert response.status_code == 404
    assert not LedgerEntry.unscoped.filter(invoice__external_id=invoice["id"], kind="payment").exists()


def test_roles_without_billing_are_refused(cast, api):
    invoice = open_invoice(cast, api)
    url = f"{base(cast.clinic_a)}/{invoice['id']}"
    for role in ("nurse", "assistant_doctor", "doctor"):
        assert api(cast.staff_a[role]).get(url).status_code == 403, role
    secretary = api(cast.staff_a["secretary"])
    assert secretary.post(f"{url}/discounts", {"amount": "1", "note": "x"}).status_code == 403
    assert secretary.post(f"{url}/refunds", {"amount": "1", "method": "cash", "note": "x"}).status_code == 403
    assert (
        api(cast.staff_a["nurse"]).post(f"{url}/payments", {"amount": "1", "method": "cash"}).status_code
        == 403
    )
    assert api(cast.patient_user).get(url).status_code == 404  # no role in the clinic at all
    assert api(cast.staff_a["secretary"]).get("/api/v1/me/invoices").status_code == 403
    assert api(cast.platform_admin).get(url).status_code == 404
    assert api().get(url).status_code == 401


def test_patients_see_their_own_and_their_dependants_invoices_only(cast, api):
    own = open_invoice(cast, api, "12.000")
    dependant = PatientFactory(full_name="Child", user=None, guardian=cast.patient)
    child = open_invoice(cast, api, "8.000", patient=dependant)
    stranger = PatientFactory(full_name="Stranger")
    theirs = open_invoice(cast, api, "9.000", patient=stranger)
    me = api(cast.patient_user)
    listed = me.get("/api/v1/me/invoices").json()
    assert {i["id"] for i in listed["items"]} == {own["id"], child["id"]}
    assert listed["items"][0]["clinic"]["name"] == "Clinic A"
    detail = me.get(f"/api/v1/me/invoices/{child['id']}")
    assert detail.status_code == 200 and detail.json()["totals"]["due"]["amount"] == "8.000"
    assert me.get(f"/api/v1/me/invoices/{theirs['id']}").status_code == 404
    assert me.get(f"/api/v1/me/invoices/{uuid.uuid4()}").status_code == 404
    other = api(cast.other_patient_user)
    assert other.get("/api/v1/me/invoices").json()["items"] == []
    assert other.get(f"/api/v1/me/invoices/{own['id']}").status_code == 404
    pay(api(cast.staff_a["secretary"]), cast, own["id"], "12.000")
    assert [i["id"] for i in me.get("/api/v1/me/invoices?status=open").json()["items"]] == [child["id"]]


# --- the invoice of an appointment ---------------------------------------------------------------------------


def _priced(cast, *, price: str | None = "20.000", status: str = "booked"):
    from shifa.scheduling.models import Appointment

    appointment = visit(cast)
    Appointment.unscoped.filter(pk=appointment.pk).update(
        price=Decimal(price) if price else None, status=status
    )
    return appointment


def test_an_appointment_is_invoiced_once_at_its_price(cast, api):
    appointment = _priced(cast, price="20.000")
    desk = api(cast.staff_a["secretary"])
    url = f"{base(cast.clinic_a)}/for-appointment"
    first = desk.post(url, {"appointment_id": str(appointment.external_id)})
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["appointment_id"] == str(appointment.external_id)
    assert body["totals"]["charged"]["amount"] == "20.000" and len(body["lines"]) == 1
    again = desk.post(url, {"appointment_id": str(appointment.external_id)})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert Invoice.unscoped.filter(appointment=appointment).count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_for_an_appointments_invoice_open_one(cast, api):
    appointment = _priced(cast, price="20.000")
    clients = [ApiClient(cast.staff_a["secretary"]) for _ in range(5)]
    for c in clients:
        c.token()
    url = f"{base(cast.clinic_a)}/for-appointment"
    answers = _parallel(
        [lambda c=c: c.post(url, {"appointment_id": str(appointment.external_id)}) for c in clients]
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert Invoice.unscoped.filter(appointment=appointment).count() == 1


def test_an_appointment_without_a_booked_price_is_charged_from_the_price_list(cast, api):
    from tests.support.booking import open_for_booking

    open_for_booking(cast)  # a consultation: 20.000 at the clinic, 15.500 by video
    appointment = _priced(cast, price=None)
    from shifa.scheduling.models import Appointment

    Appointment.unscoped.filter(pk=appointment.pk).update(visit_type="video")
    response = api(cast.staff_a["secretary"]).post(
        f"{base(cast.clinic_a)}/for-appointment", {"appointment_id": str(appointment.external_id)}
    )
    assert response.status_code == 201 and response.json()["totals"]["charged"]["amount"] == "15.500"


def test_appointments_that_cannot_be_invoiced_say_why(cast, api):
    desk = api(cast.staff_a["secretary"])
    url = f"{base(cast.clinic_a)}/for-appointment"
    unpriced = _priced(cast, price=None)
    response = desk.post(url, {"appointment_id": str(unpriced.external_id)})
    assert response.status_code == 409 and response.json()["code"] == "no_price"
    cancelled = _priced(cast, price="20.000", status="cancelled")
    response = desk.post(url, {"appointment_id": str(cancelled.external_id)})
    assert response.status_code == 409 and response.json()["code"] == "not_chargeable"
    elsewhere = visit(cast, clinic=cast.clinic_b)
    assert desk.post(url, {"appointment_id": str(elsewhere.external_id)}).status_code == 404
    assert desk.post(url, {"appointment_id": "nope"}).status_code == 422
    assert not Invoice.unscoped.exists()


# --- the platform's revenue -----------------------------------------------------------------------------------


def test_the_revenue_api_sums_the_ledger_by_clinic_and_month(cast, api):
    invoice = open_invoice(cast, api, "30.000")
    pay(api(cast.staff_a["secretary"]), cast, invoice["id"], "12.500")
    response = api(cast.platform_admin).get("/api/v1/platform/revenue")
    assert response.status_code == 200
    body = response.json()
    month = f"{timezones.to_local(timezones.now(), cast.clinic_a.time_zone):%Y-%m}"
    assert body["until"] == month
    [row] = body["items"]
    assert row["clinic"]["id"] == str(cast.clinic_a.external_id) and row["month"] == month
    assert (row["charged"]["amount"], row["paid"]["amount"], row["outstanding"]["amount"]) == (
        "30.000",
        "12.500",
        "17.500",
    )
    assert api(cast.staff_a["clinic_admin"]).get("/api/v1/platform/revenue").status_code == 403
    backwards = api(cast.platform_admin).get("/api/v1/platform/revenue?since=2026-05&until=2026-01")
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "since"
    assert api(cast.platform_admin).get("/api/v1/platform/revenue?since=2026-13").status_code == 422
