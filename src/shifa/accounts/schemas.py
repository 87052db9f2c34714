from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from ninja import Field, Schema

DEVICE = Field("", max_length=100, description="A label for this sign-in, e.g. the device name")
LANGUAGE = Field("ar", pattern="^(ar|en)$")
PHONE = Field(..., min_length=4, max_length=32, description="E.164, or a local Jordanian number")


class TokenIn(Schema):
    email: str = Field(..., min_length=3, max_length=254)
    password: str = Field(..., min_length=1, max_length=256)
    name: str = DEVICE


class MfaTokenIn(Schema):
    mfa_token: str = Field(..., min_length=10, max_length=500)
    code: str = Field(..., min_length=6, max_length=20, description="Authenticator code or a recovery code")
    name: str = DEVICE


class RefreshIn(Schema):
    refresh_token: str = Field(..., min_length=10, max_length=200)


class PhoneCodeIn(Schema):
    phone: str = PHONE
    purpose: Literal["sign_in", "reset_password"] = "sign_in"


class PhoneCodeOut(Schema):
    expires_in: int
    resend_after: int


class PhoneSignInIn(Schema):
    phone: str = PHONE
    code: str = Field(..., min_length=6, max_length=12)
    full_name: str = Field("", max_length=200, description="Needed only when the number is new (sign-up)")
    language: str = LANGUAGE
    name: str = DEVICE


class SignUpIn(Schema):
    email: str = Field(..., min_length=3, max_length=254)
    password: str = Field(..., min_length=1, max_length=256)
    full_name: str = Field(..., min_length=1, max_length=200)
    phone: str = Field("", max_length=32)
    language: str = LANGUAGE


class EmailKeyIn(Schema):
    key: str = Field(..., min_length=10, max_length=500)


class EmailIn(Schema):
    email: str = Field(..., min_length=3, max_length=254)


NONCE = Field(
    ...,
    min_length=10,
    max_length=200,
    description="From POST /auth/providers/nonces; the ID token carries it (Apple's native flow: its SHA-256)",
)


class NonceOut(Schema):
    nonce: str
    expires_at: dt.datetime


class ProviderTokenIn(Schema):
    id_token: str = Field(..., min_length=10, max_length=8000)
    nonce: str = NONCE
    full_name: str = Field("", max_length=200, description="Apple sends the name to the app only once")
    language: str = LANGUAGE
    name: str = DEVICE


class IdentityLinkIn(Schema):
    provider: Literal["google", "apple"]
    id_token: str = Field(..., min_length=10, max_length=8000)
    nonce: str = NONCE


class IdentityOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    provider: str
    email: str
    created_at: dt.datetime


class TotpSetupOut(Schema):
    secret: str
    uri: str
    qr_svg: str


class CodeIn(Schema):
    code: str = Field(..., min_length=6, max_length=20)


class RecoveryCodesOut(Schema):
    recovery_codes: list[str]


class PasswordResetIn(Schema):
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=32)


class PasswordResetLinkIn(Schema):
    uid: str = Field(..., min_length=1, max_length=100)
    token: str = Field(..., min_length=1, max_length=100)
    password: str = Field(..., min_length=1, max_length=256)


class PasswordResetCodeIn(Schema):
    phone: str = PHONE
    code: str = Field(..., min_length=6, max_length=12)
    password: str = Field(..., min_length=1, max_length=256)


class UserOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    email: str
    email_verified: bool
    phone_verified: bool
    has_authenticator: bool = Field(..., alias="has_mfa")
    full_name: str
    phone: str
    language: str
    time_zone: str


class TokenOut(Schema):
    access_token: str
    token_type: str = "Bearer"
    expires_at: dt.datetime = Field(..., description="When the access token expires (minutes from now)")
    refresh_token: str = Field(..., description="Spend once at /auth/tokens/refresh for a new pair")
    user: UserOut


class MfaRequiredOut(Schema):
    mfa_required: bool = True
    mfa_token: str = Field(..., description="Send with an authenticator code to /auth/tokens/mfa (5 minutes)")


class ClinicRef(Schema):
    id: uuid.UUID
    name: str
    roles: list[str]


class SignUpOut(Schema):
    user: UserOut
    verification_sent: bool = True


class MeOut(Schema):
    user: UserOut
    roles: list[str]
    is_platform_admin: bool
    clinics: list[ClinicRef]
