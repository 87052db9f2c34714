"""Online payments against the PayTabs simulator (PAY-1): the hosted page books the hold; callbacks are verified,
credited once whatever their number and order; a forged one changes nothing; refunds may settle later; an expired
page gives the time back."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from shifa.billing import actions, paytabs
from shifa.billing.models import Invoice, LedgerEntry, OnlinePayment
from shifa.core import timezones
from shifa.core.errors import ServiceUnavailable
from shifa.scheduling.models import Appointment
from shifa.simulators.paytabs import actions as sim
from shifa.simulators.paytabs import queries as sim_queries
from shifa.simulators.paytabs.models import SimTransaction
from tests.support.booking import open_for_booking
from tests.support.inprocess import DjangoTransport

pytestmark = pytest.mark.django_db
CALLBACK = "/api/v1/payments/paytabs/callback"


@pytest.fixture
def clinic(cast):
    return open_for_booking(cast)


def local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    day = timezones.now().astimezone(timezones.zone("Asia/Amman")).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezones.zone("Asia/Amman"))


def hold(api, user, clinic, starts_at, visit_type="video"):
    answer = api(user).post(
        "/api/v1/appointments",
        {
            "clinic_id": str(clinic.external_id),
            "doctor_id": str(clinic.doctor.external_id),
            "visit_type": visit_type,
            "starts_at": starts_at.isoformat(),
            "service_id": str(clinic.service.external_id),
        },
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["status"] == "held"
    return answer.json()


def checkout(api, user, appointment_id):
    return api(user).post(f"/api/v1/me/appointments/{appointment_id}/checkout")


def tran_ref_of(page: dict) -> str:
    return urlsplit(page["redirect_url"]).path.rstrip("/").rsplit("/", 1)[-1]


def deliver_all(tran_ref: str) -> list[str]:
    """Let the simulator send every callback it owes for the transaction (each once)."""
    return [sim.deliver(d.pk) for d in sim_queries.deliveries_of(tran_ref) if d.status == "pending"]


def entries(appointment_id) -> list[tuple[str, Decimal, str]]:
    invoice = Invoice.unscoped.get(appointment__external_id=appointment_id)
    return list(
        LedgerEntry.unscoped.filter(invoice=invoice).order_by("pk").values_list("kind", "amount", "reference")
    )


def status_of(appointment_id) -> str:
    return Appointment.unscoped.get(external_id=appointment_id).status


def post_callback(anon, raw: bytes, signature: str | None):
    headers = {"Signature": signature} if signature is not None else {}
    return anon.post(CALLBACK, raw, content_type="application/json", headers=headers)


@pytest.fixture
def anon_client():
    from django.test import Client

    return Client()


def test_paying_on_the_simulator_page_books_the_video_visit_and_credits_the_invoice(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(2, 9))
    # A video visit is paid to be confirmed.
    refused = api(cast.patient_user).post(f"/api/v1/appointments/{held['id']}/confirm")
    assert refused.status_code == 409 and refused.json()["code"] == "payment_required"
    page = checkout(api, cast.patient_user, held["id"])
    assert page.status_code == 201, page.json()
    body = page.json()
    assert body["status"] == "page" and body["amount"] == "15.500" and body["currency"] == "JOD"
    # A double click gives the same page, not a second cart.
    again = checkout(api, cast.patient_user, held["id"])
    assert again.json()["redirect_url"] == body["redirect_url"]
    tran_ref = tran_ref_of(body)
    sim.page_choose(tran_ref=tran_ref, choice="pay")
    assert status_of(held["id"]) == "held"  # nothing is credited before PayTabs says so
    assert deliver_all(tran_ref) == ["delivered"]
    assert status_of(held["id"]) == "booked"
    assert entries(held["id"]) == [
        ("charge", Decimal("15.500"), ""),
        ("payment", Decimal("15.500"), tran_ref),
    ]
    mine = api(cast.patient_user).get(f"/api/v1/me/online-payments/{body['id']}")
    assert mine.json()["status"] == "authorised" and mine.json()["transaction"] == tran_ref
    # Nothing is left to pay: checking out again books nothing new and opens no page.
    assert checkout(api, cast.patient_user, held["id"]).json()["status"] == "nothing_due"


def test_duplicate_reordered_and_delayed_callbacks_credit_once(cast, api, clinic, anon_client):
    held = hold(api, cast.patient_user, clinic, local(2, 10))
    tran_ref = tran_ref_of(checkout(api, cast.patient_user, held["id"]).json())
    declined_raw, declined_sig = sim_queries.signed_callback(
        tran_ref, response_status="D", response_code="400"
    )
    sim.page_choose(tran_ref=tran_ref, choice="pay")
    approved_raw, approved_sig = sim_queries.signed_callback(tran_ref)
    # Reordered: a decline reported first, then the authorisation; then the decline again, late.
    assert post_callback(anon_client, declined_raw, declined_sig).status_code == 200
    assert OnlinePayment.unscoped.get(tran_ref=tran_ref).status == "declined"
    assert status_of(held["id"]) == "held"
    for _ in range(3):  # PayTabs retries until it hears 200
        assert post_callback(anon_client, approved_raw, approved_sig).status_code == 200
    assert post_callback(anon_client, declined_raw, declined_sig).status_code == 200
    assert deliver_all(tran_ref) == ["delivered"]  # and the simulator's own copy
    payment = OnlinePayment.unscoped.get(tran_ref=tran_ref)
    assert payment.status == "authorised" and payment.entry is not None
    assert [e for e in entries(held["id"]) if e[0] == "payment"] == [("payment", Decimal("15.500"), tran_ref)]
    assert status_of(held["id"]) == "booked"


def test_a_delayed_payment_after_the_hold_lapsed_books_a_still_free_time(cast, api, clinic, anon_client):
    held = hold(api, cast.patient_user, clinic, local(2, 11))
    tran_ref = tran_ref_of(checkout(api, cast.patient_user, held["id"]).json())
    Appointment.unscoped.filter(external_id=held["id"]).update(
        hold_expires_at=timezones.now() - dt.timedelta(minutes=1)
    )
    sim.page_choose(tran_ref=tran_ref, choice="pay")
    deliver_all(tran_ref)
    assert status_of(held["id"]) == "booked"


def test_a_payment_for_a_time_someone_else_took_is_given_back(cast, api, clinic, anon_client):
    held = hold(api, cast.patient_user, clinic, local(2, 12))
    tran_ref = tran_ref_of(checkout(api, cast.patient_user, held["id"]).json())
    # The page expired for us (the hold is released) and another patient takes the time…
    sim.page_choose(tran_ref=tran_ref, choice="expire")
    deliver_all(tran_ref)
    assert status_of(held["id"]) == "expired"
    hold(api, cast.other_patient_user, clinic, local(2, 12))
    # …then an authorisation for our cart arrives late: credited, then refunded in full.
    raw, signature = sim_queries.signed_callback(tran_ref, response_status="A", response_code="831000")
    SimTransaction.objects.filter(tran_ref=tran_ref).update(status="A")
    assert post_callback(anon_client, raw, signature).status_code == 200
    payment = OnlinePayment.unscoped.get(tran_ref=tran_ref)
    assert payment.status == "authorised" and payment.refund_due
    assert status_of(held["id"]) == "expired"
    refund = actions.refund_lost_payment(payment_pk=payment.pk)
    assert refund.status == "authorised" and refund.amount == Decimal("15.500")
    assert actions.refund_lost_payment(payment_pk=payment.pk) is None  # given back once
    kinds = [e[0] for e in entries(held["id"])]
    assert kinds == ["charge", "payment", "refund"]


@pytest.mark.parametrize("forgery", ["wrong_key", "unsigned", "other_profile", "tampered"])
def test_a_forged_callback_changes_nothing(cast, api, clinic, anon_client, forgery):
    held = hold(api, cast.patient_user, clinic, local(3, 9))
    tran_ref = tran_ref_of(checkout(api, cast.patient_user, held["id"]).json())
    SimTransaction.objects.filter(tran_ref=tran_ref).update(status="A")
    if forgery == "wrong_key":
        raw, signature = sim_queries.signed_callback(tran_ref, key="not-the-server-key")
    elif forgery == "unsigned":
        raw, signature = sim_queries.signed_callback(tran_ref)[0], None
    elif forgery == "other_profile":
        raw, signature = sim_queries.signed_callback(tran_ref, profile_id=999)
    else:
        raw, signature = sim_queries.signed_callback(tran_ref)
        raw = raw.replace(b'"A"', b'"A" ')  # any byte changed breaks the signature
    answer = post_callback(anon_client, raw, signature)
    assert answer.status_code == 401 and answer.json()["code"] == "bad_signature"
    assert OnlinePayment.unscoped.get(tran_ref=tran_ref).status == "page"
    assert [e[0] for e in entries(held["id"])] == ["charge"]
    assert status_of(held["id"]) == "held"


def test_the_browser_return_alone_marks_nothing_paid(cast, api, clinic, anon_client):
    held = hold(api, cast.patient_user, clinic, local(3, 10))
    body = checkout(api, cast.patient_user, held["id"]).json()
    tran_ref = tran_ref_of(body)
    fields = {
        "tranRef": tran_ref,
        "cartId": body["cart_id"],
        "respStatus": "A",
        "respCode": "831000",
        "respMessage": "Authorised",
    }
    fields["signature"] = paytabs.return_signature(fields)  # even correctly signed
    answer = anon_client.post("/app/payments/return", fields)
    assert answer.status_code == 302
    assert OnlinePayment.unscoped.get(tran_ref=tran_ref).status == "page"  # PayTabs, asked, says still open
    assert status_of(held["id"]) == "held"
    # After paying, the return asks PayTabs and shows the outcome even before the callback arrives.
    sim.page_choose(tran_ref=tran_ref, choice="pay")
    answer = anon_client.post("/app/payments/return", fields)
    assert answer["Location"] == f"/app/payments/{body['id']}"
    assert OnlinePayment.unscoped.get(tran_ref=tran_ref).status == "authorised"
    assert status_of(held["id"]) == "booked"


def test_an_expired_payment_page_gives_the_time_back(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(3, 11))
    tran_ref = tran_ref_of(checkout(api, cast.patient_user, held["id"]).json())
    sim.page_choose(tran_ref=tran_ref, choice="expire")
    assert deliver_all(tran_ref) == ["delivered"]
    assert OnlinePayment.unscoped.get(tran_ref=tran_ref).status == "expired"
    assert status_of(held["id"]) == "expired"
    hold(api, cast.other_patient_user, clinic, local(3, 11))  # the time is free for others at once
    again = checkout(api, cast.patient_user, held["id"])
    assert again.status_code == 409 and again.json()["code"] == "hold_expired"


def test_a_declined_card_keeps_the_hold_for_another_try(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(3, 12))
    first = tran_ref_of(checkout(api, cast.patient_user, held["id"]).json())
    sim.page_choose(tran_ref=first, choice="decline")
    deliver_all(first)
    assert status_of(held["id"]) == "held"
    second = checkout(api, cast.patient_user, held["id"]).json()
    assert second["status"] == "page" and tran_ref_of(second) != first
    sim.page_choose(tran_ref=tran_ref_of(second), choice="pay")
    deliver_all(tran_ref_of(second))
    assert status_of(held["id"]) == "booked"


@override_settings(PAYTABS_SIMULATOR_REFUNDS="pending")
def test_a_refund_that_comes_back_pending_settles_later(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(4, 9))
    body = checkout(api, cast.patient_user, held["id"]).json()
    sim.page_choose(tran_ref=tran_ref_of(body), choice="pay")
    deliver_all(tran_ref_of(body))
    admin = cast.staff_a["clinic_admin"]
    path = f"/api/v1/clinics/{clinic.external_id}/online-payments/{body['id']}/refunds"
    too_much = api(admin).post(path, {"amount": "20.000"})
    assert too_much.status_code == 409 and too_much.json()["code"] == "exceeds_paid"
    refund = api(admin).post(path, {"amount": "5.500", "reason": "Shorter visit"})
    assert refund.status_code == 201, refund.json()
    assert refund.json()["status"] == "pending"
    assert [e[0] for e in entries(held["id"])] == ["charge", "payment"]  # not yet
    refund_ref = refund.json()["transaction"]
    sim.refund_settle(tran_ref=refund_ref)
    assert deliver_all(refund_ref) == ["delivered"]
    deliver_all(refund_ref)
    assert entries(held["id"])[-1] == ("refund", Decimal("5.500"), refund_ref)
    assert [e[0] for e in entries(held["id"])].count("refund") == 1
    # The secretary may not give money back unless the clinic lets her.
    assert api(cast.staff_a["secretary"]).post(path, {"amount": "1.000"}).status_code == 403


def test_payments_of_other_patients_and_other_clinics_are_not_found(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(4, 10))
    stranger = cast.other_patient_user
    assert checkout(api, stranger, held["id"]).status_code == 404
    body = checkout(api, cast.patient_user, held["id"]).json()
    assert api(stranger).get(f"/api/v1/me/online-payments/{body['id']}").status_code == 404
    # Clinic A's admin is nobody at clinic B.
    path = f"/api/v1/clinics/{cast.clinic_b.external_id}/online-payments/{body['id']}/refunds"
    assert api(cast.staff_a["clinic_admin"]).post(path, {}).status_code == 404


def test_paytabs_out_of_reach_keeps_the_hold_and_says_so(cast, api, clinic, monkeypatch):
    import httpx

    def down(request):
        raise httpx.ConnectError("no route to host")

    held = hold(api, cast.patient_user, clinic, local(4, 11))
    monkeypatch.setattr(paytabs, "transport", httpx.MockTransport(down))
    answer = checkout(api, cast.patient_user, held["id"])
    assert answer.status_code == 503
    assert status_of(held["id"]) == "held"
    assert OnlinePayment.unscoped.get().status == "failed"
    monkeypatch.setattr(paytabs, "transport", DjangoTransport())
    assert checkout(api, cast.patient_user, held["id"]).status_code == 201


def test_a_lost_callback_is_found_by_the_reconciliation(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(4, 12))
    body = checkout(api, cast.patient_user, held["id"]).json()
    sim.page_choose(tran_ref=tran_ref_of(body), choice="pay")  # its callback never arrives
    later = timezones.now() + dt.timedelta(minutes=30)
    assert actions.payments_reconcile(now=later) == 1
    assert OnlinePayment.unscoped.get(external_id=body["id"]).status == "authorised"
    assert status_of(held["id"]) == "booked"
    assert actions.payments_reconcile(now=later) == 0


def test_the_callback_body_is_checked_like_any_input(anon_client):
    raw = json.dumps({"tran_ref": "X", "profile_id": "not a number"}).encode()
    answer = post_callback(anon_client, raw, paytabs.sign(raw))
    assert answer.status_code == 401
    raw = b"not json"
    assert post_callback(anon_client, raw, paytabs.sign(raw)).status_code == 401


def paid_video_visit(api, user, clinic, starts_at):
    held = hold(api, user, clinic, starts_at)
    body = checkout(api, user, held["id"]).json()
    sim.page_choose(tran_ref=tran_ref_of(body), choice="pay")
    deliver_all(tran_ref_of(body))
    assert status_of(held["id"]) == "booked"
    return held, body


def test_cancelling_a_paid_visit_gives_the_money_back_to_the_card(cast, api, clinic):
    held, body = paid_video_visit(api, cast.patient_user, clinic, local(5, 9))
    cancelled = api(cast.patient_user).post(f"/api/v1/appointments/{held['id']}/cancel", {"reason": "Better"})
    assert cancelled.status_code == 200, cancelled.json()
    payment = OnlinePayment.unscoped.get(external_id=body["id"])
    assert payment.refund_due
    actions.refund_lost_payment(payment_pk=payment.pk)  # the job the cancellation queued
    assert [e[0] for e in entries(held["id"])] == ["charge", "payment", "discount", "refund"]
    invoice = Invoice.unscoped.get(appointment__external_id=held["id"])
    from shifa.billing.queries import invoice_totals

    totals = invoice_totals(invoice)
    assert totals.due == 0 and totals.net_paid == 0


def test_a_moved_visit_keeps_its_invoice_and_what_was_paid(cast, api, clinic):
    held, body = paid_video_visit(api, cast.patient_user, clinic, local(5, 10))
    moved = api(cast.patient_user).post(
        f"/api/v1/appointments/{held['id']}/reschedule", {"starts_at": local(5, 14).isoformat()}
    )
    assert moved.status_code == 201, moved.json()
    new_id = moved.json()["id"]
    # Nothing more to pay for the new time, and no second invoice.
    again = checkout(api, cast.patient_user, new_id)
    assert again.json().get("status") == "nothing_due", again.json()
    assert Invoice.unscoped.count() == 1
    assert not OnlinePayment.unscoped.get(external_id=body["id"]).refund_due


def test_a_video_visit_the_plan_includes_is_paid_by_the_plan_and_given_back_when_cancelled(cast, api, clinic):
    from shifa.subscriptions.models import Subscription
    from shifa.subscriptions.queries import included_video_visits_left
    from tests.subscriptions.conftest import make_plan

    now = timezones.now()
    Subscription.objects.create(
        patient=cast.patient,
        plan=make_plan(included_video_visits=1),
        source="paytabs",
        state="active",
        anchor=now,
        paid_periods=1,
        current_period_end=now + dt.timedelta(days=20),
        as_of=now,
    )
    held = hold(api, cast.patient_user, clinic, local(5, 11))
    answer = checkout(api, cast.patient_user, held["id"])
    assert answer.status_code == 200 and answer.json()["status"] == "nothing_due"
    assert status_of(held["id"]) == "booked"
    assert entries(held["id"])[-1] == ("payment", Decimal("15.500"), f"plan-{held['id'].replace('-', '')}")
    assert included_video_visits_left(cast.patient) == 0
    api(cast.patient_user).post(f"/api/v1/appointments/{held['id']}/cancel", {})
    assert included_video_visits_left(cast.patient) == 1
    assert [e[0] for e in entries(held["id"])] == ["charge", "payment", "refund", "discount"]


def test_the_insurer_share_is_split_off_before_the_patient_pays(cast, api, clinic):
    answer = api(cast.patient_user).post(
        "/api/v1/appointments",
        {
            "clinic_id": str(clinic.external_id),
            "doctor_id": str(clinic.doctor.external_id),
            "visit_type": "video",
            "starts_at": local(5, 12).isoformat(),
            "service_id": str(clinic.service.external_id),
            "insurer": "jic",
        },
    )
    held = answer.json()
    body = checkout(api, cast.patient_user, held["id"]).json()
    assert body["amount"] == "3.100"  # the 20% co-pay of 15.500
    assert [e[:2] for e in entries(held["id"])] == [
        ("charge", Decimal("15.500")),
        ("insurer_share", Decimal("12.400")),
    ]


def test_a_refund_paytabs_never_received_is_tried_again(cast, api, clinic, monkeypatch):
    import httpx

    held, body = paid_video_visit(api, cast.patient_user, clinic, local(6, 9))
    monkeypatch.setattr(paytabs, "transport", httpx.MockTransport(lambda r: httpx.Response(502)))
    api(cast.patient_user).post(f"/api/v1/appointments/{held['id']}/cancel", {})
    payment = OnlinePayment.unscoped.get(external_id=body["id"])
    with pytest.raises(ServiceUnavailable):  # the job fails while PayTabs is out of reach
        actions.refund_lost_payment(payment_pk=payment.pk)
    stuck = OnlinePayment.unscoped.get(refund_of=payment)
    assert stuck.status == "pending" and not stuck.tran_ref
    monkeypatch.setattr(paytabs, "transport", DjangoTransport())
    actions.payments_reconcile(now=timezones.now() + dt.timedelta(minutes=10))
    assert OnlinePayment.unscoped.get(pk=stuck.pk).status == "failed"
    actions.refund_lost_payment(payment_pk=payment.pk)  # the job the reconciliation queued again
    again = OnlinePayment.unscoped.filter(refund_of=payment).exclude(pk=stuck.pk).get()
    assert again.status == "authorised" and again.amount == Decimal("15.500")
    assert [e[0] for e in entries(held["id"])].count("refund") == 1


def test_cancelling_after_a_partial_refund_gives_back_the_rest(cast, api, clinic):
    held, body = paid_video_visit(api, cast.patient_user, clinic, local(6, 10))
    admin = cast.staff_a["clinic_admin"]
    path = f"/api/v1/clinics/{clinic.external_id}/online-payments/{body['id']}/refunds"
    assert api(admin).post(path, {"amount": "5.000"}).json()["status"] == "authorised"
    api(cast.patient_user).post(f"/api/v1/appointments/{held['id']}/cancel", {})
    payment = OnlinePayment.unscoped.get(external_id=body["id"])
    rest = actions.refund_lost_payment(payment_pk=payment.pk)
    assert rest.amount == Decimal("10.500") and rest.status == "authorised"
    from shifa.billing.queries import invoice_totals

    totals = invoice_totals(Invoice.unscoped.get(appointment__external_id=held["id"]))
    assert totals.net_paid == 0 and totals.due == 0


def test_paying_for_a_lapsed_hold_is_refused_and_opens_no_invoice(cast, api, clinic):
    held = hold(api, cast.patient_user, clinic, local(6, 11))
    Appointment.unscoped.filter(external_id=held["id"]).update(
        hold_expires_at=timezones.now() - dt.timedelta(seconds=1)
    )
    answer = checkout(api, cast.patient_user, held["id"])
    assert answer.status_code == 409 and answer.json()["code"] == "hold_expired"
    assert not Invoice.unscoped.exists() and not OnlinePayment.unscoped.exists()
