"""Subscribing on the web through PayTabs (hosted page with a saved card), the handler of verified ``sub-``
transactions (idempotent, order-independent), and our own renewal run, against the local PayTabs simulator."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from shifa.access.entitlements import PRIORITY_URGENT_CARE, has_entitlement
from shifa.billing import paytabs
from shifa.core import timezones
from shifa.subscriptions import actions
from shifa.subscriptions.models import Message, Payment, Subscription, SubscriptionEvent
from tests.conftest import time_machine
from tests.support.paytabs import choose

from .conftest import make_plan

MINE = "/api/v1/me/subscription"


def _subscribe(api, user, plan, status=201, **headers):
    response = api(user).post(f"{MINE}/paytabs", {"plan_id": str(plan.external_id)}, headers=headers)
    assert response.status_code == status, response.content
    return response.json()


def _paid(api, cast, plan) -> Subscription:
    """Subscribe, pay on the simulator's page, and let the verified transaction reach the handler."""
    made = _subscribe(api, cast.patient_user, plan)
    choose(made["payment_url"], "pay")
    subscription = Subscription.objects.get(external_id=made["subscription"]["id"])
    cart = actions.cart_id(subscription, 1, subscription.page_attempts)
    actions.paytabs_result(paytabs.PayTabs().query(cart_id=cart))
    subscription.refresh_from_db()
    return subscription


def _counts():
    return Payment.objects.count(), SubscriptionEvent.objects.count(), Message.objects.count()


def test_subscribing_by_card_activates_after_the_payment(cast, api, plan):
    made = _subscribe(api, cast.patient_user, plan)
    assert made["subscription"]["state"] == "pending"
    assert "/simulators/paytabs/payment/page/" in made["payment_url"]
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
    fields = choose(made["payment_url"], "pay")
    # the browser comes back (a signed return): we ask PayTabs, and the subscription is active on arrival
    response = api().client.post("/app/subscription/return", fields)
    assert response.status_code == 302 and response["Location"] == "/app/subscription"
    subscription = Subscription.objects.get()
    assert subscription.state == "active" and subscription.paid_periods == 1
    assert subscription.paytabs_token and subscription.first_tran_ref
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    payment = Payment.objects.get()
    assert payment.amount == Decimal("9.900") and payment.kind == "payment" and payment.period == 1
    mine = api(cast.patient_user).get(MINE).json()
    assert mine["subscription"]["state"] == "active" and mine["included_video_visits_left"] == 2
    assert mine["entitlements"] == {
        "family_doctor": True,
        "included_video_visits": True,
        "priority_urgent_care": True,
    }


def test_a_forged_return_changes_nothing(cast, api, plan):
    made = _subscribe(api, cast.patient_user, plan)
    fields = choose(made["payment_url"], "pay")
    fields["signature"] = "0" * 64
    api().client.post("/app/subscription/return", fields)
    assert Subscription.objects.get().state == "pending"


def test_the_handler_is_idempotent_and_order_independent(cast, api, plan):
    subscription = _paid(api, cast, plan)
    cart = actions.cart_id(subscription, 1, subscription.page_attempts)
    result = paytabs.PayTabs().query(cart_id=cart)
    before = _counts()
    actions.paytabs_result(result)
    actions.paytabs_result(paytabs.parse_result(json.loads(json.dumps(result.raw))))
    assert _counts() == before
    # a late "pending" and a stray decline of the same, already paid period change nothing
    for status in ("P", "D"):
        late = dict(result.raw, tran_ref=f"{result.tran_ref}{status}")
        late["payment_result"] = dict(result.raw["payment_result"], response_status=status)
        actions.paytabs_result(paytabs.parse_result(late))
    subscription.refresh_from_db()
    assert subscription.state == "active" and Payment.objects.count() == 1


def test_a_signed_callback_reaches_the_handler(cast, api, plan, client):
    made = _subscribe(api, cast.patient_user, plan)
    choose(made["payment_url"], "pay")
    subscription = Subscription.objects.get()
    cart = actions.cart_id(subscription, 1, subscription.page_attempts)
    raw = json.dumps(paytabs.PayTabs().query(cart_id=cart).raw).encode()
    forged = client.post(
        "/api/v1/payments/paytabs/callback", raw, content_type="application/json", HTTP_SIGNATURE="0" * 64
    )
    assert forged.status_code >= 400 or Subscription.objects.get().state == "pending"
    assert Subscription.objects.get().state == "pending"
    for _ in range(2):  # PayTabs retries: credited once
        response = client.post(
            "/api/v1/payments/paytabs/callback",
            raw,
            content_type="application/json",
            HTTP_SIGNATURE=paytabs.sign(raw),
        )
        assert response.status_code == 200, response.content
    assert Subscription.objects.get().state == "active" and Payment.objects.count() == 1


def test_a_declined_first_payment_stays_pending_and_can_be_tried_again(cast, api, plan):
    made = _subscribe(api, cast.patient_user, plan)
    choose(made["payment_url"], "decline")
    subscription = Subscription.objects.get()
    actions.paytabs_result(paytabs.PayTabs().query(cart_id=actions.cart_id(subscription, 1, 1)))
    subscription.refresh_from_db()
    assert subscription.state == "pending" and Payment.objects.count() == 0
    again = _subscribe(api, cast.patient_user, plan)
    assert again["subscription"]["id"] == made["subscription"]["id"]  # the same subscription, a new page
    choose(again["payment_url"], "pay")
    actions.paytabs_result(paytabs.PayTabs().query(cart_id=actions.cart_id(subscription, 1, 2)))
    subscription.refresh_from_db()
    assert subscription.state == "active"


def test_double_submit_with_an_idempotency_key_opens_one_page(cast, api, plan):
    client = api(cast.patient_user)
    body = {"plan_id": str(plan.external_id)}
    first = client.post(f"{MINE}/paytabs", body, headers={"Idempotency-Key": "sub-1"}).json()
    second = client.post(f"{MINE}/paytabs", body, headers={"Idempotency-Key": "sub-1"}).json()
    assert first == second
    assert Subscription.objects.get().page_attempts == 1


def test_one_cannot_subscribe_twice_or_to_a_retired_plan(cast, api, plan):
    _paid(api, cast, plan)
    refused = _subscribe(
        api, cast.patient_user, make_plan(app_store_product_id="x", google_play_product_id="y"), 409
    )
    assert refused["code"] == "already_subscribed"
    retired = make_plan(app_store_product_id="", google_play_product_id="", retired_at=timezones.now())
    other = api(cast.other_patient_user).post(f"{MINE}/paytabs", {"plan_id": str(retired.external_id)})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "plan_id"


def test_paytabs_down_is_503_and_writes_nothing(cast, api, plan, monkeypatch):
    import httpx

    def down(request):
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(paytabs, "transport", httpx.MockTransport(down))
    response = api(cast.patient_user).post(f"{MINE}/paytabs", {"plan_id": str(plan.external_id)})
    assert response.status_code == 503
    assert Subscription.objects.count() == 0


# --- renewals ---------------------------------------------------------------------------------------------------


def test_the_renewal_run_charges_each_period_once(cast, api, plan):
    subscription = _paid(api, cast, plan)
    first_end = subscription.current_period_end
    assert actions.paytabs_renewals_run(at=first_end - dt.timedelta(hours=1))["charged"] == 0
    with time_machine(first_end + dt.timedelta(minutes=5)):
        assert actions.paytabs_renewals_run()["charged"] == 1
        assert actions.paytabs_renewals_run()["charged"] == 0  # not due again
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    subscription.refresh_from_db()
    assert subscription.state == "active" and subscription.paid_periods == 2
    assert subscription.current_period_end > first_end + dt.timedelta(days=27)
    payments = list(Payment.objects.order_by("id").values_list("period", "amount"))
    assert payments == [(1, Decimal("9.900")), (2, Decimal("9.900"))]


def test_a_repeated_charge_after_a_crash_asks_paytabs_instead_of_charging_again(cast, api, plan):
    subscription = _paid(api, cast, plan)
    at = subscription.current_period_end + dt.timedelta(minutes=5)
    # a charge went through at PayTabs but our record of it was lost (the transaction rolled back)
    paytabs.PayTabs().recurring(
        token=subscription.paytabs_token,
        tran_ref=subscription.first_tran_ref,
        cart_id=actions.cart_id(subscription, 2, 1),
        amount=plan.price,
        description="renewal",
        callback_url="",
    )
    with time_machine(at):
        actions.paytabs_renewals_run()
    subscription.refresh_from_db()
    assert subscription.paid_periods == 2 and subscription.state == "active"
    assert Payment.objects.filter(period=2).count() == 1


def test_declined_renewals_give_grace_then_hold_then_expiry(cast, api, plan, settings):
    subscription = _paid(api, cast, plan)
    Subscription.objects.filter(pk=subscription.pk).update(paytabs_token="a-card-that-is-gone")
    end = subscription.current_period_end
    with time_machine(end + dt.timedelta(minutes=5)):
        actions.paytabs_renewals_run()
        subscription.refresh_from_db()
        assert subscription.state == "grace"
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    grace_until = subscription.grace_until
    assert grace_until == end + dt.timedelta(days=settings.SUBSCRIPTION_GRACE_DAYS)
    with time_machine(end + dt.timedelta(days=1, minutes=10)):
        actions.paytabs_renewals_run()  # another try, declined: the grace period does not grow
    subscription.refresh_from_db()
    assert subscription.state == "grace" and subscription.grace_until == grace_until
    assert subscription.renewal_tries == 2
    with time_machine(grace_until + dt.timedelta(minutes=1)):
        actions.paytabs_renewals_run()
        subscription.refresh_from_db()
        assert subscription.state == "on_hold"
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
    hold_over = end + dt.timedelta(
        days=settings.SUBSCRIPTION_GRACE_DAYS + settings.SUBSCRIPTION_HOLD_DAYS, minutes=1
    )
    with time_machine(hold_over):
        actions.paytabs_renewals_run()
    subscription.refresh_from_db()
    assert subscription.state == "expired"
    assert Payment.objects.count() == 1


def test_renewal_switched_off_is_not_charged_and_ends_with_the_period(cast, api, plan):
    subscription = _paid(api, cast, plan)
    response = api(cast.patient_user).put(f"{MINE}/auto-renew", {"auto_renew": False})
    assert response.status_code == 200 and response.json()["auto_renew"] is False
    end = subscription.current_period_end
    with time_machine(end - dt.timedelta(minutes=1)):
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    with time_machine(end + dt.timedelta(minutes=5)):
        assert actions.paytabs_renewals_run()["charged"] == 0
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
    subscription.refresh_from_db()
    assert subscription.state == "expired" and Payment.objects.count() == 1


def test_store_subscriptions_are_not_switched_off_here(cast, api, plan):
    now = timezones.now()
    Subscription.objects.create(
        patient=cast.patient,
        plan=plan,
        source="app_store",
        state="active",
        original_transaction_id="1",
        current_period_end=now + dt.timedelta(days=5),
        as_of=now,
    )
    response = api(cast.patient_user).put(f"{MINE}/auto-renew", {"auto_renew": False})
    assert response.status_code == 409 and response.json()["code"] == "managed_by_store"


@pytest.mark.parametrize("cart", ["sub-nothex-1-1", "sub-" + "0" * 32 + "-1-1", "inv-1", "sub"])
def test_results_of_carts_that_are_not_ours_change_nothing(cart, cast, api, plan):
    body = {
        "tran_ref": "TST0001",
        "cart_id": cart,
        "profile_id": 1,
        "cart_amount": "9.900",
        "cart_currency": "JOD",
        "tran_type": "Sale",
        "tran_class": "ecom",
        "payment_result": {"response_status": "A", "response_code": "1", "response_message": "ok"},
    }
    actions.paytabs_result(paytabs.parse_result(body))
    assert _counts() == (0, 0, 0)


def test_a_page_opened_for_a_cheap_plan_never_pays_for_a_dearer_one(cast, api, plan):
    dear = make_plan(
        name_en="Shifa Family yearly",
        price=Decimal("500.000"),
        period="yearly",
        app_store_product_id="jo.shifa.family.y",
        google_play_product_id="shifa_family_y",
    )
    cheap_page = _subscribe(api, cast.patient_user, plan)["payment_url"]
    _subscribe(api, cast.patient_user, dear)  # asked for the dear plan, but pays the cheap page
    fields = choose(cheap_page, "pay")
    api().client.post("/app/subscription/return", fields)
    active = Subscription.objects.get(state="active")
    assert active.plan == plan and Payment.objects.get().amount == plan.price
    assert Subscription.objects.get(plan=dear).state == "pending"


def test_a_renewal_still_pending_is_asked_about_not_charged_again(cast, api, plan, monkeypatch):
    subscription = _paid(api, cast, plan)
    first_end = subscription.current_period_end
    charges = []

    def pending(self, *, cart_id, amount, **kwargs):
        charges.append(cart_id)
        return paytabs.parse_result(
            {
                "tran_ref": f"TST-{len(charges)}",
                "cart_id": cart_id,
                "cart_amount": str(amount),
                "cart_currency": "JOD",
                "tran_type": "Sale",
                "tran_class": "Recurring",
                "payment_result": {
                    "response_status": "P",
                    "response_code": "0",
                    "response_message": "Pending",
                },
            },
            profile_id=self.profile_id,
        )

    def still_pending(self, *, tran_ref=None, cart_id=None):
        return pending(self, cart_id=cart_id, amount=plan.price)

    monkeypatch.setattr(paytabs.PayTabs, "recurring", pending)
    with time_machine(first_end + dt.timedelta(minutes=5)):
        actions.paytabs_renewals_run()
    assert len(charges) == 1
    monkeypatch.setattr(paytabs.PayTabs, "query", still_pending)
    with time_machine(first_end + dt.timedelta(days=1, hours=1)):
        actions.paytabs_renewals_run()
    assert charges == [
        actions.cart_id(subscription, 2, 1),
        actions.cart_id(subscription, 2, 1),
    ]  # asked, not charged
    assert Payment.objects.filter(period=2).count() == 0
