"""Schema pieces shared by every API module."""

from __future__ import annotations

from ninja import Schema


class FieldErrorOut(Schema):
    field: str
    code: str
    message: str


class ProblemOut(Schema):
    """``application/problem+json`` (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    errors: list[FieldErrorOut] = []


class BilingualText(Schema):
    ar: str
    en: str


ERRORS = {
    400: ProblemOut,
    401: ProblemOut,
    403: ProblemOut,
    404: ProblemOut,
    413: ProblemOut,
    422: ProblemOut,
}
