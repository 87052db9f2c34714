"""Cursor pagination (API.md): ``?cursor=…&limit=…`` → ``{"items": [...], "next_cursor": …}``.

Keyset on the primary key, so new rows never shift earlier pages. The cursor is encrypted (Fernet, keyed from
SECRET_KEY): opaque to callers, who must never see integer ids, and impossible to forge.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from .errors import FieldError, ValidationFailed

MAX_LIMIT = 200
_SALT = b"shifa.pagination.v1"


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def _fernet() -> Fernet:
    key = hashlib.sha256(_SALT + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encode_cursor(position: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(position).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        position = json.loads(_fernet().decrypt(cursor.encode()))
    except (InvalidToken, ValueError, TypeError):
        raise ValidationFailed(
            errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))]
        ) from None
    if not isinstance(position, dict):
        raise ValidationFailed(errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))])
    return position


def check_limit(limit: int) -> None:
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "limit", "out_of_range", _("Limit must be between 1 and %(max)s.") % {"max": MAX_LIMIT}
                )
            ]
        )


def paginate(qs: QuerySet, *, cursor: str | None, limit: int, newest_first: bool = False) -> Page:
    """One page of ``qs`` in primary-key order (or reverse), after the position in ``cursor``."""
    check_limit(limit)
    qs = qs.order_by("-pk" if newest_first else "pk")
    if cursor:
        after = decode_cursor(cursor).get("after")
        if not isinstance(after, int):
            raise ValidationFailed(errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))])
        qs = qs.filter(pk__lt=after) if newest_first else qs.filter(pk__gt=after)
    rows = list(qs[: limit + 1])
    next_cursor = encode_cursor({"after": rows[limit - 1].pk}) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
