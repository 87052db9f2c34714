"""Reads of the Google Play simulator."""

from __future__ import annotations

from shifa.core import timezones

from .models import SimAccessToken, SimPurchase


def token_valid(authorization: str) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return SimAccessToken.objects.filter(token=token.strip(), expires_at__gt=timezones.now()).exists()


def package_known(package_name: str) -> bool:
    """The simulator knows the packages it has purchases of (and ours, from settings)."""
    from django.conf import settings

    return (
        package_name == settings.GOOGLE_PLAY_PACKAGE_NAME
        or SimPurchase.objects.filter(package_name=package_name).exists()
    )


def purchase_get(package_name: str, purchase_token: str) -> SimPurchase | None:
    return SimPurchase.objects.filter(package_name=package_name, purchase_token=purchase_token).first()


def _iso(value) -> str:
    return timezones.isoformat_z(value)


def purchase_v2(purchase: SimPurchase) -> dict:
    """A ``SubscriptionPurchaseV2`` as Google answers it."""
    body = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "JO",
        "startTime": _iso(purchase.created_at),
        "subscriptionState": purchase.state,
        "latestOrderId": f"GPA.{purchase.pk:04d}-{purchase.order_number:04d}",
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
        if purchase.acknowledged
        else "ACKNOWLEDGEMENT_STATE_PENDING",
        "lineItems": [
            {
                "productId": purchase.product_id,
                "expiryTime": _iso(purchase.expiry_time),
                "autoRenewingPlan": {"autoRenewEnabled": purchase.auto_renew},
                "offerDetails": {"basePlanId": "base"},
            }
        ],
        "testPurchase": {},
    }
    if purchase.account_id:
        body["externalAccountIdentifiers"] = {"obfuscatedExternalAccountId": purchase.account_id}
    if purchase.linked_purchase_token:
        body["linkedPurchaseToken"] = purchase.linked_purchase_token
    return body
