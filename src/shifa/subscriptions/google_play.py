"""Google Play: real-time developer notifications (Pub/Sub push) and a client of ``purchases.subscriptionsv2``.

A notification only says that something changed: we always re-read the subscription and apply what Google says
(``subscriptionState`` and the line items' ``expiryTime``). The client authenticates as a service account with the
OAuth 2.0 JWT-bearer flow (an RS256 assertion signed with the account's key, exchanged for an access token at the
token endpoint). Base URLs come from settings, so development and the tests talk to the local simulator
(``shifa.simulators.googleplay``) through the same code.

Pushes are authenticated by a shared token in the query string (``?token=…``, compared in constant time) and,
when an audience is configured, by the Google-signed OIDC token Pub/Sub sends in ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import jwt
from django.conf import settings

from . import config
from .states import State

#: A test hook: an ``httpx`` transport that carries the client's requests (the tests route them in-process).
transport: httpx.BaseTransport | None = None

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GOOGLE_ISSUERS = ["https://accounts.google.com", "accounts.google.com"]

#: ``subscriptionNotification.notificationType``: we re-read on every one (even those not listed).
NOTIFICATION_TYPES = {
    1: "SUBSCRIPTION_RECOVERED",
    2: "SUBSCRIPTION_RENEWED",
    3: "SUBSCRIPTION_CANCELED",
    4: "SUBSCRIPTION_PURCHASED",
    5: "SUBSCRIPTION_ON_HOLD",
    6: "SUBSCRIPTION_IN_GRACE_PERIOD",
    7: "SUBSCRIPTION_RESTARTED",
    8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
    9: "SUBSCRIPTION_DEFERRED",
    10: "SUBSCRIPTION_PAUSED",
    11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    12: "SUBSCRIPTION_REVOKED",
    13: "SUBSCRIPTION_EXPIRED",
    20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
}
REVOKED = 12


class GooglePlayError(Exception):
    """Google Play could not be reached or answered something we cannot use: try again later."""


class NotFoundAtGoogle(GooglePlayError):
    """Google does not know the purchase token (404): the notification was not about a purchase of ours."""


class PushRejected(Exception):
    """The push is not authenticated as Pub/Sub's for our subscription."""


@dataclass(frozen=True)
class Push:
    """A Pub/Sub push of one RTDN."""

    message_id: str
    package_name: str
    event_at: dt.datetime
    kind: str
    notification_type: int | None
    purchase_token: str
    product_id: str
    voided: bool = False


@dataclass(frozen=True)
class PlaySubscription:
    """What ``subscriptionsv2.get`` says of a purchase."""

    raw_state: str
    state: State | None  # None: a state we do not act on (unspecified)
    expires_at: dt.datetime | None
    auto_renew: bool | None
    product_id: str
    account_id: str
    linked_purchase_token: str
    acknowledged: bool


def _time(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise GooglePlayError(f"unreadable time {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_push(body: bytes) -> Push:
    """The RTDN in a Pub/Sub push body; ``ValueError`` when it is not one."""
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        message_id = str(message["messageId"])
        data = json.loads(base64.b64decode(message["data"], validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValueError("not a Pub/Sub push of a Google Play notification") from None
    if not isinstance(data, dict) or not message_id:
        raise ValueError("not a Google Play notification")
    try:
        event_at = dt.datetime.fromtimestamp(int(data.get("eventTimeMillis", 0)) / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("unreadable event time") from None
    sub = data.get("subscriptionNotification") or {}
    voided = data.get("voidedPurchaseNotification") or {}
    if not isinstance(sub, dict) or not isinstance(voided, dict):
        raise ValueError("not a Google Play notification")
    notification_type = None
    if sub:
        try:
            notification_type = int(sub.get("notificationType"))
        except (TypeError, ValueError):
            notification_type = None
        kind = NOTIFICATION_TYPES.get(notification_type, f"SUBSCRIPTION_{sub.get('notificationType')}")
        token = str(sub.get("purchaseToken") or "")
        product_id = str(sub.get("subscriptionId") or "")
    elif voided:
        kind, token, product_id = "VOIDED_PURCHASE", str(voided.get("purchaseToken") or ""), ""
    else:
        kind = "TEST" if data.get("testNotification") else "OTHER"
        token = product_id = ""
    return Push(
        message_id=message_id,
        package_name=str(data.get("packageName") or ""),
        event_at=event_at,
        kind=kind,
        notification_type=notification_type,
        purchase_token=token,
        product_id=product_id,
        voided=bool(voided),
    )


_jwks: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks_client(url: str) -> jwt.PyJWKClient:
    with _jwks_lock:
        if url not in _jwks:
            _jwks[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)
        return _jwks[url]


def authenticate_push(*, token: str, authorization: str) -> None:
    """Accept the push only if every configured check passes: the shared token in the query string, and (when an
    audience is configured) Google's OIDC token for our push service account. With neither configured, no push is
    accepted."""
    shared = config.push_token()
    audience = settings.GOOGLE_PLAY_PUSH_AUDIENCE
    if not shared and not audience:
        raise PushRejected("no push authentication is configured")
    if shared and not hmac.compare_digest(shared.encode(), (token or "").encode()):
        raise PushRejected("wrong push token")
    if audience:
        scheme, _, bearer = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not bearer:
            raise PushRejected("no OIDC token")
        try:
            key = _jwks_client(settings.GOOGLE_PLAY_PUSH_JWKS_URL).get_signing_key_from_jwt(bearer.strip())
            claims = jwt.decode(
                bearer.strip(),
                key.key,
                algorithms=["RS256"],
                audience=audience,
                issuer=GOOGLE_ISSUERS,
                leeway=30,
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError:
            raise PushRejected("OIDC token not verified") from None
        wanted = settings.GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT
        if wanted and (claims.get("email") != wanted or claims.get("email_verified") is not True):
            raise PushRejected("OIDC token of another account")


_STATES = {
    "SUBSCRIPTION_STATE_ACTIVE": State.ACTIVE,
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD": State.GRACE,
    "SUBSCRIPTION_STATE_ON_HOLD": State.ON_HOLD,
    "SUBSCRIPTION_STATE_PAUSED": State.ON_HOLD,
    "SUBSCRIPTION_STATE_EXPIRED": State.EXPIRED,
    "SUBSCRIPTION_STATE_PENDING": State.PENDING,
    "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED": State.EXPIRED,
}


def parse_subscription(data: dict, *, at: dt.datetime) -> PlaySubscription:
    """Map a ``SubscriptionPurchaseV2``. ``CANCELED`` keeps access until the latest expiry (renewal off)."""
    if not isinstance(data, dict):
        raise GooglePlayError("not a subscription")
    raw_state = str(data.get("subscriptionState") or "")
    items = data.get("lineItems") or []
    if not isinstance(items, list):
        raise GooglePlayError("unreadable line items")
    expiries = [_time(item.get("expiryTime")) for item in items if isinstance(item, dict)]
    expires_at = max((e for e in expiries if e), default=None)
    auto_renew = None
    for item in items:
        plan = item.get("autoRenewingPlan") if isinstance(item, dict) else None
        if isinstance(plan, dict) and "autoRenewEnabled" in plan:
            auto_renew = bool(plan["autoRenewEnabled"]) or bool(auto_renew)
    if raw_state == "SUBSCRIPTION_STATE_CANCELED":
        state = State.ACTIVE if expires_at and expires_at > at else State.EXPIRED
        auto_renew = False
    else:
        state = _STATES.get(raw_state)
    if state in {State.ACTIVE, State.GRACE} and expires_at is None:
        raise GooglePlayError("an active subscription without an expiry time")
    product_id = next(
        (str(i.get("productId")) for i in items if isinstance(i, dict) and i.get("productId")), ""
    )
    accounts = data.get("externalAccountIdentifiers") or {}
    return PlaySubscription(
        raw_state=raw_state,
        state=state,
        expires_at=expires_at,
        auto_renew=auto_renew,
        product_id=product_id,
        account_id=str(accounts.get("obfuscatedExternalAccountId") or "")
        if isinstance(accounts, dict)
        else "",
        linked_purchase_token=str(data.get("linkedPurchaseToken") or ""),
        acknowledged=data.get("acknowledgementState") == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
    )


_token_cache: dict[str, tuple[str, float]] = {}
_token_lock = threading.Lock()


class GooglePlay:
    """Calls to the Google Play Developer API as our service account."""

    def __init__(self, *, base_url: str | None = None, timeout: float = 15):
        self.base_url = (base_url or config.api_base_url()).rstrip("/")
        self.timeout = timeout

    def _credentials(self) -> dict:
        account = config.service_account()
        if not account or not account.get("client_email") or not account.get("private_key"):
            raise GooglePlayError("no Google Play service account is configured")
        return account

    def _client(self) -> httpx.Client:
        return httpx.Client(transport=transport, timeout=self.timeout)

    def access_token(self) -> str:
        """A cached OAuth access token (JWT-bearer grant), renewed a minute before it expires."""
        account = self._credentials()
        token_uri = config.token_url()
        key = f"{account['client_email']}|{token_uri}"
        with _token_lock:
            cached = _token_cache.get(key)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
        now = int(time.time())
        assertion = jwt.encode(
            {"iss": account["client_email"], "scope": SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600},
            account["private_key"],
            algorithm="RS256",
            headers={"kid": account["private_key_id"]} if account.get("private_key_id") else None,
        )
        try:
            with self._client() as http:
                response = http.post(
                    token_uri,
                    data={
                        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                        "assertion": assertion,
                    },
                )
        except httpx.HTTPError as exc:
            raise GooglePlayError(f"token endpoint unreachable: {exc}") from None
        if response.status_code != 200:
            raise GooglePlayError(f"token endpoint answered {response.status_code}")
        try:
            data = response.json()
            token, lifetime = str(data["access_token"]), int(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise GooglePlayError("token endpoint answered without a token") from None
        with _token_lock:
            _token_cache[key] = (token, time.time() + lifetime)
        return token

    def _call(self, method: str, path: str) -> httpx.Response:
        for attempt in range(2):
            token = self.access_token()
            try:
                with self._client() as http:
                    response = http.request(
                        method, self.base_url + path, headers={"Authorization": f"Bearer {token}"}
                    )
            except httpx.HTTPError as exc:
                raise GooglePlayError(f"Google Play unreachable: {exc}") from None
            if response.status_code == 401 and attempt == 0:
                with _token_lock:
                    _token_cache.clear()  # revoked or expired early: get a new token once
                continue
            return response
        return response

    def subscription(self, *, package_name: str, token: str, at: dt.datetime) -> PlaySubscription:
        """``purchases.subscriptionsv2.get``."""
        path = (
            f"/androidpublisher/v3/applications/{quote(package_name, safe='')}"
            f"/purchases/subscriptionsv2/tokens/{quote(token, safe='')}"
        )
        response = self._call("GET", path)
        if response.status_code in {404, 410}:
            raise NotFoundAtGoogle(token)
        if response.status_code != 200:
            raise GooglePlayError(f"Google Play answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise GooglePlayError("Google Play answered without JSON") from None
        return parse_subscription(data, at=at)

    def acknowledge(self, *, package_name: str, product_id: str, token: str) -> None:
        """``purchases.subscriptions.acknowledge`` (unacknowledged purchases are refunded after three days)."""
        path = (
            f"/androidpublisher/v3/applications/{quote(package_name, safe='')}/purchases/subscriptions/"
            f"{quote(product_id, safe='')}/tokens/{quote(token, safe='')}:acknowledge"
        )
        response = self._call("POST", path)
        if response.status_code not in {200, 204}:
            raise GooglePlayError(f"Google Play answered {response.status_code} to the acknowledgement")
