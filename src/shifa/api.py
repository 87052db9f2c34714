"""The REST API at /api/v1/ (API.md). Routers live in each domain's ``api.py``; access is decided before any
operation runs, by ``shifa.access.middleware`` (default deny)."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security.base import AuthBase

from shifa.core.errors import FieldError, errors_from_pydantic, problem_for, problem_response, response_for

logger = logging.getLogger(__name__)


class ActorAuth(AuthBase):
    """Documents the bearer scheme in OpenAPI and passes the caller already authenticated by the middleware."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest):
        actor = getattr(request, "actor", None)
        return actor.user if actor is not None and actor.is_authenticated else None


API_PREFIX = "/api/v1/"

api = NinjaAPI(
    title="Shifa API",
    version="1.0.0",
    description="One REST API for the Shifa patient app, clinic console and platform console.",
    urls_namespace="api",
    auth=ActorAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(Exception)
def _any_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Problems, committed records, duplicates, oversized bodies: 4xx. Anything else: a logged 500."""
    problem = problem_for(exc)
    if problem is not None:
        if problem.status == 503:  # e.g. the database went away: worth a line, though not a bug of ours
            logger.warning("answered 503 to %s %s: %s", request.method, request.path, exc)
        return response_for(problem)
    logger.exception("unhandled API error")
    return problem_response(500, code="server_error", detail=_("Something went wrong on our side."))


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return problem_response(
        422,
        code="validation_failed",
        detail=_("Some fields are not valid."),
        errors=errors_from_pydantic(exc.errors),
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return problem_response(
            400,
            code="malformed_body",
            detail=_("The request body is not valid JSON."),
            errors=[FieldError("body", "malformed_json", _("The request body is not valid JSON."))],
        )
    return problem_response(exc.status_code, code="http_error", detail=str(exc))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(401, code="not_authenticated", detail=_("Sign in to continue."))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(404, code="not_found", detail=_("Not found."))


def _mount_routers() -> None:
    from shifa.access.api import router as access_router
    from shifa.accounts.api import router as accounts_router
    from shifa.adherence.api import router as adherence_router
    from shifa.audit.api import router as audit_router
    from shifa.billing.api import router as billing_router
    from shifa.billing.payments_api import router as payments_router
    from shifa.careplans.api import router as careplans_router
    from shifa.catalog.api import router as catalog_router
    from shifa.directory.api import router as directory_router
    from shifa.directory.ratings_api import router as ratings_router
    from shifa.directory.search_api import router as search_router
    from shifa.documents.api import router as documents_router
    from shifa.family.api import router as family_router
    from shifa.insurance.api import router as insurance_router
    from shifa.integrations.hakeem.api import router as hakeem_router
    from shifa.integrations.hakeem.history.api import router as hakeem_history_router
    from shifa.notifications.api import router as notifications_router
    from shifa.records.api import router as records_router
    from shifa.records.patient_api import router as my_record_router
    from shifa.scheduling.api import router as scheduling_router
    from shifa.scheduling.appointments_api import router as appointments_router
    from shifa.subscriptions.api import router as subscriptions_router
    from shifa.telehealth.api import router as telehealth_router
    from shifa.tenancy.api import router as tenancy_router

    api.add_router("", accounts_router)
    api.add_router("", tenancy_router)
    api.add_router("", access_router)
    api.add_router("", audit_router)
    api.add_router("", notifications_router)
    api.add_router("", documents_router)
    api.add_router("", catalog_router)
    api.add_router("", scheduling_router)
    api.add_router("", appointments_router)
    api.add_router("", directory_router)
    api.add_router("", search_router)
    api.add_router("", ratings_router)
    api.add_router("", records_router)
    api.add_router("", my_record_router)
    api.add_router("", adherence_router)
    api.add_router("", careplans_router)
    api.add_router("", telehealth_router)
    api.add_router("", subscriptions_router)
    api.add_router("", insurance_router)
    api.add_router("", family_router)
    api.add_router("", payments_router)
    api.add_router("", billing_router)
    api.add_router("", hakeem_router)
    api.add_router("", hakeem_history_router)


_mount_routers()
