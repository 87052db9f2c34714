"""Fuzzing the REST API (issue 13): schemathesis generates requests for every operation in the OpenAPI document
the app serves, and each one is sent as every role (and anonymously). No answer may be a 5xx, and every answer
must match the schema the document declares for its status (errors are RFC 9457 problems, declared centrally).

``make test`` runs a few derandomized examples per operation; ``make fuzz`` runs many more, with schemathesis'
coverage phase. ``SHIFA_FUZZ_EXAMPLES`` sets the number of generated examples per operation; ``SHIFA_FUZZ_PHASES``
the schemathesis phases (comma-separated: examples, coverage, fuzzing). The operations are split in two test
modules (two shorter items). They run in one process: under pytest-xdist schemathesis' per-operation subtests do
not run at all (conftest.py skips them there; ``make test`` runs tests/fuzz after the parallel suite)."""

from __future__ import annotations

import os
import zlib

import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from shifa.access import catalog
from shifa.api import API_PREFIX, api

EXAMPLES = int(os.environ.get("SHIFA_FUZZ_EXAMPLES", "3"))
PHASES = [p.strip() for p in os.environ.get("SHIFA_FUZZ_PHASES", "examples,fuzzing").split(",") if p.strip()]
CALLERS = (*catalog.ALL_ROLES, None)  # None: anonymous
CHECKS = [not_a_server_error, response_schema_conformance]

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The bounded run (``make test``) gives the same cases on every run; a long run explores.
    derandomize=EXAMPLES <= 10,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


class _InTransactionWsgi:
    """Django's WSGI handler as the test client runs it: without ``close_old_connections`` on the request
    signals, which would close the test's connection (and roll back its transaction) after each request."""

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            try:
                body = b"".join(response)
            finally:
                response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


def _load_schema():
    """The document the app serves at /api/v1/openapi.json (built in-process: collection may not touch the
    database), driven against the app over WSGI."""
    document = api.get_openapi_schema(path_prefix=API_PREFIX.rstrip("/"))
    loaded = schemathesis.openapi.from_dict(dict(document))
    loaded.app = _InTransactionWsgi()
    loaded.config.phases.update(phases=PHASES)
    return loaded


schema = _load_schema()


def half(part: int):
    """The operations of one half of the document (0 or 1), split by a stable hash of their label."""
    return schema.include(lambda ctx: zlib.crc32(ctx.operation.label.encode()) % 2 == part)


def send_as_callers(case, tokens: dict, first_case: list) -> None:
    """Each operation's first case goes to every caller (so each role meets each operation); each later case
    goes to one caller, picked from the case's content (the same case always goes to the same caller)."""
    callers = (CALLERS[zlib.crc32(repr(case).encode()) % len(CALLERS)],)
    if first_case:
        first_case.clear()
        callers = CALLERS
    for role in callers:
        # Identity: the test transport does not undo the app's gzip.
        headers = {"Accept-Encoding": "identity"}
        if role:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:
            exc.add_note(f"Caller: {role or 'anonymous'}")
            raise
