"""Secrets at rest and one-way digests, all through well-kept primitives (cryptography's Fernet, Django's HMAC).

``encrypt``/``decrypt`` use ``FIELD_ENCRYPTION_KEYS`` (newest first, so keys can be rotated); ``digest`` is a keyed
HMAC-SHA256 for short secrets such as one-time codes, which a plain hash would not protect (a million codes are
quickly tried). Digests are made with ``SECRET_KEY`` and looked up with it and each of ``SECRET_KEY_FALLBACKS``
(``digests``), so that refresh tokens, recovery codes and invitations stored before a rotation still match.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(value: str) -> str:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()


def digest(purpose: str, value: str) -> str:
    """Keyed digest of ``value`` for ``purpose`` (the purpose keeps digests of different uses apart)."""
    return salted_hmac(f"shifa.{purpose}", value, algorithm="sha256").hexdigest()


def digests(purpose: str, value: str) -> list[str]:
    """Every digest a stored ``value`` may have: under ``SECRET_KEY``, then under each earlier key still accepted."""
    return [
        salted_hmac(f"shifa.{purpose}", value, secret=key, algorithm="sha256").hexdigest()
        for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    ]


def digest_matches(purpose: str, value: str, expected: str) -> bool:
    return any([constant_time_compare(candidate, expected) for candidate in digests(purpose, value)])
