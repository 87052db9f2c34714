"""Structured logging helpers: every record carries the request id of the request that produced it."""

from __future__ import annotations

import logging

from .context import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)  # Django's request logs run after the request's context
        record.request_id = current_request_id() or getattr(request, "request_id", None)
        return True
