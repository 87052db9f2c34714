"""Request-wide middleware: request ids, and refusing oversized bodies before they are read."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from .context import request_id_var
from .errors import PROBLEM_CONTENT_TYPE, problem_response, wants_problem_json

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIdMiddleware:
    """Gives every request an id, for logs, error answers and the audit log, and echoes it back.

    A caller's ``X-Request-ID`` is taken only when ``SHIFA_TRUST_REQUEST_ID`` says a trusted proxy sets it;
    otherwise anyone could stamp their writes with another request's id.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "") if settings.SHIFA_TRUST_REQUEST_ID else ""
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Answers 413 when the declared body is larger than ``SHIFA_MAX_BODY_BYTES``, with the product's error page.

    Under ASGI, ``shifa.core.asgi_limits.BodyLimit`` has already refused such bodies before Django read them; this
    middleware keeps the same rule for every other way in (the test client, WSGI).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            size = int(length)
        except ValueError:
            return too_large_or_bad(request, status=400)
        if size < 0:
            return too_large_or_bad(request, status=400)
        from .asgi_limits import body_limit_for

        if size > body_limit_for(request.path, settings.SHIFA_MAX_BODY_BYTES):
            return too_large_or_bad(request, status=413)
        return self.get_response(request)


def too_large_or_bad(request: HttpRequest, *, status: int) -> HttpResponse:
    if status == 413:
        detail = _("The request body is too large.")
        code = "payload_too_large"
    else:
        detail = _("The Content-Length header is not valid.")
        code = "bad_request"
    if wants_problem_json(request):
        return problem_response(status, code=code, detail=detail)
    response = TemplateResponse(
        request, "web/error.html", {"status": status, "detail": detail}, status=status
    )
    return response.render()


class ApiProblemMiddleware:
    """Every error answer under /api/ is problem+json, including Django's own (405, 404 …)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
        ):
            replacement = problem_response(response.status_code, code=f"http_{response.status_code}")
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response
