"""Google Play real-time developer notifications by Pub/Sub push, against the local Google Play simulator: every
new message re-reads the purchase (subscriptionsv2.get, authenticated with the service account's OAuth token) and
applies Google's state; a message id is applied once; pushes that are not authenticated change nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from shifa.access.entitlements import PRIORITY_URGENT_CARE, has_entitlement
from shifa.simulators.googleplay import actions as play
from shifa.simulators.googleplay import pubsub
from shifa.subscriptions import config
from shifa.subscriptions.models import Message, Subscription, SubscriptionEvent

from .conftest import soon

READ = "/purchases/subscriptionsv2/tokens/"
URL = "/api/v1/subscriptions/google-play/notifications"


def _purchase(account, state="SUBSCRIPTION_STATE_ACTIVE", token=None, expiry=None, **extra):
    return play.purchase_set(
        package_name="jo.shifa.app",
        purchase_token=token,
        product_id="shifa_plus",
        state=state,
        expiry_time=expiry or soon(30),
        account_id=str(account.app_account_token),
        **extra,
    )


def _push(purchase, kind: int, message_id: str | None = None) -> tuple[int, str]:
    return pubsub.push(purchase, kind, message_id=message_id)


def _outcome(message_id: str) -> str:
    return Message.objects.get(source="google_play", message_id=message_id).outcome


def test_a_purchase_notification_rereads_and_activates(cast, outside, plan, account):
    purchase = _purchase(account)
    status, message_id = _push(purchase, 4)
    assert status == 200
    assert outside.count(READ) == 1 and outside.count("POST /simulators/google-play/token") == 1
    subscription = Subscription.objects.get()
    assert subscription.source == "google_play" and subscription.patient == cast.patient
    assert subscription.state == "active" and subscription.purchase_token == purchase.purchase_token
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    assert _outcome(message_id) == "applied"
    purchase.refresh_from_db()
    assert purchase.acknowledged is True  # we acknowledged the purchase


def test_a_message_id_is_applied_once_without_reading_again(cast, outside, plan, account):
    purchase = _purchase(account)
    _status, message_id = _push(purchase, 4)
    reads, events = outside.count(READ), SubscriptionEvent.objects.count()
    # Google changes the purchase meanwhile; a redelivery of the same message is still only a repeat
    _purchase(account, token=purchase.purchase_token, state="SUBSCRIPTION_STATE_ON_HOLD")
    status, _ = _push(purchase, 4, message_id=message_id)
    assert status == 200
    assert outside.count(READ) == reads
    assert SubscriptionEvent.objects.count() == events
    assert Subscription.objects.get().state == "active"


def test_every_new_message_rereads_even_when_it_looks_like_a_duplicate(cast, outside, plan, account):
    purchase = _purchase(account)
    _push(purchase, 4)
    _push(purchase, 4)  # same content, new message id
    assert outside.count(READ) == 2
    assert Message.objects.filter(source="google_play").count() == 2
    # and the re-read is what counts, not the notification's type: "renewed" while Google says on hold
    _purchase(account, token=purchase.purchase_token, state="SUBSCRIPTION_STATE_ON_HOLD")
    _push(purchase, 2)
    assert outside.count(READ) == 3
    assert Subscription.objects.get().state == "on_hold"
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False


def test_a_notification_type_we_do_not_know_still_rereads(cast, outside, plan, account):
    purchase = _purchase(account)
    _push(purchase, 4)
    _purchase(
        account, token=purchase.purchase_token, state="SUBSCRIPTION_STATE_IN_GRACE_PERIOD", expiry=soon(3)
    )
    status, message_id = _push(purchase, 99)
    assert status == 200 and outside.count(READ) == 2
    assert Subscription.objects.get().state == "grace"
    assert Message.objects.get(message_id=message_id).kind == "SUBSCRIPTION_99"


def test_cancelled_keeps_access_until_expiry_then_expired_ends_it(cast, outside, plan, account):
    end = soon(5)
    purchase = _purchase(account, expiry=end)
    _push(purchase, 4)
    _purchase(
        account,
        token=purchase.purchase_token,
        state="SUBSCRIPTION_STATE_CANCELED",
        expiry=end,
        auto_renew=False,
    )
    _push(purchase, 3)
    subscription = Subscription.objects.get()
    assert subscription.state == "active" and subscription.auto_renew is False
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    _purchase(
        account,
        token=purchase.purchase_token,
        state="SUBSCRIPTION_STATE_EXPIRED",
        expiry=end,
        auto_renew=False,
    )
    _push(purchase, 13)
    assert Subscription.objects.get().state == "expired"
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False


def test_revoked_is_told_apart_from_expired(cast, outside, plan, account):
    purchase = _purchase(account)
    _push(purchase, 4)
    _purchase(account, token=purchase.purchase_token, state="SUBSCRIPTION_STATE_EXPIRED", expiry=soon(0))
    _push(purchase, 12)
    assert Subscription.objects.get().state == "revoked"


def test_the_control_route_makes_a_purchase_and_pushes(cast, outside, plan, account, client):
    response = client.post(
        "/simulators/google-play/control/purchases",
        {
            "product_id": "shifa_plus",
            "state": "SUBSCRIPTION_STATE_ACTIVE",
            "expiry_time": soon(30).isoformat(),
            "account_id": str(account.app_account_token),
            "notification_type": 4,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["push"]["status"] == 200
    assert Subscription.objects.get().state == "active"


def _envelope(purchase, kind=4, message_id="m-1") -> dict:
    return pubsub.envelope(purchase, kind, message_id)


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_pushes_without_our_token_are_refused(token, cast, outside, plan, account, api):
    purchase = _purchase(account)
    url = URL if token is None else f"{URL}?token={token}"
    response = api().post(url, _envelope(purchase))
    assert response.status_code == 401
    assert response.json()["code"] == "push_not_authenticated"
    assert outside.count(READ) == 0 and Message.objects.count() == 0


def test_with_an_audience_configured_the_google_oidc_token_is_required(
    cast, outside, plan, account, api, settings, oidc_keys
):
    settings.GOOGLE_PLAY_PUSH_AUDIENCE = (
        "https://shifa.example.jo/api/v1/subscriptions/google-play/notifications"
    )
    settings.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT = "pubsub-push@shifa.iam.gserviceaccount.com"
    settings.GOOGLE_PLAY_PUSH_JWKS_URL = oidc_keys.url
    purchase = _purchase(account)
    url = f"{URL}?token={config.push_token()}"
    good = oidc_keys.id_token(
        audience=settings.GOOGLE_PLAY_PUSH_AUDIENCE, email=settings.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT
    )
    refused = [
        None,
        oidc_keys.id_token(
            audience="https://elsewhere.example", email=settings.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT
        ),
        oidc_keys.id_token(audience=settings.GOOGLE_PLAY_PUSH_AUDIENCE, email="someone@example.com"),
        oidc_keys.id_token(
            audience=settings.GOOGLE_PLAY_PUSH_AUDIENCE,
            email=settings.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT,
            forged=True,
        ),
    ]
    for n, bearer in enumerate(refused):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        response = api().post(url, _envelope(purchase, message_id=f"x-{n}"), headers=headers)
        assert response.status_code == 401, n
    assert Message.objects.count() == 0
    response = api().post(url, _envelope(purchase), headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 200, response.content
    assert Subscription.objects.get().state == "active"


def test_google_unreachable_is_503_and_nothing_is_recorded(cast, outside, plan, account, api, monkeypatch):
    import httpx

    from shifa.subscriptions import google_play

    purchase = _purchase(account)

    def down(request):
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(google_play, "transport", httpx.MockTransport(down))
    url = f"{URL}?token={config.push_token()}"
    response = api().post(url, _envelope(purchase))
    assert response.status_code == 503
    assert Message.objects.count() == 0 and Subscription.objects.count() == 0
    # Pub/Sub delivers the same message again once Google answers: it is applied then
    monkeypatch.setattr(google_play, "transport", outside)
    assert api().post(url, _envelope(purchase)).status_code == 200
    assert Subscription.objects.get().state == "active"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b'{"message": {"data": "not base64!", "messageId": "1"}}',
        b'{"message": {"messageId": "1"}}',
    ],
)
def test_malformed_pushes_are_400(body, cast, outside, api):
    response = api().post(f"{URL}?token={config.push_token()}", raw=body)
    assert response.status_code in {400, 422}
    assert Message.objects.count() == 0


def test_test_notifications_and_other_packages_are_answered_without_a_read(cast, outside, api):
    data = {
        "version": "1.0",
        "packageName": "jo.shifa.app",
        "eventTimeMillis": "1",
        "testNotification": {"version": "1.0"},
    }
    body = {"message": {"data": base64.b64encode(json.dumps(data).encode()).decode(), "messageId": "t-1"}}
    response = api().post(f"{URL}?token={config.push_token()}", body)
    assert response.status_code == 200 and response.json()["outcome"] == "no_purchase"
    assert outside.count(READ) == 0


def test_the_simulator_requires_an_access_token(cast, outside, plan, account, client):
    purchase = _purchase(account)
    path = f"/simulators/google-play/androidpublisher/v3/applications/jo.shifa.app{READ}{purchase.purchase_token}"
    assert client.get(path).status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION="Bearer ya29.made-up").status_code == 401
    # a token for an assertion signed with another key is refused
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    assertion = jwt.encode(
        {
            "iss": config.SIMULATOR_ACCOUNT,
            "scope": "https://www.googleapis.com/auth/androidpublisher",
            "aud": config.token_url(),
            "iat": now,
            "exp": now + 600,
        },
        stranger,
        algorithm="RS256",
    )
    response = client.post(
        "/simulators/google-play/token", {"grant_type": play.JWT_BEARER, "assertion": assertion}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def _push_voided(purchase) -> int:
    """A voided-purchase notification (a refund Google made), as Pub/Sub pushes it."""
    import httpx

    body = pubsub.envelope(purchase, 4)
    data = json.loads(base64.b64decode(body["message"]["data"]))
    del data["subscriptionNotification"]
    data["voidedPurchaseNotification"] = {
        "purchaseToken": purchase.purchase_token,
        "orderId": "GPA.1",
        "productType": 1,
    }
    body["message"]["data"] = base64.b64encode(json.dumps(data).encode()).decode()
    with httpx.Client(transport=pubsub.transport, timeout=15) as http:
        return http.post(pubsub.endpoint(), json=body).status_code


def test_a_refund_of_a_past_order_leaves_a_renewing_subscription_alone(cast, outside, plan, account):
    purchase = _purchase(account)
    _push(purchase, 4)
    assert _push_voided(purchase) == 200
    assert Subscription.objects.get().state == "active"  # Google still renews it
    play.purchase_set(
        package_name="jo.shifa.app",
        purchase_token=purchase.purchase_token,
        product_id="shifa_plus",
        state="SUBSCRIPTION_STATE_EXPIRED",
        expiry_time=soon(-1),
        account_id=str(account.app_account_token),
    )
    assert _push_voided(purchase) == 200
    assert Subscription.objects.get().state == "refunded"
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
