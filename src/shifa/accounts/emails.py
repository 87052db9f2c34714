"""The one form in which an email address is stored, compared and counted.

Trimmed and lower-cased, ASCII only. A non-ASCII address is refused: Python and PostgreSQL fold case
differently outside ASCII (a dotless i upper-cases to ``I``), which would let two spellings reach one account, or
one account escape its lockout under another spelling.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from shifa.core.errors import FieldError, ValidationFailed


def email_key(raw: str | None) -> str:
    """The stored form of ``raw``, or "" when it can never be an account's address (so it matches nothing)."""
    value = (raw or "").strip()
    return value.lower() if value.isascii() else ""


def normalize_email(raw: str, *, field: str = "email") -> str:
    """``email_key`` of a valid address; 422 otherwise."""
    key = email_key(raw)
    try:
        validate_email(key)
    except ValidationError:
        raise ValidationFailed(
            errors=[FieldError(field, "invalid_email", _("Enter a valid email address."))]
        ) from None
    return key
