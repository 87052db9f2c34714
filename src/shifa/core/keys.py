"""Field encryption (AES-256-GCM) with envelope keys, and keyed blind indexes.

* The **key provider** holds the master keys (key-encryption keys). The default provider reads them from the
  setting ``FIELD_MASTER_KEYS`` (the environment variable of that name, or a key generated into the data folder on
  first run); a KMS or Vault provider implements the same three methods.
* **Data keys** (random 256-bit AES keys) encrypt the fields. They are stored in ``core_data_key``, wrapped by a
  master key, and unwrapped once per process. The newest data key encrypts new values; older ones keep decrypting
  what they wrote. Committed clinical rows can never be rewritten (EHR-3), so keys are rotated by wrapping, never by
  re-encrypting the data:
  - new master key: put it first in ``FIELD_MASTER_KEYS`` (keeping the old one) on every process, then run
    ``shifa manage rotate_field_keys`` (``shifa.core.actions.field_keys_rotate``), which rewraps every data key under it and starts a new data key; once it
    has run, the old master key can go.
  - new data key only: the same command; values already written stay readable.
* A value is stored as ``g1.<data key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``. The field's name (``app.Model.
  field``) is bound as associated data, so a ciphertext copied into another column does not decrypt.
* ``blind_index(purpose, value)`` is an HMAC-SHA256 of the normalised value under a separate key
  (``FIELD_BLIND_INDEX_KEY``): equal values can be found without the database ever holding the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

PREFIX = "g1"
NONCE_BYTES = 12
#: Another process may have rotated: the active data key is looked up again after this many seconds.
ACTIVE_KEY_TTL = 60.0


class KeyUnavailable(RuntimeError):
    """A value was written with a key this process cannot get (a master key removed too early, a lost row)."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_master_keys(text: str) -> list[tuple[str, bytes]]:
    """``"id:base64key,id:base64key"``, newest first → ``[(id, 32 bytes), …]``."""
    keys = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        raw = _b64decode(encoded.strip()) if sep else b""
        if not key_id.strip() or len(raw) != 32:
            raise ValueError("each master key is written 'id:<32 bytes in base64>'")
        keys.append((key_id.strip(), raw))
    if not keys:
        raise ValueError("at least one master key is needed")
    return keys


class LocalKeyProvider:
    """Master keys from settings (an environment variable or the generated key file)."""

    def __init__(self) -> None:
        self._keys = parse_master_keys(settings.FIELD_MASTER_KEYS)

    def current(self) -> str:
        return self._keys[0][0]

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._key(key_id)).encrypt(nonce, data_key, key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self._key(key_id)).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode()
            )
        except InvalidTag:
            raise KeyUnavailable(f"master key {key_id!r} does not open this data key") from None

    def _key(self, key_id: str) -> bytes:
        for known, raw in self._keys:
            if known == key_id:
                return raw
        raise KeyUnavailable(f"master key {key_id!r} is not configured")


@cache
def provider():
    return import_string(settings.FIELD_KEY_PROVIDER)()


@dataclass
class _Active:
    key_id: int
    cipher: AESGCM
    expires: float


class _Keyring:
    """Unwrapped data keys of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ciphers: dict[int, AESGCM] = {}
        self._active: _Active | None = None

    def clear(self) -> None:
        with self._lock:
            self._ciphers.clear()
            self._active = None

    def cipher(self, key_id: int) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            from .models import DataKey

            row = DataKey.objects.filter(pk=key_id).first()
            if row is None:
                raise KeyUnavailable(f"data key {key_id} does not exist")
            cipher = AESGCM(provider().unwrap(row.master_key_id, bytes(row.wrapped)))
            # Safe even inside a transaction that is rolled back: ids come from a sequence and are never reused.
            self._ciphers[key_id] = cipher
        return cipher

    def active(self) -> tuple[int, AESGCM]:
        import time

        now = time.monotonic()
        active = self._active
        if active is not None and active.expires > now:
            return active.key_id, active.cipher
        from .models import DataKey

        row = DataKey.objects.filter(retired_at__isnull=True).order_by("-id").first()
        if row is None:
            from .actions import data_key_create

            row = data_key_create(only_if_missing=True)
        cipher = AESGCM(provider().unwrap(row.master_key_id, bytes(row.wrapped)))

        def remember() -> None:
            self._ciphers[row.pk] = cipher
            self._active = _Active(row.pk, cipher, time.monotonic() + ACTIVE_KEY_TTL)

        # A key created in a transaction that is then rolled back must not be used afterwards.
        transaction.on_commit(remember)
        return row.pk, cipher


keyring = _Keyring()


def encrypt(value: str, context: str) -> str:
    key_id, cipher = keyring.active()
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, value.encode(), context.encode())
    return f"{PREFIX}.{key_id}.{_b64encode(nonce + sealed)}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX + ".")


def decrypt(stored: str, context: str) -> str:
    prefix, key_id, body = stored.split(".", 2)
    if prefix != PREFIX:
        raise KeyUnavailable(f"unknown ciphertext format {prefix!r}")
    raw = _b64decode(body)
    try:
        return (
            keyring.cipher(int(key_id))
            .decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
            .decode()
        )
    except InvalidTag:
        raise KeyUnavailable(f"value of {context} does not decrypt with data key {key_id}") from None


def blind_index(purpose: str, value: str) -> str:
    key = hashlib.sha256(b"shifa.blind-index." + settings.FIELD_BLIND_INDEX_KEY.encode()).digest()
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
