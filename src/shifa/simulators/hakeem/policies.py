"""Who may call the simulator's FHIR API: whoever presents ``settings.HAKEEM_TOKEN`` as a bearer token (the
token Hakeem gives a connected system). ``metadata`` is open, as on FHIR servers. The control page and its
routes are a development tool like the other simulators' controls (mounted only when ``SHIFA_SIMULATORS``)."""

from __future__ import annotations

import hmac

from django.conf import settings

from .protocol import FhirError


def token_valid(header: str | None) -> bool:
    """Whether ``header`` is ``Bearer <HAKEEM_TOKEN>`` (compared in constant time); nothing passes without a
    token configured."""
    token = settings.HAKEEM_TOKEN
    scheme, _, presented = (header or "").strip().partition(" ")
    if not token or scheme.lower() != "bearer" or not presented.strip():
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def authenticate(header: str | None) -> None:
    """401 (OperationOutcome ``login``) unless the bearer token is Hakeem's."""
    if not token_valid(header):
        raise FhirError(401, "login", "Authentication required: a valid bearer token")
