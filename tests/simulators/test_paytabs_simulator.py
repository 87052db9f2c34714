"""The local PayTabs simulator, driven through our own client (``shifa.billing.paytabs``) in-process: it must
refuse what PayTabs refuses, sign what PayTabs signs, and retry callbacks the way PayTabs does."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from decimal import Decimal
from urllib.parse import quote_plus, urlsplit

import httpx
import pytest
from django.conf import settings
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.access.models import ApiResource
from shifa.billing import paytabs
from shifa.billing.paytabs import BadSignature, PayTabs, PayTabsRefused
from shifa.core import timezones
from shifa.core.money import Money
from shifa.simulators.paytabs import actions, queries
from shifa.simulators.paytabs.models import SimDelivery, SimTransaction
from tests.conftest import time_machine
from tests.support.paytabs import choose, in_process, parse_page
from tests.testapp import callbacks

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.testapp.urls")]

CALLBACKS = "http://127.0.0.1:8000/test-callbacks/"
RETURN = "http://127.0.0.1:8000/app/payments/return"
CUSTOMER = {"name": "ليلى حداد", "email": "layla@example.jo", "phone": "+962791234567", "country": "JO"}


@pytest.fixture(autouse=True)
def simulator():
    """Client and callbacks in-process; the test merchant endpoint registered (public) and emptied."""
    ApiResource.objects.get_or_create(
        method="POST",
        path=callbacks.PATH,
        defaults={"name": "test_callback", "kind": "page", "is_public": True},
    )
    callbacks.received.clear()
    with in_process():
        yield
    callbacks.received.clear()


def page(cart_id="inv-1", amount=Decimal("12.500"), *, callback="ok", **options):
    return PayTabs().create_page(
        cart_id=cart_id,
        description=options.pop("description", "Consultation"),
        amount=amount,
        callback_url=CALLBACKS + callback,
        return_url=RETURN,
        customer=CUSTOMER,
        **options,
    )


def tran(tran_ref: str) -> SimTransaction:
    return SimTransaction.objects.get(tran_ref=tran_ref)


def deliver_all() -> list[str]:
    """Send every callback owed, once each."""
    return [actions.deliver(d.pk) for d in SimDelivery.objects.filter(status="pending").order_by("pk")]


def raw_post(path: str, body, *, key: str | None = None, content_type="application/json"):
    headers = {"authorization": settings.PAYTABS_SERVER_KEY if key is None else key}
    data = json.dumps(body) if content_type == "application/json" else body
    return Client().post(path, data, content_type=content_type, headers=headers)


# --- Authentication and validation -------------------------------------------------------------------------


def test_a_wrong_server_key_is_refused_with_paytabs_answer():
    with pytest.raises(PayTabsRefused) as refused:
        PayTabs(server_key="not-the-key").create_page(
            cart_id="inv-1",
            description="x",
            amount=Decimal("1.000"),
            callback_url=CALLBACKS + "ok",
            return_url=RETURN,
            customer={},
        )
    assert refused.value.code == 1
    assert refused.value.message == "Authentication failed. Check authentication header."
    assert not SimTransaction.objects.exists()


def test_a_missing_key_or_another_profile_is_refused():
    body = {"profile_id": settings.PAYTABS_PROFILE_ID, "tran_ref": "TST1"}
    response = Client().post(
        "/simulators/paytabs/payment/query", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["code"] == 1
    with pytest.raises(PayTabsRefused) as refused:
        PayTabs(profile_id=settings.PAYTABS_PROFILE_ID + 1).query(tran_ref="TST1")
    assert refused.value.code == 1


def test_a_request_that_is_not_json_is_refused():
    response = raw_post(
        "/simulators/paytabs/payment/request", {"cart_id": "x"}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert response.json()["code"] == 5


BASE = {
    "tran_type": "sale",
    "tran_class": "ecom",
    "cart_id": "inv-9",
    "cart_description": "Consultation",
    "cart_currency": "JOD",
    "cart_amount": "12.500",
}


@pytest.mark.parametrize(
    "change",
    [
        {"cart_id": ""},
        {"cart_id": "x" * 65},
        {"cart_id": 12},
        {"cart_description": ""},
        {"cart_description": "x" * 129},
        {"cart_currency": "USD"},
        {"cart_amount": "0"},
        {"cart_amount": "-1.000"},
        {"cart_amount": "1.0001"},
        {"cart_amount": "twelve"},
        {"cart_amount": "NaN"},
        {"cart_amount": True},
        {"tran_type": "void"},
        {"tran_class": "moto"},
        {"paypage_lang": "fr"},
        {"callback": "ftp://example.jo/x"},
        {"customer_details": "Layla"},
        {"tran_type": "refund"},  # no tran_ref
        {"tran_class": "recurring", "tran_ref": "TST1"},  # no token
    ],
)
def test_invalid_fields_are_refused_and_nothing_is_kept(change):
    response = raw_post(
        "/simulators/paytabs/payment/request", {"profile_id": settings.PAYTABS_PROFILE_ID, **BASE, **change}
    )
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 2 and "tran_ref" not in answer
    assert not SimTransaction.objects.exists()


def test_amounts_are_exact_never_floats():
    response = raw_post(
        "/simulators/paytabs/payment/request",
        {"profile_id": settings.PAYTABS_PROFILE_ID, **BASE, "cart_amount": 0.1},  # a JSON number
    )
    assert response.json()["cart_amount"] == "0.100"
    assert tran(response.json()["tran_ref"]).amount == Decimal("0.100")
    fils = page("inv-2", Decimal("0.001"))
    assert tran(fils.tran_ref).amount == Decimal("0.001")


# --- The hosted page ---------------------------------------------------------------------------------------


def test_a_page_is_made_for_a_cart(settings):
    made = page("inv-1", Decimal("12.5"))
    assert re.fullmatch(r"TST\d{15}", made.tran_ref)
    assert made.redirect_url == f"{settings.PAYTABS_BASE_URL}/payment/page/{made.tran_ref}"
    kept = tran(made.tran_ref)
    assert (kept.status, kept.amount, kept.currency, kept.cart_id) == (
        "page",
        Decimal("12.500"),
        "JOD",
        "inv-1",
    )
    assert kept.customer_details == CUSTOMER
    expected = timezones.now() + dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES)
    assert abs(kept.expires_at - expected) < dt.timedelta(seconds=30)
    other = page("inv-2")
    assert other.tran_ref != made.tran_ref


def test_the_answer_echoes_the_cart():
    response = raw_post(
        "/simulators/paytabs/payment/request",
        {"profile_id": settings.PAYTABS_PROFILE_ID, **BASE, "callback": CALLBACKS + "ok"},
    )
    answer = response.json()
    assert response.status_code == 200
    assert (
        answer["cart_id"] == "inv-9"
        and answer["cart_amount"] == "12.500"
        and answer["cart_currency"] == "JOD"
    )
    assert answer["cart_description"] == "Consultation" and answer["callback"] == CALLBACKS + "ok"
    assert answer["redirect_url"].endswith("/payment/page/" + answer["tran_ref"])


def test_a_repeated_cart_is_a_duplicate_request():
    page("inv-1")
    with pytest.raises(PayTabsRefused) as refused:
        page("inv-1", Decimal("3.000"))
    assert (refused.value.code, refused.value.message) == (4, "Duplicate Request")
    assert SimTransaction.objects.filter(cart_id="inv-1").count() == 1


def test_two_requests_racing_for_one_cart_still_make_one_payment(monkeypatch):
    page("inv-1")
    monkeypatch.setattr(
        actions, "_duplicate", lambda *args: False
    )  # the check passed before the other committed
    with pytest.raises(PayTabsRefused) as refused:
        page("inv-1")
    assert refused.value.code == 4
    assert SimTransaction.objects.filter(cart_id="inv-1").count() == 1


@pytest.mark.parametrize(("language", "direction"), [("ar", "rtl"), ("en", "ltr")])
def test_the_page_speaks_the_payers_language(language, direction):
    made = page(language=language)
    response = Client().get(urlsplit(made.redirect_url).path)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'lang="{language}"' in html and f'dir="{direction}"' in html
    assert "Consultation" in html and Money(Decimal("12.500")).format(language) in html
    assert 'value="4111 1111 1111 1111"' in html
    assert parse_page(html).choices == ["pay", "decline", "cancel", "expire"]


def test_an_unknown_page_is_not_found():
    assert Client().get("/simulators/paytabs/payment/page/TST000000000000000").status_code == 404
    assert (
        Client().post("/simulators/paytabs/payment/page/TST000000000000000", {"choice": "pay"}).status_code
        == 404
    )


def test_paying_sends_the_browser_back_with_a_signed_return_and_the_merchant_a_signed_callback():
    made = page("inv-1")
    fields = choose(made.redirect_url, "pay")
    assert fields["respStatus"] == "A" and fields["tranRef"] == made.tran_ref and fields["cartId"] == "inv-1"
    assert fields["respMessage"] == "Authorised" and fields["customerEmail"] == CUSTOMER["email"]
    assert paytabs.verify_return(fields)
    assert not paytabs.verify_return({**fields, "respStatus": "D"})
    assert _php_return_signature(fields) == fields["signature"]

    assert deliver_all() == ["delivered"]
    [call] = callbacks.received
    assert call.content_type == "application/json"
    assert (
        call.signature == hmac.new(settings.PAYTABS_SERVER_KEY.encode(), call.raw, hashlib.sha256).hexdigest()
    )
    result = paytabs.verify_callback(call.raw, call.signature)
    assert result.authorised and result.tran_ref == made.tran_ref and result.cart_id == "inv-1"
    assert result.amount == Decimal("12.500") and result.currency == "JOD"
    assert (result.tran_type, result.tran_class) == ("sale", "ecom")
    body = json.loads(call.raw)
    assert body["customer_details"] == CUSTOMER
    assert body["payment_info"]["payment_description"] == "4111 11## #### 1111"
    assert body["payment_info"]["card_scheme"] == "Visa"
    assert body["payment_result"]["transaction_time"].endswith("Z")
    with pytest.raises(BadSignature):
        paytabs.verify_callback(call.raw.replace(b"12.500", b"1.000"), call.signature)


def _php_return_signature(fields: dict) -> str:
    """PayTabs' own check (PHP): drop the signature and empty fields, ksort, http_build_query, HMAC-SHA256."""
    kept = sorted((k, v) for k, v in fields.items() if k != "signature" and v)
    query = "&".join(f"{quote_plus(k)}={quote_plus(v)}".replace("~", "%7E") for k, v in kept)
    return hmac.new(settings.PAYTABS_SERVER_KEY.encode(), query.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("choice", "status"), [("decline", "D"), ("cancel", "C"), ("expire", "X")])
def test_the_other_buttons(choice, status):
    made = page("inv-1")
    fields = choose(made.redirect_url, choice)
    assert fields["respStatus"] == status and paytabs.verify_return(fields)
    assert tran(made.tran_ref).status == status
    deliver_all()
    result = paytabs.verify_callback(callbacks.received[0].raw, callbacks.received[0].signature)
    assert result.status == status and not result.authorised and result.final


def test_a_double_submit_changes_nothing():
    made = page("inv-1")
    first = choose(made.redirect_url, "pay")
    again = choose(made.redirect_url, "decline")
    assert again["respStatus"] == "A" and again["tranRef"] == first["tranRef"]
    assert tran(made.tran_ref).status == "A"
    assert SimDelivery.objects.filter(transaction__tran_ref=made.tran_ref).count() == 1


def test_a_finished_page_shows_its_outcome_and_no_buttons():
    made = page("inv-1")
    choose(made.redirect_url, "decline")
    html = Client().get(urlsplit(made.redirect_url).path).content.decode()
    parsed = parse_page(html)
    assert parsed.choices == []
    assert 'data-state="declined"' in html
    assert parsed.form_action == RETURN and paytabs.verify_return(parsed.fields)


def test_a_card_number_is_needed_to_pay():
    made = page("inv-1")
    response = Client().post(
        urlsplit(made.redirect_url).path,
        {"choice": "pay", "card_number": "4111", "expiry": "13/30", "cvv": "1"},
    )
    assert response.status_code == 400
    assert tran(made.tran_ref).status == "page"
    assert not SimDelivery.objects.exists()


def test_a_page_whose_time_passed_shows_expired_and_cannot_be_paid():
    made = page("inv-1")
    later = timezones.now() + dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES, seconds=1)
    with time_machine(later):
        html = Client().get(urlsplit(made.redirect_url).path).content.decode()
        assert 'data-state="expired"' in html and parse_page(html).choices == []
        assert parse_page(html).fields == {}  # no return form before there is an outcome
        fields = choose(made.redirect_url, "pay")
    assert fields["respStatus"] == "X"
    assert tran(made.tran_ref).status == "X"


def test_the_sweep_expires_stale_pages_and_tells_the_merchant():
    stale, fresh = page("inv-1"), page("inv-2")
    tran(fresh.tran_ref).__class__.objects.filter(tran_ref=fresh.tran_ref).update(
        expires_at=timezones.now() + dt.timedelta(hours=1)
    )
    later = timezones.now() + dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES, seconds=1)
    with time_machine(later):
        assert actions.pages_expire() == 1
        assert actions.pages_expire() == 0
    assert tran(stale.tran_ref).status == "X" and tran(fresh.tran_ref).status == "page"
    assert deliver_all() == ["delivered"]
    result = paytabs.verify_callback(callbacks.received[0].raw, callbacks.received[0].signature)
    assert (result.tran_ref, result.status) == (stale.tran_ref, "X")


def test_the_sweep_is_a_periodic_job():
    from procrastinate.contrib.django import app

    from shifa.simulators.paytabs import tasks

    assert "sim_paytabs.expire_pages" in app.tasks
    assert any(
        p.task.name == "sim_paytabs.expire_pages" for p in app.periodic_registry.periodic_tasks.values()
    )
    assert tasks.deliver_callback.name == "sim_paytabs.deliver_callback"


# --- Callbacks ---------------------------------------------------------------------------------------------


def test_a_callback_is_queued_as_a_job():
    made = page("inv-1")
    choose(made.redirect_url, "pay")
    delivery = SimDelivery.objects.get()
    job = ProcrastinateJob.objects.get(task_name="sim_paytabs.deliver_callback")
    assert job.args == {"delivery_id": delivery.pk}


def test_a_callback_is_retried_until_the_merchant_answers_200():
    made = page("inv-1", callback="flaky-2")
    choose(made.redirect_url, "pay")
    delivery = SimDelivery.objects.get()
    assert [actions.deliver(delivery.pk) for _ in range(3)] == ["pending", "pending", "delivered"]
    assert [c.answered for c in callbacks.received] == [503, 503, 200]
    assert len({c.raw for c in callbacks.received}) == 1  # the same body each time, signed each time
    assert all(paytabs.verify_callback(c.raw, c.signature).authorised for c in callbacks.received)
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status, delivery.last_status_code) == (3, "delivered", 200)
    retries = ProcrastinateJob.objects.filter(task_name="sim_paytabs.deliver_callback").exclude(
        scheduled_at=None
    )
    waits = sorted((j.scheduled_at - timezones.now()).total_seconds() for j in retries)
    assert (
        len(waits) == 2
        and 0 < waits[0] <= actions.BACKOFF_SECONDS[0] < waits[1] <= actions.BACKOFF_SECONDS[1]
    )
    assert actions.deliver(delivery.pk) == "delivered" and len(callbacks.received) == 3


def test_a_callback_stops_after_five_attempts():
    made = page("inv-1", callback="down")
    choose(made.redirect_url, "pay")
    delivery = SimDelivery.objects.get()
    outcomes = [actions.deliver(delivery.pk) for _ in range(6)]
    assert outcomes == ["pending"] * 4 + ["failed", "failed"]
    assert len(callbacks.received) == 5
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status, delivery.last_error) == (5, "failed", "answered HTTP 503")


def test_an_unreachable_merchant_is_tried_again():
    made = page("inv-1")
    choose(made.redirect_url, "pay")

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    actions.transport = httpx.MockTransport(refuse)
    assert actions.deliver(SimDelivery.objects.get().pk) == "pending"
    assert "ConnectError" in SimDelivery.objects.get().last_error


def test_no_callback_url_means_no_callback():
    made = PayTabs().create_page(
        cart_id="inv-1",
        description="x",
        amount=Decimal("1.000"),
        callback_url="",
        return_url=RETURN,
        customer=CUSTOMER,
    )
    choose(made.redirect_url, "pay")
    assert not SimDelivery.objects.exists()


def test_the_test_helper_signs_any_transaction_and_can_forge():
    made = page("inv-1")
    choose(made.redirect_url, "pay")
    raw, signature = queries.signed_callback(made.tran_ref)
    assert paytabs.verify_callback(raw, signature).authorised
    raw, signature = queries.signed_callback(made.tran_ref, response_status="D", cart_amount="1.000")
    result = paytabs.verify_callback(raw, signature)
    assert (result.status, result.amount) == ("D", Decimal("1.000"))
    raw, signature = queries.signed_callback(made.tran_ref, key="forged")
    with pytest.raises(BadSignature):
        paytabs.verify_callback(raw, signature)
    raw, signature = queries.signed_callback(made.tran_ref, profile_id=settings.PAYTABS_PROFILE_ID + 1)
    with pytest.raises(BadSignature):
        paytabs.verify_callback(raw, signature)


# --- Query -------------------------------------------------------------------------------------------------


def test_query_by_reference_or_cart():
    made = page("inv-1")
    pending = PayTabs().query(tran_ref=made.tran_ref)
    assert pending.status == "P" and not pending.final
    choose(made.redirect_url, "pay")
    by_ref = PayTabs().query(tran_ref=made.tran_ref)
    by_cart = PayTabs().query(cart_id="inv-1")
    assert by_ref.authorised and by_cart.authorised
    assert by_ref.tran_ref == by_cart.tran_ref == made.tran_ref
    assert by_ref.amount == Decimal("12.500") and by_ref.profile_id == settings.PAYTABS_PROFILE_ID


def test_query_of_an_unknown_transaction_is_refused():
    with pytest.raises(PayTabsRefused) as refused:
        PayTabs().query(tran_ref="TST000000000000000")
    assert refused.value.code == 3
    with pytest.raises(PayTabsRefused):
        PayTabs().query(cart_id="inv-none")


def test_query_of_a_page_whose_time_passed_reports_it_expired():
    made = page("inv-1")
    with time_machine(timezones.now() + dt.timedelta(minutes=settings.PAYTABS_PAGE_MINUTES, seconds=1)):
        assert PayTabs().query(tran_ref=made.tran_ref).status == "X"
    assert SimDelivery.objects.filter(transaction__tran_ref=made.tran_ref).count() == 1


# --- Refunds -----------------------------------------------------------------------------------------------


def paid(cart_id="inv-1", amount=Decimal("12.500"), **options):
    made = page(cart_id, amount, **options)
    choose(made.redirect_url, "pay")
    SimDelivery.objects.all().delete()
    callbacks.received.clear()
    return made


def test_a_refund_is_approved_and_called_back():
    sale = paid()
    result = PayTabs().refund(
        tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("5.000"), description="Refund"
    )
    assert result.authorised and result.tran_type == "refund" and result.previous_tran_ref == sale.tran_ref
    assert result.amount == Decimal("5.000") and result.tran_ref != sale.tran_ref
    assert deliver_all() == ["delivered"]
    called = paytabs.verify_callback(callbacks.received[0].raw, callbacks.received[0].signature)
    assert (called.tran_ref, called.tran_type, called.previous_tran_ref) == (
        result.tran_ref,
        "refund",
        sale.tran_ref,
    )


def test_refunds_never_exceed_the_sale():
    sale = paid()
    client = PayTabs()
    client.refund(tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("12.499"), description="Refund")
    with pytest.raises(PayTabsRefused) as refused:
        client.refund(tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("0.002"), description="Refund")
    assert refused.value.code == 6
    assert client.refund(
        tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("0.001"), description="Refund"
    ).authorised
    assert queries.refunded(tran(sale.tran_ref)) == Decimal("12.500")


def test_only_an_authorised_sale_of_this_profile_can_be_refunded():
    declined = page("inv-1")
    choose(declined.redirect_url, "decline")
    with pytest.raises(PayTabsRefused) as refused:
        PayTabs().refund(
            tran_ref=declined.tran_ref, cart_id="inv-1", amount=Decimal("1.000"), description="R"
        )
    assert refused.value.code == 6
    with pytest.raises(PayTabsRefused) as refused:
        PayTabs().refund(
            tran_ref="TST000000000000000", cart_id="inv-1", amount=Decimal("1.000"), description="R"
        )
    assert refused.value.code == 3
    sale = paid("inv-2")
    SimTransaction.objects.filter(tran_ref=sale.tran_ref).update(profile_id=settings.PAYTABS_PROFILE_ID + 1)
    with pytest.raises(PayTabsRefused):
        PayTabs().refund(tran_ref=sale.tran_ref, cart_id="inv-2", amount=Decimal("1.000"), description="R")


def test_a_pending_refund_settles_later_with_its_callback(settings):
    settings.PAYTABS_SIMULATOR_REFUNDS = "pending"
    sale = paid()
    result = PayTabs().refund(
        tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("10.000"), description="R"
    )
    assert result.status == "P" and not result.final
    assert not SimDelivery.objects.exists()
    with pytest.raises(PayTabsRefused):  # the pending refund holds its amount
        PayTabs().refund(tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("3.000"), description="R")

    path = f"/simulators/paytabs/control/transactions/{result.tran_ref}/settle"
    refused = raw_post(path, {}, key="wrong")
    assert refused.status_code == 401 and refused.json()["code"] == 1
    assert tran(result.tran_ref).status == "P"

    settled = raw_post(path, {})
    assert settled.status_code == 200 and settled.json()["payment_result"]["response_status"] == "A"
    assert raw_post(path, {}).status_code == 200  # settling again changes nothing
    assert deliver_all() == ["delivered"]
    called = paytabs.verify_callback(callbacks.received[0].raw, callbacks.received[0].signature)
    assert (called.tran_ref, called.status, called.previous_tran_ref) == (result.tran_ref, "A", sale.tran_ref)
    assert raw_post(path, {"status": "D"}).status_code == 409


def test_a_pending_refund_may_be_declined(settings):
    settings.PAYTABS_SIMULATOR_REFUNDS = "pending"
    sale = paid()
    result = PayTabs().refund(
        tran_ref=sale.tran_ref, cart_id="inv-1", amount=Decimal("12.500"), description="R"
    )
    assert actions.refund_settle(tran_ref=result.tran_ref, status="D").status == "D"
    assert queries.refunded(tran(sale.tran_ref)) == Decimal("0.000")
    assert paytabs.verify_callback(*_sent(0)).status == "D"


def _sent(index: int):
    deliver_all()
    call = callbacks.received[index]
    return call.raw, call.signature


# --- Recurring payments ------------------------------------------------------------------------------------


def renew(first, cart_id, *, token=None, tran_ref=None):
    return PayTabs().recurring(
        token=first_token(first) if token is None else token,
        tran_ref=tran_ref or first.tran_ref,
        cart_id=cart_id,
        amount=Decimal("20.000"),
        description="Family doctor plan",
        callback_url=CALLBACKS + "ok",
    )


def first_token(first) -> str:
    return tran(first.tran_ref).token


def test_a_tokenised_payment_gives_a_token():
    made = page("sub-1", tokenise=True)
    fields = choose(made.redirect_url, "pay")
    token = tran(made.tran_ref).token
    assert re.fullmatch(r"[0-9A-F]{32}", token) and fields["token"] == token
    assert paytabs.verify_return(fields)
    assert paytabs.verify_callback(*_sent(0)).token == token
    untokenised = page("inv-1")
    choose(untokenised.redirect_url, "pay")
    assert tran(untokenised.tran_ref).token == ""


def test_a_recurring_payment_with_the_right_token_is_approved_and_called_back():
    first = paid("sub-1", tokenise=True)
    result = renew(first, "sub-1-2")
    assert (
        result.authorised and result.tran_class == "recurring" and result.previous_tran_ref == first.tran_ref
    )
    assert result.token == first_token(first) and result.amount == Decimal("20.000")
    called = paytabs.verify_callback(*_sent(0))
    assert (called.tran_ref, called.status, called.cart_id) == (result.tran_ref, "A", "sub-1-2")
    later = renew(first, "sub-1-3", tran_ref=result.tran_ref)  # the chain's latest reference works too
    assert later.authorised and later.previous_tran_ref == first.tran_ref


def test_a_recurring_payment_with_a_wrong_token_is_declined():
    first = paid("sub-1", tokenise=True)
    other = paid("sub-2", tokenise=True)
    unknown = renew(first, "sub-1-2", token="0" * 32)
    foreign = renew(first, "sub-1-3", token=first_token(other))
    assert unknown.status == foreign.status == "D"
    assert unknown.token == ""
    assert renew(first, "sub-1-4", tran_ref="TST000000000000000").status == "D"
    assert [paytabs.verify_callback(*_sent(i)).status for i in range(3)] == ["D", "D", "D"]


def test_a_recurring_cart_is_not_charged_twice():
    first = paid("sub-1", tokenise=True)
    renew(first, "sub-1-2")
    with pytest.raises(PayTabsRefused) as refused:
        renew(first, "sub-1-2")
    assert refused.value.code == 4
    assert SimTransaction.objects.filter(cart_id="sub-1-2").count() == 1
