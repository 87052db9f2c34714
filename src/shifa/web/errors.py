"""Error answers outside the API's own handlers: problem+json for API callers, a page for browsers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from shifa.core.errors import problem_response, wants_problem_json


def _answer(request: HttpRequest, status: int, code: str, detail: str) -> HttpResponse:
    if wants_problem_json(request):
        return problem_response(status, code=code, detail=detail)
    return TemplateResponse(
        request, "web/error.html", {"status": status, "detail": detail}, status=status
    ).render()


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exception, RequestDataTooBig):
        return _answer(request, 413, "payload_too_large", _("The request body is too large."))
    return _answer(request, 400, "bad_request", _("The request could not be understood."))


def forbidden(request: HttpRequest, exception=None) -> HttpResponse:
    return _answer(request, 403, "forbidden", _("You do not have permission to do this."))


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _answer(request, 404, "not_found", _("Not found."))


def server_error(request: HttpRequest) -> HttpResponse:
    return _answer(request, 500, "server_error", _("Something went wrong on our side."))
