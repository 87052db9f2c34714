"""PayTabs PT2 as the simulator speaks it: reading a request, PayTabs' refusals, and the shapes it answers with
(payment request, IPN / query answer, the browser's return fields). No database access here.

Shapes follow ``INTEGRATIONS.md`` and a real PayTabs IPN (``merchant_id``, ``profile_id``, ``tran_type`` "Sale",
``tran_class`` "ECom", amounts as strings, ``transaction_time`` in UTC with ``Z``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from shifa.billing.paytabs import format_amount, return_signature

#: Simulated merchant account number (PayTabs answers carry one beside the profile).
MERCHANT_ID = 10001
MAX_AMOUNT = Decimal("999999999.999")

TRAN_TYPES = {"sale": "Sale", "auth": "Auth", "refund": "Refund"}
TRAN_CLASSES = {"ecom": "ECom", "recurring": "Recurring"}
LANGUAGES = {"en", "ar"}

# PayTabs' refusals: ``{"code": n, "message": …}``. 1 and 4 are PayTabs' own (INTEGRATIONS.md); the others are
# the simulator's numbering of the checks PayTabs is known to make.
AUTHENTICATION_FAILED = 1
INVALID_FIELD = 2
NOT_FOUND = 3
DUPLICATE = 4
NOT_JSON = 5
NOT_ALLOWED = 6

MESSAGES = {
    AUTHENTICATION_FAILED: "Authentication failed. Check authentication header.",
    DUPLICATE: "Duplicate Request",
    NOT_JSON: "Request must be in JSON format with content-type Application/JSON",
    NOT_FOUND: "Transaction not found",
}


class Refusal(Exception):
    """A request PayTabs turns down: answered ``{"code", "message", "trace"}`` with ``http_status``."""

    def __init__(self, code: int, message: str | None = None, *, http_status: int = 400):
        self.code = code
        self.message = message or MESSAGES[code]
        self.http_status = http_status
        super().__init__(f"{code}: {self.message}")

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "trace": trace("PMNT")}


def trace(prefix: str) -> str:
    """PayTabs' request trace, e.g. ``PMNT0402.6A1B2C3D.0000F48A``."""
    return f"{prefix}{secrets.randbelow(10**4):04d}.{secrets.token_hex(4).upper()}.{secrets.token_hex(4).upper()}"


def read_json(content_type: str, raw: bytes) -> dict:
    """The request's JSON object; amounts written as JSON numbers are read as ``Decimal``, never as floats."""
    if content_type != "application/json":
        raise Refusal(NOT_JSON)
    try:
        data = json.loads(raw or b"{}", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(NOT_JSON) from None
    if not isinstance(data, dict):
        raise Refusal(NOT_JSON)
    return data


def profile_of(data: dict) -> int | None:
    value = data.get("profile_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _invalid(name: str, message: str) -> Refusal:
    return Refusal(INVALID_FIELD, f"{name}: {message}")


def _text(data: dict, name: str, low: int, high: int, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise _invalid(name, f"must be text of {low} to {high} characters")
    return value


def read_amount(value) -> Decimal:
    """A positive amount with at most three decimals (JOD's fils)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise _invalid("cart_amount", "must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid("cart_amount", "must be a number") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        raise _invalid("cart_amount", "must be more than 0")
    if amount != amount.quantize(Decimal("0.001")):
        raise _invalid("cart_amount", "must have at most 3 decimals")
    return amount.quantize(Decimal("0.001"))


def _url(data: dict, name: str) -> str:
    value = data.get(name)
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 500:
        raise _invalid(name, "must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _invalid(name, "must be an absolute http(s) URL")
    return value


@dataclass(frozen=True)
class PaymentRequest:
    """A validated ``POST /payment/request``."""

    tran_type: str
    tran_class: str
    cart_id: str
    description: str
    currency: str
    amount: Decimal
    callback_url: str = ""
    return_url: str = ""
    customer_details: dict = field(default_factory=dict)
    user_defined: dict = field(default_factory=dict)
    language: str = "en"
    tokenise: bool = False
    tran_ref: str = ""
    token: str = ""


def read_payment_request(data: dict) -> PaymentRequest:
    tran_type = str(data.get("tran_type", "")).lower()
    if tran_type not in TRAN_TYPES:
        raise _invalid("tran_type", "must be sale, auth or refund")
    tran_class = str(data.get("tran_class", "")).lower()
    if tran_class not in TRAN_CLASSES:
        raise _invalid("tran_class", "must be ecom or recurring")
    if tran_type == "refund" and tran_class != "ecom":
        raise _invalid("tran_class", "a refund is ecom")
    cart_id = _text(data, "cart_id", 1, 64)
    description = _text(data, "cart_description", 1, 128)
    currency = data.get("cart_currency")
    if currency != "JOD":
        raise _invalid("cart_currency", "this profile takes JOD only")
    amount = read_amount(data.get("cart_amount"))
    customer = data.get("customer_details") or {}
    if not isinstance(customer, dict):
        raise _invalid("customer_details", "must be an object")
    user_defined = data.get("user_defined") or {}
    if not isinstance(user_defined, dict):
        raise _invalid("user_defined", "must be an object")
    language = str(data.get("paypage_lang") or "en").lower()
    if language not in LANGUAGES:
        raise _invalid("paypage_lang", "must be en or ar")
    tran_ref = token = ""
    if tran_type == "refund" or tran_class == "recurring":
        tran_ref = _text(data, "tran_ref", 1, 32)
    if tran_class == "recurring":
        token = _text(data, "token", 1, 64)
    return PaymentRequest(
        tran_type=tran_type,
        tran_class=tran_class,
        cart_id=cart_id,
        description=description,
        currency=currency,
        amount=amount,
        callback_url=_url(data, "callback"),
        return_url=_url(data, "return"),
        customer_details=_json_safe(customer),
        user_defined=_json_safe(user_defined),
        language=language,
        tokenise=str(data.get("tokenise", "")) == "2",
        tran_ref=tran_ref,
        token=token,
    )


def _json_safe(value):
    """Decimals read from JSON numbers, back to their exact text (a JSON field stores no Decimal)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def new_tran_ref(now) -> str:
    """``TST`` + year + day of the year + ten random digits: PayTabs' look, too many to guess a page's address."""
    return f"TST{now:%y}{now.timetuple().tm_yday:03d}{secrets.randbelow(10**10):010d}"


def new_token() -> str:
    return secrets.token_hex(16).upper()


def approval_code() -> str:
    return f"G{secrets.randbelow(10**5):05d}"


def new_rrn() -> str:
    return f"{secrets.randbelow(10**12):012d}"


#: (response_code, response_message) of the outcomes that are not an approval.
OUTCOMES = {
    "D": ("302", "Declined"),
    "C": ("C", "Cancelled"),
    "X": ("X", "Expired"),
    "P": ("P", "Pending"),
    "E": ("E", "Error"),
}


def card_of(number: str) -> tuple[str, str]:
    """(scheme, PayTabs' masked description) of a test card number (digits only)."""
    scheme = {"4": "Visa", "5": "MasterCard", "2": "MasterCard", "3": "AmericanExpress"}.get(
        number[:1], "Card"
    )
    masked = number[:6] + "#" * (len(number) - 10) + number[-4:]
    return scheme, " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


def _time(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def page_answer(tran, redirect_url: str) -> dict:
    """The answer to a hosted page request: where to send the payer, and the cart echoed."""
    return {
        "tran_ref": tran.tran_ref,
        "tran_type": TRAN_TYPES[tran.tran_type],
        "cart_id": tran.cart_id,
        "cart_description": tran.description,
        "cart_currency": tran.currency,
        "cart_amount": format_amount(tran.amount),
        "callback": tran.callback_url,
        "return": tran.return_url,
        "redirect_url": redirect_url,
        "serviceId": 2,
        "profileId": tran.profile_id,
        "merchantId": MERCHANT_ID,
        "trace": trace("PMNT"),
    }


def ipn_body(tran) -> dict:
    """A transaction as PayTabs reports it (callback, query, a refund's or recurring payment's answer). A page
    nobody has acted on yet is reported pending (``P``)."""
    status = "P" if tran.status == "page" else tran.status
    body = {
        "tran_ref": tran.tran_ref,
        "merchant_id": MERCHANT_ID,
        "profile_id": tran.profile_id,
        "cart_id": tran.cart_id,
        "cart_description": tran.description,
        "cart_currency": tran.currency,
        "cart_amount": format_amount(tran.amount),
        "tran_currency": tran.currency,
        "tran_total": format_amount(tran.amount),
        "tran_type": TRAN_TYPES[tran.tran_type],
        "tran_class": TRAN_CLASSES[tran.tran_class],
        "customer_details": tran.customer_details or {},
        "payment_result": {
            "response_status": status,
            "response_code": tran.response_code or OUTCOMES["P"][0],
            "response_message": tran.response_message or OUTCOMES["P"][1],
            "acquirer_message": "",
            "acquirer_rrn": tran.acquirer_rrn,
            "cvv_result": " ",
            "avs_result": " ",
            "transaction_time": _time(tran.finished_at or tran.created_at),
        },
        "payment_info": {
            "payment_method": tran.card_scheme,
            "card_type": "Credit" if tran.card_scheme else "",
            "card_scheme": tran.card_scheme,
            "payment_description": tran.payment_description,
        },
        "ipn_trace": trace("IPNS"),
        "paymentChannel": "Payment Page"
        if tran.tran_class == "ecom" and tran.tran_type != "refund"
        else "API",
    }
    if tran.token:
        body["token"] = tran.token
    if tran.parent_id:
        body["previous_tran_ref"] = tran.parent.tran_ref
    if tran.user_defined:
        body["user_defined"] = tran.user_defined
    return body


def return_fields(tran) -> dict:
    """The form the payer's browser posts back to the merchant's ``return`` URL, signed as PayTabs signs it."""
    fields = {
        "acquirerMessage": "",
        "acquirerRRN": tran.acquirer_rrn,
        "cartId": tran.cart_id,
        "customerEmail": str((tran.customer_details or {}).get("email", "")),
        "respCode": tran.response_code,
        "respMessage": tran.response_message,
        "respStatus": tran.status,
        "token": tran.token,
        "tranRef": tran.tran_ref,
    }
    fields["signature"] = return_signature(fields)
    return fields


def encode(body: dict) -> bytes:
    """The raw bytes of a callback (what its ``Signature`` covers)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
