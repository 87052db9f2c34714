"""Verifies OpenID Connect ID tokens from Google and Apple against the provider's published keys (PyJWT).

Checked: the signature (RS256/ES256 with a key from the provider's JWKS, chosen by ``kid``), the issuer, the
audience (one of our client ids), expiry and issue time, and — when the client sent one — the nonce.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.utils.translation import gettext as _

from shifa.core.errors import FieldError, NotAuthenticated, ServiceUnavailable, ValidationFailed

ALGORITHMS = ["RS256", "ES256"]
_clients: dict[str, jwt.PyJWKClient] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class VerifiedIdentity:
    provider: str
    subject: str
    email: str
    email_verified: bool
    name: str


def provider_config(provider: str) -> dict:
    config = settings.SHIFA_OIDC_PROVIDERS.get(provider)
    if not config or not config.get("audiences"):
        raise ValidationFailed(
            errors=[FieldError("provider", "unknown_provider", _("This sign-in provider is not available."))]
        )
    return config


def _jwks_client(url: str) -> jwt.PyJWKClient:
    with _lock:
        client = _clients.get(url)
        if client is None:
            # Keys are cached for an hour; an unknown kid refetches (providers rotate their keys).
            client = _clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)
        return client


def _nonce_matches(claimed: str | None, nonce: str) -> bool:
    # Google echoes the nonce; Apple's native flow echoes its SHA-256 hex digest.
    return claimed is not None and claimed in {nonce, hashlib.sha256(nonce.encode()).hexdigest()}


def verify_id_token(provider: str, id_token: str, *, nonce: str | None = None) -> VerifiedIdentity:
    config = provider_config(provider)
    rejected = NotAuthenticated(
        _("The sign-in with this provider could not be verified."), code="invalid_id_token"
    )
    try:
        signing_key = _jwks_client(config["jwks_url"]).get_signing_key_from_jwt(id_token)
    except jwt.PyJWKClientConnectionError as exc:
        raise ServiceUnavailable(
            _("The sign-in provider cannot be reached. Try again shortly."), code="provider_unavailable"
        ) from exc
    except jwt.PyJWTError:
        raise rejected from None
    try:
        claims = jwt.decode(
            id_token,
            signing_key.key,
            algorithms=ALGORITHMS,
            audience=config["audiences"],
            issuer=config["issuers"],
            leeway=30,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.PyJWTError:
        raise rejected from None
    if nonce is not None and not _nonce_matches(claims.get("nonce"), nonce):
        raise rejected
    if nonce is None and "nonce" in claims:
        # A token minted for a nonce must be presented with it; otherwise it could be replayed from elsewhere.
        raise rejected
    verified = claims.get("email_verified") in (True, "true")
    return VerifiedIdentity(
        provider=provider,
        subject=str(claims["sub"]),
        email=str(claims.get("email") or "").lower(),
        email_verified=verified,
        name=str(claims.get("name") or ""),
    )


def enabled_providers() -> list[str]:
    """Providers set up for web sign-in (with a client id and an authorization endpoint)."""
    return [
        name
        for name, config in settings.SHIFA_OIDC_PROVIDERS.items()
        if config.get("audiences") and config.get("authorize_url")
    ]


def authorization_url(provider: str, *, redirect_uri: str, state: str, nonce: str) -> str:
    """Where the browser goes to sign in with ``provider``; it comes back by POST to ``redirect_uri``."""
    from urllib.parse import urlencode

    config = provider_config(provider)
    query = {
        "client_id": config["audiences"][0],
        "redirect_uri": redirect_uri,
        "response_type": config.get("response_type", "id_token"),
        "response_mode": "form_post",
        "scope": config.get("scope", "openid email"),
        "state": state,
        "nonce": nonce,
    }
    return f"{config['authorize_url']}?{urlencode(query)}"
