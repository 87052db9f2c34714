"""Cursor pagination (API.md): ``?cursor=…&limit=…`` → ``{"items": [...], "next_cursor": …}``.

Keyset on the primary key, newest rows never shift earlier pages. The cursor is signed so that it is opaque
and cannot be forged to reveal row numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from .errors import FieldError, ValidationFailed

MAX_LIMIT = 200
_SALT = "shifa.pagination"


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def paginate(qs: QuerySet, *, cursor: str | None, limit: int) -> Page:
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "limit", "out_of_range", _("Limit must be between 1 and %(max)s.") % {"max": MAX_LIMIT}
                )
            ]
        )
    qs = qs.order_by("pk")
    if cursor:
        try:
            after = signing.loads(cursor, salt=_SALT)["after"]
        except (signing.BadSignature, KeyError, TypeError):
            raise ValidationFailed(
                errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))]
            ) from None
        qs = qs.filter(pk__gt=after)
    rows = list(qs[: limit + 1])
    next_cursor = signing.dumps({"after": rows[limit - 1].pk}, salt=_SALT) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
