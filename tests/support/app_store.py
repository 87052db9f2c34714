"""Apple's side of App Store Server Notifications V2, played locally: a three-level EC certificate chain minted with
``cryptography`` (root → intermediate with OID 1.2.840.113635.100.6.2.1 → leaf with OID 1.2.840.113635.100.6.11.1)
and ES256 JWS carrying it in ``x5c``, so that notifications go through the real ``app-store-server-library``
verification with our root in place of Apple Root CA G3."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
BUNDLE_ID = "jo.shifa.app"
APP_APPLE_ID = 1234567890


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shifa Test Apple"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, marker=None, issuer_key=None):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer_key else None), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
        )
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, b"\x05\x00"), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


class AppleSigner:
    """Signs notifications the way Apple does, with a locally minted chain (``with_oids=False`` leaves Apple's
    OIDs out, which the verifier must refuse)."""

    def __init__(self, *, with_oids: bool = True):
        root_key = ec.generate_private_key(ec.SECP256R1())
        middle_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        root_name, middle_name = _name("Test Apple Root CA - G3"), _name("Test Apple WWDR CA")
        self.root = _certificate(root_name, root_name, root_key.public_key(), root_key, ca=True)
        self.intermediate = _certificate(
            middle_name,
            root_name,
            middle_key.public_key(),
            root_key,
            ca=True,
            marker=INTERMEDIATE_OID if with_oids else None,
            issuer_key=root_key.public_key(),
        )
        self.leaf = _certificate(
            _name("Test Prod ECC Mac App Store and iTunes Store Receipt Signing"),
            middle_name,
            self.leaf_key.public_key(),
            middle_key,
            ca=False,
            marker=LEAF_OID if with_oids else None,
            issuer_key=middle_key.public_key(),
        )

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(Encoding.DER)

    def sign(self, payload: dict) -> str:
        chain = [
            base64.b64encode(c.public_bytes(Encoding.DER)).decode()
            for c in (self.leaf, self.intermediate, self.root)
        ]
        return jwt.encode(payload, self.leaf_key, algorithm="ES256", headers={"x5c": chain})

    def notification(
        self,
        notification_type: str,
        *,
        subtype: str | None = None,
        notification_uuid: str | None = None,
        original_transaction_id: str = "2000000100000001",
        transaction_id: str | None = None,
        product_id: str = "jo.shifa.plus.monthly",
        app_account_token: str | None = None,
        expires_at: dt.datetime | None = None,
        signed_at: dt.datetime | None = None,
        environment: str = "Production",
        bundle_id: str = BUNDLE_ID,
        transaction_bundle_id: str | None = None,
        app_apple_id: int | None = APP_APPLE_ID,
        auto_renew: bool = True,
        grace_until: dt.datetime | None = None,
        price: int | None = None,
        currency: str = "JOD",
    ) -> str:
        """A ``signedPayload`` with its signed transaction and renewal info."""
        signed_ms = int((signed_at.timestamp() if signed_at else time.time()) * 1000)
        expires = expires_at or dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        transaction = {
            "originalTransactionId": original_transaction_id,
            "transactionId": transaction_id or uuid.uuid4().hex[:16],
            "bundleId": transaction_bundle_id or bundle_id,
            "productId": product_id,
            "purchaseDate": int((expires - dt.timedelta(days=30)).timestamp() * 1000),
            "expiresDate": int(expires.timestamp() * 1000),
            "type": "Auto-Renewable Subscription",
            "environment": environment,
            "signedDate": signed_ms,
            "currency": currency,
        }
        if price is not None:
            transaction["price"] = price
        if app_account_token:
            transaction["appAccountToken"] = app_account_token
        renewal = {
            "originalTransactionId": original_transaction_id,
            "autoRenewProductId": product_id,
            "productId": product_id,
            "autoRenewStatus": 1 if auto_renew else 0,
            "environment": environment,
            "signedDate": signed_ms,
        }
        if grace_until is not None:
            renewal["gracePeriodExpiresDate"] = int(grace_until.timestamp() * 1000)
        payload = {
            "notificationType": notification_type,
            "notificationUUID": notification_uuid or str(uuid.uuid4()),
            "version": "2.0",
            "signedDate": signed_ms,
            "data": {
                "bundleId": bundle_id,
                "appAppleId": app_apple_id,
                "environment": environment,
                "signedTransactionInfo": self.sign(transaction),
                "signedRenewalInfo": self.sign(renewal),
                "status": 1,
            },
        }
        if subtype:
            payload["subtype"] = subtype
        return self.sign(payload)
