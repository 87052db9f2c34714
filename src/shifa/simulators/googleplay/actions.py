"""Writes of the Google Play simulator."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from django.db import transaction

from shifa.core import timezones
from shifa.subscriptions import config

from .models import STATES, SimAccessToken, SimPurchase

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"


class SimError(Exception):
    """An answer the way Google gives it: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def _public_key():
    account = config.service_account()
    if not account.get("private_key"):
        raise SimError(500, {"error": "server_error", "error_description": "no simulated service account"})
    return serialization.load_pem_private_key(account["private_key"].encode(), password=None).public_key()


def token_issue(*, grant_type: str, assertion: str) -> dict:
    """Google's OAuth token endpoint for a service account (RFC 7523 JWT-bearer grant)."""
    if grant_type != JWT_BEARER:
        raise SimError(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
    if not assertion:
        raise SimError(
            400, {"error": "invalid_request", "error_description": "Missing required parameter: assertion"}
        )
    try:
        claims = jwt.decode(
            assertion,
            _public_key(),
            algorithms=["RS256"],
            audience=config.token_url(),
            options={"require": ["iss", "aud", "exp", "iat", "scope"]},
        )
    except jwt.PyJWTError:
        raise SimError(
            400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        ) from None
    if claims.get("iss") != config.SIMULATOR_ACCOUNT or SCOPE not in str(claims.get("scope", "")).split():
        raise SimError(
            400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope or ID token audience."}
        )
    token = SimAccessToken.objects.create(
        token="ya29.sim-" + secrets.token_urlsafe(32),
        client_email=claims["iss"],
        expires_at=timezones.now() + dt.timedelta(hours=1),
    )
    return {"access_token": token.token, "expires_in": 3599, "token_type": "Bearer"}


def purchase_set(
    *,
    package_name: str,
    product_id: str,
    state: str,
    expiry_time: dt.datetime,
    purchase_token: str | None = None,
    auto_renew: bool = True,
    account_id: str = "",
    linked_purchase_token: str = "",
) -> SimPurchase:
    """Make a purchase (no ``purchase_token``) or change one, as a subscriber's actions and Google's billing
    would (renewed, cancelled, on hold …)."""
    if state not in STATES:
        raise SimError(
            400, {"error": {"code": 400, "message": f"unknown state {state}", "status": "INVALID_ARGUMENT"}}
        )
    if expiry_time.tzinfo is None:
        raise SimError(
            400, {"error": {"code": 400, "message": "expiry_time needs a zone", "status": "INVALID_ARGUMENT"}}
        )
    with transaction.atomic():
        token = purchase_token or f"sim.{uuid.uuid4().hex}{uuid.uuid4().hex}"
        purchase = SimPurchase.objects.select_for_update().filter(purchase_token=token).first()
        if purchase is None:
            purchase = SimPurchase(purchase_token=token, package_name=package_name)
        elif purchase.package_name != package_name:
            raise SimError(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
        renewed = purchase.pk is None or expiry_time != purchase.expiry_time
        purchase.product_id = product_id
        purchase.state = state
        purchase.expiry_time = expiry_time
        purchase.auto_renew = auto_renew
        purchase.account_id = account_id or purchase.account_id
        purchase.linked_purchase_token = linked_purchase_token or purchase.linked_purchase_token
        if renewed:
            purchase.order_number += 1
        purchase.save()
    return purchase


def purchase_acknowledge(*, package_name: str, product_id: str, purchase_token: str) -> SimPurchase:
    with transaction.atomic():
        purchase = (
            SimPurchase.objects.select_for_update()
            .filter(package_name=package_name, product_id=product_id, purchase_token=purchase_token)
            .first()
        )
        if purchase is None:
            raise SimError(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})
        if not purchase.acknowledged:
            purchase.acknowledged = True
            purchase.save(update_fields=["acknowledged", "updated_at"])
    return purchase
