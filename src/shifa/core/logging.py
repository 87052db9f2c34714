"""Structured logging helpers: every record carries the request id of the request that produced it."""

from __future__ import annotations

import logging
import re

from .context import current_request_id

#: Paths whose last segments are secrets (emailed links, signed file links, a video visit guest's one-time link):
#: logged as ``…/[hidden]``.
SECRET_PATHS = re.compile(
    r"(/(?:accounts/(?:invitations|verify-email|password-reset/[^/\s'\"]+)|files|call/guest)/)(?!code\b)[^/\s'\"?]+"
)


def hide_secrets(text: str) -> str:
    return SECRET_PATHS.sub(r"\1[hidden]", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)  # Django's request logs run after the request's context
        record.request_id = current_request_id() or getattr(request, "request_id", None)
        return True


class SecretPathFilter(logging.Filter):
    """Keeps the secrets of emailed links (invitations, email confirmation, password reset) out of the logs:
    Django logs the path of every refused request, and a link stays valid for days. Query strings are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = hide_secrets(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(hide_secrets(a) if isinstance(a, str) else a for a in args)
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, str):
            # The method and path only: a request's repr carries its query string, where searches put national
            # IDs, phone numbers and names.
            method, path = getattr(request, "method", None), getattr(request, "path", None)
            record.request = hide_secrets(f"<{method} {path!r}>" if path is not None else repr(request))
        return True
