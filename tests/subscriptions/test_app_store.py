"""App Store Server Notifications V2 through the real app-store-server-library verification, signed by a locally
minted chain: what Apple did not sign for our app in our environment changes nothing; what it did moves the one
state machine, once per notificationUUID."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from shifa.access.entitlements import PRIORITY_URGENT_CARE, has_entitlement
from shifa.core import timezones
from shifa.subscriptions.models import Message, Payment, Subscription, SubscriptionEvent
from tests.support.app_store import AppleSigner

from .conftest import soon

URL = "/api/v1/subscriptions/app-store/notifications"


def _post(client, signed_payload: str):
    return client.post(URL, {"signedPayload": signed_payload})


def _changes() -> tuple[int, int, int]:
    return Subscription.objects.count(), SubscriptionEvent.objects.count(), Message.objects.count()


def test_subscribed_renew_expired_moves_the_entitlement(cast, api, apple, plan, account):
    anonymous = api()
    token = str(account.app_account_token)
    first_end = soon(30)
    response = _post(
        anonymous,
        apple.notification(
            "SUBSCRIBED", subtype="INITIAL_BUY", app_account_token=token, expires_at=first_end, price=9900
        ),
    )
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "applied"
    subscription = Subscription.objects.get()
    assert subscription.patient == cast.patient and subscription.source == "app_store"
    assert subscription.state == "active"
    assert abs(subscription.current_period_end - first_end) < dt.timedelta(seconds=1)
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True

    renewed_end = soon(60)
    response = _post(anonymous, apple.notification("DID_RENEW", expires_at=renewed_end, price=9900))
    assert response.json()["outcome"] == "applied"
    subscription.refresh_from_db()
    assert subscription.state == "active" and subscription.current_period_end > first_end

    response = _post(anonymous, apple.notification("EXPIRED", subtype="VOLUNTARY", expires_at=renewed_end))
    assert response.json()["outcome"] == "applied"
    subscription.refresh_from_db()
    assert subscription.state == "expired"
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
    history = list(subscription.events.order_by("id").values_list("from_state", "to_state"))
    assert history == [("pending", "active"), ("active", "active"), ("active", "expired")]
    # Apple's prices (milliunits) reach the platform's ledger, once per transaction
    assert [p.amount for p in Payment.objects.order_by("id")] == [Decimal("9.900"), Decimal("9.900")]


def test_a_duplicate_notification_uuid_is_applied_once(cast, api, apple, plan, account):
    same = str(uuid.uuid4())
    payload = apple.notification(
        "SUBSCRIBED", notification_uuid=same, app_account_token=str(account.app_account_token)
    )
    first = _post(api(), payload)
    assert first.json()["outcome"] == "applied"
    before = _changes()
    again = _post(api(), payload)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    # even re-signed with other content, the same UUID is the same notification
    other = _post(api(), apple.notification("REFUND", notification_uuid=same))
    assert other.json()["outcome"] == "duplicate"
    assert _changes() == before
    assert Subscription.objects.get().state == "active"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("other_root", "notification_bad_signature"),
        ("no_apple_oids", "notification_bad_signature"),
        ("wrong_bundle", "notification_wrong_app"),
        ("wrong_transaction_bundle", "notification_wrong_app"),
        ("wrong_app_apple_id", "notification_wrong_app"),
        ("sandbox_in_production", "notification_wrong_environment"),
        ("xcode_in_production", "notification_wrong_environment"),
        ("tampered", "notification_bad_signature"),
    ],
)
def test_notifications_apple_did_not_sign_for_us_are_rejected(case, code, cast, api, apple, plan, account):
    token = str(account.app_account_token)
    signer, options = apple, {}
    if case == "other_root":
        signer = AppleSigner()
    elif case == "no_apple_oids":
        signer = AppleSigner(with_oids=False)
    elif case == "wrong_bundle":
        options = {"bundle_id": "com.evil.app"}
    elif case == "wrong_transaction_bundle":
        options = {"transaction_bundle_id": "com.evil.app"}
    elif case == "wrong_app_apple_id":
        options = {"app_apple_id": 999}
    elif case == "sandbox_in_production":
        options = {"environment": "Sandbox"}
    elif case == "xcode_in_production":
        options = {"environment": "Xcode"}
    payload = signer.notification("SUBSCRIBED", app_account_token=token, **options)
    if case == "tampered":
        head, body, signature = payload.split(".")
        payload = f"{head}.{body[:-4]}AAAA.{signature}"
    before = _changes()
    response = _post(api(), payload)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert _changes() == before
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False


def test_sandbox_notifications_are_accepted_by_a_sandbox_deployment(
    settings, cast, api, apple, plan, account
):
    settings.APP_STORE_ENVIRONMENT = "Sandbox"
    payload = apple.notification(
        "SUBSCRIBED", environment="Sandbox", app_account_token=str(account.app_account_token)
    )
    assert _post(api(), payload).json()["outcome"] == "applied"
    # … and a production one is not, there
    other = apple.notification("SUBSCRIBED", app_account_token=str(account.app_account_token))
    assert _post(api(), other).json()["code"] == "notification_wrong_environment"


@pytest.mark.parametrize("environment", ["Xcode", "LocalTesting"])
def test_we_refuse_to_run_in_environments_that_skip_the_signature(settings, environment, apple):
    from django.core.exceptions import ImproperlyConfigured

    from shifa.subscriptions import app_store

    settings.APP_STORE_ENVIRONMENT = environment
    with pytest.raises(ImproperlyConfigured):
        app_store.verifier()


def test_the_shipped_apple_root_is_apple_root_ca_g3():
    import hashlib

    from shifa.subscriptions import app_store

    der = app_store._certificate_der(str(app_store.APPLE_ROOT_CA_G3))
    assert hashlib.sha256(der).hexdigest().upper() == (
        "63343ABFB89A6A03EBB57E9B3F5FA7BE7C4F5C756F3017B3A8C488C3653E9179"
    )


@pytest.mark.parametrize(
    "body", [b"", b"[]", b'{"signedPayload": 5}', b"not json", b'{"signedPayload": "a.b.c"}']
)
def test_malformed_bodies_are_4xx_and_change_nothing(body, cast, api, apple):
    before = _changes()
    response = api().post(URL, raw=body)
    assert 400 <= response.status_code < 500
    assert _changes() == before


def test_grace_period_then_grace_expired_then_recovery(cast, api, apple, plan, account):
    token = str(account.app_account_token)
    _post(api(), apple.notification("SUBSCRIBED", app_account_token=token, expires_at=soon(1)))
    grace = soon(16)
    _post(api(), apple.notification("DID_FAIL_TO_RENEW", subtype="GRACE_PERIOD", grace_until=grace))
    subscription = Subscription.objects.get()
    assert subscription.state == "grace"
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    _post(api(), apple.notification("GRACE_PERIOD_EXPIRED"))
    subscription.refresh_from_db()
    assert subscription.state == "on_hold"
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False
    _post(api(), apple.notification("DID_RENEW", subtype="BILLING_RECOVERY", expires_at=soon(30)))
    subscription.refresh_from_db()
    assert subscription.state == "active"


def test_failing_without_grace_puts_it_on_hold(cast, api, apple, plan, account):
    _post(api(), apple.notification("SUBSCRIBED", app_account_token=str(account.app_account_token)))
    _post(api(), apple.notification("DID_FAIL_TO_RENEW"))
    assert Subscription.objects.get().state == "on_hold"


@pytest.mark.parametrize(("kind", "state"), [("REFUND", "refunded"), ("REVOKE", "revoked")])
def test_refund_and_revoke_end_access(kind, state, cast, api, apple, plan, account):
    _post(api(), apple.notification("SUBSCRIBED", app_account_token=str(account.app_account_token)))
    _post(api(), apple.notification(kind))
    assert Subscription.objects.get().state == state
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False


def test_renewal_switched_off_keeps_access_until_the_period_ends(cast, api, apple, plan, account):
    end = soon(10)
    _post(
        api(),
        apple.notification("SUBSCRIBED", app_account_token=str(account.app_account_token), expires_at=end),
    )
    _post(
        api(),
        apple.notification("DID_CHANGE_RENEWAL_STATUS", subtype="AUTO_RENEW_DISABLED", auto_renew=False),
    )
    subscription = Subscription.objects.get()
    assert subscription.state == "active" and subscription.auto_renew is False
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    from tests.conftest import time_machine

    with time_machine(end + dt.timedelta(minutes=1)):
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False


def test_an_older_notification_arriving_late_changes_nothing(cast, api, apple, plan, account):
    now = timezones.now()
    _post(
        api(),
        apple.notification("SUBSCRIBED", app_account_token=str(account.app_account_token), signed_at=now),
    )
    late = apple.notification("EXPIRED", signed_at=now - dt.timedelta(hours=1))
    assert _post(api(), late).json()["outcome"] == "applied"
    assert Subscription.objects.get().state == "active"


@pytest.mark.parametrize(
    ("token", "product", "outcome"),
    [("unknown", "jo.shifa.plus.monthly", "unknown_account"), (None, "jo.other.product", "unknown_product")],
)
def test_purchases_we_cannot_link_are_answered_and_recorded_but_change_nothing(
    token, product, outcome, cast, api, apple, plan, account
):
    app_account_token = str(uuid.uuid4()) if token == "unknown" else str(account.app_account_token)
    response = _post(
        api(), apple.notification("SUBSCRIBED", app_account_token=app_account_token, product_id=product)
    )
    assert response.status_code == 200 and response.json()["outcome"] == outcome
    assert Subscription.objects.count() == 0
    assert Message.objects.get().outcome == outcome
