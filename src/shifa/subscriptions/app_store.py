"""App Store Server Notifications V2, verified with Apple's ``app-store-server-library``.

A notification is ``{"signedPayload": "<JWS>"}``; the JWS (ES256) carries an ``x5c`` chain of three certificates
that must lead to one of our configured roots (Apple Root CA G3 in production; a locally minted root in the tests),
with Apple's OIDs on the leaf and the intermediate. The library also checks the bundle id, the app's Apple id (in
production) and the environment. We never configure the Xcode or LocalTesting environments: the library skips the
signature check for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    VerificationStatus,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

#: The environments we may be configured for (signature checks on).
ENVIRONMENTS = {"Production": Environment.PRODUCTION, "Sandbox": Environment.SANDBOX}
#: Shipped with the project (SHA-256 63:34:3A:BF:…:91:79), from https://www.apple.com/certificateauthority/.
APPLE_ROOT_CA_G3 = Path(__file__).resolve().parent / "data" / "AppleRootCA-G3.pem"


class Rejected(Exception):
    """The notification is not one Apple sent for our app in our environment: nothing is to change."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Notice:
    """A verified notification, with its signed transaction and renewal info decoded."""

    notification_uuid: str
    type: str
    subtype: str
    signed_at: dt.datetime
    original_transaction_id: str = ""
    transaction_id: str = ""
    product_id: str = ""
    app_account_token: str = ""
    purchased_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    auto_renew: bool | None = None
    grace_until: dt.datetime | None = None
    price: Decimal | None = None
    currency: str = ""


def _certificate_der(item) -> bytes:
    data = bytes(item) if isinstance(item, bytes | bytearray) else Path(item).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


def root_certificates() -> list[bytes]:
    """The roots a chain must lead to (DER), from ``APP_STORE_ROOT_CERTIFICATES`` (paths, PEM or DER, or bytes)."""
    return [_certificate_der(item) for item in settings.APP_STORE_ROOT_CERTIFICATES]


def verifier() -> SignedDataVerifier:
    environment = ENVIRONMENTS.get(settings.APP_STORE_ENVIRONMENT)
    if environment is None:
        raise ImproperlyConfigured(
            "APP_STORE_ENVIRONMENT must be Production or Sandbox (Xcode and LocalTesting skip Apple's signature)"
        )
    return SignedDataVerifier(
        root_certificates(),
        False,  # no OCSP calls: a notification is verified offline against the chain and its signing date
        environment,
        settings.APP_STORE_BUNDLE_ID,
        settings.APP_STORE_APP_APPLE_ID,
    )


def _time(milliseconds) -> dt.datetime | None:
    if milliseconds in (None, ""):
        return None
    return dt.datetime.fromtimestamp(int(milliseconds) / 1000, tz=dt.UTC)


def _reason(exc: VerificationException) -> str:
    return {
        VerificationStatus.INVALID_APP_IDENTIFIER: "wrong_app",
        VerificationStatus.INVALID_ENVIRONMENT: "wrong_environment",
    }.get(exc.status, "bad_signature")


def verify(signed_payload: str) -> Notice:
    """The notification in ``signed_payload`` if Apple signed it for our app and environment; else ``Rejected``."""
    if not isinstance(signed_payload, str) or not signed_payload:
        raise Rejected("bad_signature")
    check = verifier()
    try:
        payload = check.verify_and_decode_notification(signed_payload)
        data = payload.data
        transaction = renewal = None
        if data is not None and data.signedTransactionInfo:
            transaction = check.verify_and_decode_signed_transaction(data.signedTransactionInfo)
        if data is not None and data.signedRenewalInfo:
            renewal = check.verify_and_decode_renewal_info(data.signedRenewalInfo)
    except VerificationException as exc:
        raise Rejected(_reason(exc)) from None
    if not payload.notificationUUID or payload.signedDate is None:
        raise Rejected("incomplete")
    if (
        transaction is not None
        and renewal is not None
        and renewal.originalTransactionId
        and renewal.originalTransactionId != transaction.originalTransactionId
    ):
        raise Rejected("incomplete")
    price = None
    if transaction is not None and transaction.price is not None:
        price = (Decimal(int(transaction.price)) / 1000).quantize(Decimal("0.001"))
    auto_renew = None
    if renewal is not None and renewal.rawAutoRenewStatus is not None:
        auto_renew = int(renewal.rawAutoRenewStatus) == 1
    return Notice(
        notification_uuid=str(payload.notificationUUID),
        type=str(payload.rawNotificationType or ""),
        subtype=str(payload.rawSubtype or ""),
        signed_at=_time(payload.signedDate),
        original_transaction_id=str(transaction.originalTransactionId or "") if transaction else "",
        transaction_id=str(transaction.transactionId or "") if transaction else "",
        product_id=str(transaction.productId or "") if transaction else "",
        app_account_token=str(
            (transaction.appAccountToken if transaction else None)
            or (renewal.appAccountToken if renewal else None)
            or ""
        ),
        purchased_at=_time(transaction.purchaseDate) if transaction else None,
        expires_at=_time(transaction.expiresDate) if transaction else None,
        auto_renew=auto_renew,
        grace_until=_time(renewal.gracePeriodExpiresDate) if renewal else None,
        price=price,
        currency=str(transaction.currency or "") if transaction else "",
    )
