"""A client of the PayTabs PT2 API (Jordan): hosted payment pages, queries, refunds and tokenised recurring
payments, and the checks of what PayTabs sends back (server-to-server callbacks and the browser's return).

Facts: ``docs/decisions/0018-online-payments.md``. The local simulator (``shifa.simulators.paytabs``) speaks the same
protocol; settings choose which one answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import quote_plus

import httpx
from django.conf import settings

#: ``payment_result.response_status``: only ``A`` means the money was taken.
AUTHORISED = "A"
ON_HOLD = "H"
PENDING = "P"
VOIDED = "V"
ERROR = "E"
DECLINED = "D"
EXPIRED = "X"
CANCELLED = "C"
STATUSES = frozenset({AUTHORISED, ON_HOLD, PENDING, VOIDED, ERROR, DECLINED, EXPIRED, CANCELLED})
#: Statuses after which nothing more happens to a transaction (``H`` and ``P`` may still become ``A``).
FINAL = frozenset({AUTHORISED, VOIDED, ERROR, DECLINED, EXPIRED, CANCELLED})

#: A test hook: an ``httpx`` transport that carries the client's requests (the tests route them in-process).
transport: httpx.BaseTransport | None = None


class PayTabsError(Exception):
    """PayTabs could not be reached or answered something we cannot use: nothing is known to have happened."""


class PayTabsRefused(PayTabsError):
    """PayTabs answered with an error ``code`` (1 authentication failed, 4 duplicate request, …)."""

    def __init__(self, code, message: str):
        super().__init__(f"PayTabs refused ({code}): {message}")
        self.code = code
        self.message = message


class BadSignature(Exception):
    """A callback or return whose signature or profile does not match ours: it is ignored."""


@dataclass(frozen=True)
class Page:
    """A hosted payment page made for a cart: send the patient's browser to ``redirect_url``."""

    tran_ref: str
    redirect_url: str
    cart_id: str


@dataclass(frozen=True)
class Result:
    """A transaction as PayTabs reports it (callback, IPN, query or a refund's or recurring payment's answer)."""

    tran_ref: str
    cart_id: str
    profile_id: int
    amount: Decimal
    currency: str
    tran_type: str
    tran_class: str
    status: str
    code: str
    message: str
    token: str = ""
    previous_tran_ref: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def authorised(self) -> bool:
        return self.status == AUTHORISED

    @property
    def final(self) -> bool:
        return self.status in FINAL


def _decimal(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PayTabsError(f"unreadable amount {value!r}") from None
    if not amount.is_finite():
        raise PayTabsError(f"unreadable amount {value!r}")
    return amount


def parse_result(data: dict, *, profile_id: int | None = None) -> Result:
    """A transaction from PayTabs' JSON (the callback, IPN and query answers share one shape). An API answer
    that names no profile is our own (``profile_id``); a callback must name it."""
    if not isinstance(data, dict):
        raise PayTabsError("not a transaction")
    outcome = data.get("payment_result") or {}
    status = str(outcome.get("response_status", ""))
    if status not in STATUSES:
        raise PayTabsError(f"unknown status {status!r}")
    try:
        profile_id = int(data["profile_id"]) if "profile_id" in data or profile_id is None else profile_id
    except (KeyError, TypeError, ValueError):
        raise PayTabsError("no profile id") from None
    return Result(
        tran_ref=str(data.get("tran_ref", "")),
        cart_id=str(data.get("cart_id", "")),
        profile_id=profile_id,
        amount=_decimal(data.get("cart_amount", data.get("tran_total", "0"))),
        currency=str(data.get("cart_currency", data.get("tran_currency", ""))),
        tran_type=str(data.get("tran_type", "")).lower(),
        tran_class=str(data.get("tran_class", "")).lower(),
        status=status,
        code=str(outcome.get("response_code", "")),
        message=str(outcome.get("response_message", "")),
        token=str(data.get("token", "") or ""),
        previous_tran_ref=str(data.get("previous_tran_ref", "") or ""),
        raw=data,
    )


def sign(raw: bytes, key: str | None = None) -> str:
    """The ``Signature`` header of a callback: lowercase hex HMAC-SHA256 of the raw body keyed with the server
    key."""
    return hmac.new((key or settings.PAYTABS_SERVER_KEY).encode(), raw, hashlib.sha256).hexdigest()


def return_signature(fields: dict, key: str | None = None) -> str:
    """The ``signature`` of a browser return: HMAC-SHA256 over the other non-empty fields sorted by key and
    form-encoded the PHP way (space as ``+``, ``~`` as ``%7E``), as PayTabs' own PHP library does."""
    # PHP's array_filter drops every "empty" value, "0" included.
    pairs = sorted(
        (k, str(v)) for k, v in fields.items() if k != "signature" and v not in ("", None, "0", 0, False)
    )
    query = "&".join(f"{quote_plus(k)}={quote_plus(v)}".replace("~", "%7E") for k, v in pairs)
    return hmac.new((key or settings.PAYTABS_SERVER_KEY).encode(), query.encode(), hashlib.sha256).hexdigest()


def verify_callback(raw: bytes, signature: str | None) -> Result:
    """The transaction in a callback or IPN, if its signature is ours (compared in constant time) and it names
    our profile; otherwise ``BadSignature`` and nothing is to change."""
    if not settings.PAYTABS_SERVER_KEY or not signature:
        raise BadSignature("unsigned")
    if not hmac.compare_digest(sign(raw).encode(), signature.strip().lower().encode()):
        raise BadSignature("wrong signature")
    try:
        result = parse_result(json.loads(raw))
    except (ValueError, PayTabsError) as exc:
        raise BadSignature(f"unreadable: {exc}") from None
    if result.profile_id != settings.PAYTABS_PROFILE_ID:
        raise BadSignature("another profile")
    return result


def verify_return(fields: dict) -> bool:
    """Whether a browser return is signed by PayTabs. Even then it only says where to look: the payment is
    credited from the callback or a query, never from the return."""
    signature = str(fields.get("signature", ""))
    if not settings.PAYTABS_SERVER_KEY or not signature:
        return False
    return hmac.compare_digest(return_signature(fields).encode(), signature.lower().encode())


class PayTabs:
    """Calls to one PayTabs profile. Network failures and unreadable answers raise ``PayTabsError``; PayTabs'
    own refusals raise ``PayTabsRefused`` with its code."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        server_key: str | None = None,
        profile_id: int | None = None,
        timeout: float | None = None,
    ):
        self.base_url = (base_url or settings.PAYTABS_BASE_URL).rstrip("/")
        self.server_key = server_key if server_key is not None else settings.PAYTABS_SERVER_KEY
        self.profile_id = profile_id if profile_id is not None else settings.PAYTABS_PROFILE_ID
        self.timeout = timeout or settings.PAYTABS_TIMEOUT_SECONDS

    def _post(self, path: str, body: dict) -> dict:
        if not self.server_key:
            raise PayTabsError("no PayTabs server key is configured")
        try:
            with httpx.Client(transport=transport, timeout=self.timeout) as http:
                response = http.post(
                    self.base_url + path,
                    json={"profile_id": self.profile_id, **body},
                    headers={"authorization": self.server_key, "content-type": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise PayTabsError(f"PayTabs unreachable: {exc}") from None
        if response.status_code >= 500:
            raise PayTabsError(f"PayTabs answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise PayTabsError(f"PayTabs answered {response.status_code} without JSON") from None
        if not isinstance(data, dict):
            raise PayTabsError("PayTabs answered something else than an object")
        if "code" in data and "tran_ref" not in data:
            raise PayTabsRefused(data.get("code"), str(data.get("message", "")))
        if response.status_code >= 400:
            raise PayTabsError(f"PayTabs answered {response.status_code}")
        return data

    def create_page(
        self,
        *,
        cart_id: str,
        description: str,
        amount: Decimal,
        callback_url: str,
        return_url: str,
        customer: dict,
        language: str = "en",
        tokenise: bool = False,
        tran_type: str = "sale",
        user_defined: dict | None = None,
    ) -> Page:
        body = {
            "tran_type": tran_type,
            "tran_class": "ecom",
            "cart_id": cart_id,
            "cart_description": description[:128],
            "cart_currency": "JOD",
            "cart_amount": format_amount(amount),
            "callback": callback_url,
            "return": return_url,
            "customer_details": customer,
            "paypage_lang": "ar" if language == "ar" else "en",
            "hide_shipping": True,
        }
        if tokenise:
            body["tokenise"] = "2"
        if user_defined:
            body["user_defined"] = user_defined
        data = self._post("/payment/request", body)
        if not data.get("redirect_url") or not data.get("tran_ref"):
            raise PayTabsError("PayTabs gave no payment page")
        return Page(tran_ref=str(data["tran_ref"]), redirect_url=str(data["redirect_url"]), cart_id=cart_id)

    def query(self, *, tran_ref: str | None = None, cart_id: str | None = None) -> Result:
        body = {"tran_ref": tran_ref} if tran_ref else {"cart_id": cart_id}
        return parse_result(self._post("/payment/query", body), profile_id=self.profile_id)

    def refund(self, *, tran_ref: str, cart_id: str, amount: Decimal, description: str) -> Result:
        """Refund (part of) an authorised sale; the answer may be ``P`` (pending): a callback settles it."""
        data = self._post(
            "/payment/request",
            {
                "tran_type": "refund",
                "tran_class": "ecom",
                "cart_id": cart_id,
                "cart_description": description[:128],
                "cart_currency": "JOD",
                "cart_amount": format_amount(amount),
                "tran_ref": tran_ref,
            },
        )
        return parse_result(data, profile_id=self.profile_id)

    def recurring(
        self, *, token: str, tran_ref: str, cart_id: str, amount: Decimal, description: str, callback_url: str
    ) -> Result:
        """Charge a saved card again (a subscription's renewal): ``token`` and ``tran_ref`` of the first
        tokenised payment."""
        data = self._post(
            "/payment/request",
            {
                "tran_type": "sale",
                "tran_class": "recurring",
                "cart_id": cart_id,
                "cart_description": description[:128],
                "cart_currency": "JOD",
                "cart_amount": format_amount(amount),
                "token": token,
                "tran_ref": tran_ref,
                "callback": callback_url,
            },
        )
        return parse_result(data, profile_id=self.profile_id)


def customer_details(patient, user, *, street: str = "Shifa") -> dict:
    """The ``customer_details`` a hosted page needs (PayTabs shows them and its card checks use them): the
    patient's name, an email and phone to reach them, and an address in Jordan."""
    return {
        "name": (patient.full_name or "Patient")[:128],
        "email": getattr(user, "email", "")
        or f"patient-{patient.external_id.hex[:12]}@{settings.SHIFA_MAIL_DOMAIN}",
        "phone": getattr(patient, "phone", "") or getattr(user, "phone", "") or "",
        "street1": street[:128],
        "city": "Amman",
        "state": "AM",
        "country": "JO",
        "zip": "11118",
    }


def format_amount(amount: Decimal) -> str:
    """JOD with its three decimals (fils), as PayTabs echoes it."""
    return f"{Decimal(amount).quantize(Decimal('0.001')):f}"


def client() -> PayTabs:
    return PayTabs()
