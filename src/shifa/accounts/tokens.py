"""Access tokens for API clients: short-lived JWTs (PyJWT, HS256) naming the user and the token family.

The token is only half of the check: ``shifa.accounts.queries.access_token_user`` also requires the family to
be unrevoked, so signing out or a detected refresh-token replay ends every token of the family at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings

from shifa.core import timezones

ISSUER = "shifa"
AUDIENCE = "shifa-api"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    family_id: uuid.UUID
    mfa: bool
    expires_at: dt.datetime


def encode_access(*, user_id: uuid.UUID, family_id: uuid.UUID, mfa: bool) -> tuple[str, dt.datetime]:
    now = timezones.now()
    expires_at = now + dt.timedelta(seconds=settings.SHIFA_ACCESS_TOKEN_SECONDS)
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "fam": str(family_id),
        "amr": ["pwd", "otp"] if mfa else ["pwd"],
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, settings.SHIFA_JWT_KEY, algorithm=ALGORITHM), expires_at


def decode_access(token: str) -> AccessClaims | None:
    """The claims of a valid, unexpired access token issued by us; None for anything else."""
    try:
        payload = jwt.decode(
            token,
            settings.SHIFA_JWT_KEY,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            # Expiry is checked below against the product's clock (one clock for everything, testable).
            options={
                "require": ["exp", "iat", "sub", "fam", "aud", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        if int(payload["exp"]) <= timezones.now().timestamp():
            return None
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            family_id=uuid.UUID(payload["fam"]),
            mfa="otp" in payload.get("amr", []),
            expires_at=dt.datetime.fromtimestamp(payload["exp"], tz=dt.UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
