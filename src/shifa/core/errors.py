"""One error format for the API: ``application/problem+json`` (RFC 9457) with per-field errors.

Actions, queries and policies raise ``Problem`` subclasses; the API and the pages turn them into answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from .context import current_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": str(self.message)}


class Problem(Exception):
    """An error the caller can act on. ``code`` is stable and machine-readable; ``detail`` is translated."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.default_detail())
        #: RFC 9457 extension members: more the caller can act on (e.g. the free slots nearest a taken one).
        self.extensions = dict(extensions or {})
        self.detail = detail or self.default_detail()
        if code:
            self.code = code
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def default_detail(self) -> str:
        return _("The request could not be processed.")


class NotAuthenticated(Problem):
    status = 401
    code = "not_authenticated"

    def default_detail(self) -> str:
        return _("Sign in to continue.")


class Forbidden(Problem):
    status = 403
    code = "forbidden"

    def default_detail(self) -> str:
        return _("You do not have permission to do this.")


class NotFound(Problem):
    status = 404
    code = "not_found"

    def default_detail(self) -> str:
        return _("Not found.")


class Conflict(Problem):
    status = 409
    code = "conflict"

    def default_detail(self) -> str:
        return _("The request conflicts with the current state of the resource.")


class ValidationFailed(Problem):
    status = 422
    code = "validation_failed"

    @classmethod
    def on(cls, field: str, code: str, message: str) -> ValidationFailed:
        """The refusal of one field: ``raise ValidationFailed.on("amount", "too_large", _("…"))``."""
        return cls(errors=[FieldError(field, code, message)])

    def default_detail(self) -> str:
        return _("Some fields are not valid.")


class PayloadTooLarge(Problem):
    status = 413
    code = "payload_too_large"

    def default_detail(self) -> str:
        return _("The request body is too large.")


class ServiceUnavailable(Problem):
    status = 503
    code = "service_unavailable"

    def default_detail(self) -> str:
        return _("The service is briefly unavailable. Try again in a moment.")


class RateLimited(Problem):
    status = 429
    code = "rate_limited"

    def default_detail(self) -> str:
        return _("Too many requests. Try again later.")


#: SQLSTATEs the database raises for a caller's request, and the Problem each becomes.
COMMITTED_SQLSTATE = "SH409"  # raised by the commit guard trigger (shifa.core.models)
UNIQUE_VIOLATION = "23505"
EXCLUSION_VIOLATION = "23P01"  # e.g. two appointments of one doctor that overlap
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"
DATA_EXCEPTION_CLASS = "22"  # e.g. a NUL byte in text, a number out of range


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE behind a Django database error, if any."""
    cause = exc.__cause__ or exc.__context__
    return getattr(cause, "sqlstate", None) or getattr(exc, "sqlstate", None)


def problem_for(exc: BaseException) -> Problem | None:
    """The Problem an exception stands for, or None for a genuine server error.

    One mapping for the API and the pages: a committed record is 409, a duplicate is 409, an oversized body 413.
    """
    from django.core.exceptions import RequestDataTooBig
    from django.db import DatabaseError, DataError

    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, DatabaseError):
        state = sqlstate(exc)
        if state == COMMITTED_SQLSTATE:
            return Conflict(
                _("This record is committed and cannot be changed. Add an amendment instead."),
                code="record_committed",
            )
        if state == UNIQUE_VIOLATION:
            return Conflict(_("This already exists."), code="duplicate")
        if state == EXCLUSION_VIOLATION:
            return Conflict(_("This time is already taken."), code="slot_taken")
        if state == FOREIGN_KEY_VIOLATION:
            return Conflict(_("This is still in use."), code="in_use")
        # psycopg refuses a NUL byte itself (no SQLSTATE); the server raises class 22 for other bad values.
        if (
            isinstance(exc, DataError)
            or state == CHECK_VIOLATION
            or (state or "").startswith(DATA_EXCEPTION_CLASS)
        ):
            return ValidationFailed(_("A value is not valid."), code="invalid_value")
    if database_lost(exc):
        # The database went away mid-request (a restart, a failover, a dropped connection, no connection free in
        # time): the caller may retry, with the same Idempotency-Key if the write had one.
        return ServiceUnavailable(headers={"Retry-After": "5"})
    return None


def database_lost(exc: BaseException | None) -> bool:
    """Whether the error is the database connection's: Django's, or psycopg's behind another library's error (the
    job queue raises its own when a job cannot be queued)."""
    import psycopg
    from django.db import InterfaceError, OperationalError

    lost = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
    for _step in range(5):  # along the ``raise … from`` chain
        if exc is None:
            return False
        if isinstance(exc, lost):
            return True
        exc = exc.__cause__
    return False


def status_title(status: int) -> str:
    titles = {
        400: _("Bad request"),
        401: _("Not authenticated"),
        403: _("Forbidden"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        412: _("Precondition failed"),
        413: _("Payload too large"),
        422: _("Validation failed"),
        429: _("Too many requests"),
        500: _("Internal server error"),
        503: _("Service unavailable"),
    }
    return str(titles.get(status, _("Error")))


def problem_body(
    status: int,
    *,
    code: str,
    detail: str | None = None,
    errors: Iterable[FieldError] = (),
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    request_id = current_request_id()
    return {
        **(extensions or {}),
        "type": f"/problems/{code}",
        "title": status_title(status),
        "status": status,
        "detail": str(detail) if detail else status_title(status),
        "instance": f"urn:request:{request_id}" if request_id else None,
        "code": code,
        "errors": [e.as_dict() for e in errors],
    }


def problem_response(
    status: int,
    *,
    code: str,
    detail: str | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> HttpResponse:
    body = problem_body(status, code=code, detail=detail, errors=errors, extensions=extensions)
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def response_for(problem: Problem) -> HttpResponse:
    return problem_response(
        problem.status,
        code=problem.code,
        detail=problem.detail,
        errors=problem.errors,
        headers=problem.headers,
        extensions=problem.extensions,
    )


def field_path(loc: Iterable[Any]) -> str:
    """``("body", "payload", "items", 0, "name")`` → ``items[0].name`` (the location inside the request)."""
    parts = [p for p in loc]
    # ninja prefixes the source ("body", "query", "path") and the parameter's name: keep the source
    # only when nothing more precise is known.
    if len(parts) > 2 and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[2:]
    elif len(parts) == 2 and parts[0] in {"query", "path", "header", "cookie"}:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


_PYDANTIC_CODES = {
    "missing": "required",
    "json_invalid": "malformed_json",
    "extra_forbidden": "unknown_field",
}


def _message_for(kind: str, err: Mapping[str, Any]) -> str:
    """A message in the caller's language for a pydantic error type (pydantic's own are English only)."""
    if kind == "value_error" and err.get("ctx", {}).get("error"):
        return str(err["ctx"]["error"])  # our validators raise translated messages
    messages = {
        "missing": _("This field is required."),
        "bool_parsing": _("Enter true or false."),
        "bool_type": _("Enter true or false."),
        "int_parsing": _("Enter a whole number."),
        "int_type": _("Enter a whole number."),
        "int_from_float": _("Enter a whole number."),
        "float_parsing": _("Enter a number."),
        "decimal_parsing": _("Enter a number."),
        "string_type": _("Enter text."),
        "string_too_short": _("This is too short."),
        "string_too_long": _("This is too long."),
        "uuid_parsing": _("Enter a valid id."),
        "uuid_type": _("Enter a valid id."),
        "datetime_parsing": _("Enter a date and time, e.g. 2026-11-25T08:00:00Z."),
        "datetime_type": _("Enter a date and time, e.g. 2026-11-25T08:00:00Z."),
        "datetime_from_date_parsing": _("Enter a date and time, e.g. 2026-11-25T08:00:00Z."),
        "date_parsing": _("Enter a date as YYYY-MM-DD."),
        "greater_than": _("This value is too small."),
        "greater_than_equal": _("This value is too small."),
        "less_than": _("This value is too large."),
        "less_than_equal": _("This value is too large."),
        "enum": _("Choose one of the allowed values."),
        "literal_error": _("Choose one of the allowed values."),
        "json_invalid": _("The request body is not valid JSON."),
        "model_type": _("Send an object here."),
        "model_attributes_type": _("Send an object here."),
        "dict_type": _("Send an object here."),
        "list_type": _("Send a list here."),
    }
    return str(messages.get(kind, _("This value is not valid.")))


def errors_from_pydantic(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    result = []
    for err in errors:
        kind = str(err.get("type", "invalid"))
        code = _PYDANTIC_CODES.get(kind, kind)
        result.append(
            FieldError(field=field_path(err.get("loc", ())), code=code, message=_message_for(kind, err))
        )
    return result


def wants_problem_json(request: HttpRequest) -> bool:
    """API callers get problem+json; browsers on pages get HTML error pages."""
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept or PROBLEM_CONTENT_TYPE in accept
