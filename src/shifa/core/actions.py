"""Writes shared by every domain: doing a request's work once per idempotency key (API.md); field-encryption
data keys (``shifa.core.keys``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from . import keys
from .errors import Conflict, FieldError, ValidationFailed
from .models import DataKey, IdempotentRequest

MAX_KEY_LENGTH = 200


def fingerprint_of(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


def idempotent_call(
    *, user, key: str | None, fingerprint: str, run: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """``run()`` once per (user, key); a repeat, even one sent while the first is still running, gets the first
    answer back. A key reused for a different request is refused. Without a key, ``run()`` simply runs.

    The key is claimed in the same transaction as the work: a failed request leaves no trace, so it may be
    retried with the same key; a concurrent repeat waits on the claim and then reads the stored answer.
    """
    if not key:
        return run()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            errors=[
                FieldError(
                    "Idempotency-Key", "invalid", _("Send at most 200 printable characters as the key.")
                )
            ]
        )
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotentRequest.objects.create(user=user, key=key, fingerprint=fingerprint)
        except IntegrityError:
            record = IdempotentRequest.objects.get(user=user, key=key)
            if record.fingerprint != fingerprint:
                raise Conflict(
                    _("This idempotency key was already used for a different request."),
                    code="idempotency_key_reused",
                ) from None
            return record.status_code, record.response
        status, body = run()
        record.status_code, record.response = status, body
        record.save(update_fields=["status_code", "sealed_response", "updated_at"])
        return status, body


def data_key_create(*, only_if_missing: bool = False) -> DataKey:
    """A new data key, wrapped by the current master key; it becomes the one that encrypts new values. With
    ``only_if_missing`` (the first encryption of a fresh database), an active key another process created first
    is returned instead."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('shifa.data_key'))")
        if only_if_missing:
            existing = DataKey.objects.filter(retired_at__isnull=True).order_by("-id").first()
            if existing is not None:
                return existing
        master = keys.provider().current()
        wrapped = keys.provider().wrap(master, AESGCM.generate_key(256))
        return DataKey.objects.create(master_key_id=master, wrapped=wrapped)


def field_keys_rotate(*, rewrap: bool = True) -> dict[str, int]:
    """Start a new data key under the current master key and rewrap every older data key under it (the data
    written with them stays as it is: committed clinical rows can never be rewritten)."""
    rewrapped = 0
    with transaction.atomic():
        new = data_key_create()
        if rewrap:
            master = keys.provider().current()
            for row in DataKey.objects.select_for_update().exclude(pk=new.pk).exclude(master_key_id=master):
                raw = keys.provider().unwrap(row.master_key_id, bytes(row.wrapped))
                row.wrapped = keys.provider().wrap(master, raw)
                row.master_key_id = master
                row.save(update_fields=["wrapped", "master_key_id", "updated_at"])
                rewrapped += 1
    keys.keyring.clear()
    return {"data_key": new.pk, "rewrapped": rewrapped}
