"""Authenticator-app codes (RFC 6238 through pyotp) and recovery codes."""

from __future__ import annotations

import secrets

import pyotp
import segno

ISSUER = "Shifa"
INTERVAL = 30
#: Codes of the previous and next 30-second step are accepted too (clocks drift).
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, interval=INTERVAL).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code (no images fetched from anywhere)."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#0f172a", light="#ffffff")


def matching_step(secret: str, code: str, *, at: float) -> int | None:
    """The time step whose code equals ``code`` (within the window), or None."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret, interval=INTERVAL)
    step = int(at // INTERVAL)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        candidate = step + offset
        if secrets.compare_digest(totp.at(candidate * INTERVAL), code):
            return candidate
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes like ``7KQ4-M2XD``: easy to read aloud, 40 bits each."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(8))
        codes.append(f"{raw[:4]}-{raw[4:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 8 else raw
