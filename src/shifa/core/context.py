"""Per-request context (request id) carried in a context variable, for logs and error answers."""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("shifa_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
