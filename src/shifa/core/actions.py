"""Writes shared by every domain: doing a request's work once per idempotency key (API.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .errors import Conflict, FieldError, ValidationFailed
from .models import IdempotentRequest

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
        record.save(update_fields=["status_code", "response", "updated_at"])
        return status, body
