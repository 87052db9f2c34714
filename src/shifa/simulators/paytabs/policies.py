"""Who may call the simulator: PayTabs' own rule, the server key in the ``authorization`` header (raw, no
"Bearer") and the profile it belongs to. The hosted page needs neither: its address (an unguessable
``tran_ref``) is the payer's only credential, as on PayTabs."""

from __future__ import annotations

import hmac

from django.conf import settings

from . import protocol


def server_key_valid(header: str | None) -> bool:
    """Whether ``header`` is the server key (compared in constant time); nothing passes when no key is set."""
    key = settings.PAYTABS_SERVER_KEY
    if not key or not header:
        return False
    return hmac.compare_digest(header.strip().encode(), key.encode())


def authenticate(header: str | None, data: dict) -> int:
    """The profile a request acts for, or PayTabs' refusal (code 1) when the key or the profile is wrong."""
    profile_id = protocol.profile_of(data)
    if not server_key_valid(header) or profile_id != settings.PAYTABS_PROFILE_ID:
        raise protocol.Refusal(protocol.AUTHENTICATION_FAILED, http_status=401)
    return profile_id


def authenticate_control(header: str | None) -> None:
    """The simulator's own control routes (settling a pending refund) take the same server key."""
    if not server_key_valid(header):
        raise protocol.Refusal(protocol.AUTHENTICATION_FAILED, http_status=401)
