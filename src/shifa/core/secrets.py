"""Secrets generated into the data folder on first run (never committed, readable only by the owner)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def load_or_create(data_dir: Path, name: str, generate: Callable[[], str]) -> str:
    """Return the secret stored in ``data_dir/secrets/name``, creating it with ``generate`` if missing."""
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        value = generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        return value
    return path.read_text().strip()


def new_secret_key() -> str:
    return secrets.token_urlsafe(64)


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def new_vapid_private_key() -> str:
    """A P-256 private key (PKCS#8 PEM) for signing Web Push requests (VAPID)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_master_key() -> str:
    """The first master key of field encryption (``shifa.core.keys``)."""
    import base64

    return "m1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
