"""The HTTP side of the one enforcement point: authenticates the caller (session or bearer token), asks
``policies.authorize`` about the resolved route, and sets the audit context for everything the request writes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import DatabaseError, InterfaceError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import gettext as _

from shifa.audit.context import add_to_audit_context, audit_context
from shifa.core.errors import (
    Forbidden,
    NotAuthenticated,
    Problem,
    ServiceUnavailable,
    problem_for,
    response_for,
)

from .declare import PUBLIC_ATTR
from .policies import Actor, authorize
from .public_routes import PUBLIC_ROUTES
from .registry import path_key

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class AccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._csrf = CsrfViewMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.actor = None
        with audit_context(request_id=getattr(request, "request_id", None), source="request"):
            return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = request.resolver_match
        path = path_key(match.route)
        is_api = path.startswith("/api/")
        method = "GET" if request.method == "HEAD" else request.method
        try:
            user, by_token, bad_token, mfa = self._authenticate(request, is_api)
            if user is not None:
                self._activate_language(request, user, is_api)
            actor = authorize(user, method, path, view_kwargs, mfa=mfa)
        except (DatabaseError, InterfaceError):
            # The database is unreachable (Django's InterfaceError, a closed connection, is no DatabaseError). Checked-in public routes (health, the sign-in page) still run and
            # report it themselves; everything else answers 503.
            if (method, path) in PUBLIC_ROUTES and getattr(view_func, PUBLIC_ATTR, False):
                request.actor = Actor(user=None, source="public")
                return None
            return self._refuse(request, ServiceUnavailable(headers={"Retry-After": "5"}), is_api)
        except NotAuthenticated as problem:
            # A stale token does not stop public routes (signing in again); elsewhere it is named as the cause.
            return self._refuse(
                request, NotAuthenticated(code="invalid_token") if bad_token else problem, is_api
            )
        except Problem as problem:
            return self._refuse(request, problem, is_api)
        if is_api and actor.user is not None and not by_token and request.method not in SAFE_METHODS:
            # Cookie-authenticated API calls (from our own pages) must carry the CSRF token.
            rejection = self._csrf.process_view(request, None, (), {})
            if rejection is not None:
                return self._refuse(request, Forbidden(_("CSRF check failed."), code="csrf_failed"), is_api)
        request.actor = actor
        if actor.user is not None:
            request.user = actor.user
        add_to_audit_context(
            actor_id=actor.user.pk if actor.user else None,
            clinic_id=actor.clinic.pk if actor.clinic else None,
            source="api" if is_api else "page",
        )
        return None

    def process_exception(self, request: HttpRequest, exception: Exception):
        """Pages raise the same errors as the API; answer them the same way (the API has its own handlers)."""
        problem = problem_for(exception)
        if problem is not None:
            return self._refuse(request, problem, request.path.startswith("/api/"))
        return None

    def _authenticate(self, request: HttpRequest, is_api: bool):
        """(user or None, authenticated by token, a token was sent but is not valid, passed the second
        factor)."""
        from shifa.accounts.actions import access_token_authenticate
        from shifa.accounts.queries import session_passed_second_factor

        header = request.headers.get("Authorization", "")
        if is_api and header:
            scheme, _, token = header.partition(" ")
            found = access_token_authenticate(token.strip()) if scheme.lower() == "bearer" else None
            if found is None:
                return None, False, True, False
            user, claims = found
            request.token_claims = claims
            return user, True, False, claims.mfa
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None, False, False, False
        return user, False, False, session_passed_second_factor(request.session, user)

    def _activate_language(self, request: HttpRequest, user, is_api: bool) -> None:
        explicit = (
            "HTTP_ACCEPT_LANGUAGE" in request.META
            if is_api
            else settings.LANGUAGE_COOKIE_NAME in request.COOKIES
        )
        if not explicit and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language

    def _refuse(self, request: HttpRequest, problem: Problem, is_api: bool) -> HttpResponse:
        if is_api:
            response = response_for(problem)
            if problem.status == 401:
                response["WWW-Authenticate"] = 'Bearer realm="shifa"'
            return response
        if problem.status == 401:
            return redirect_to_login(request.get_full_path())
        if problem.code == "mfa_enrolment_required":
            return redirect_to_login(request.get_full_path(), login_url="web:security")
        if problem.code == "mfa_required":
            return redirect_to_login(request.get_full_path())
        response = TemplateResponse(
            request,
            "web/error.html",
            {"status": problem.status, "detail": problem.detail},
            status=problem.status,
        )
        if problem.headers.get("Retry-After"):  # the database away: when to try again
            response["Retry-After"] = problem.headers["Retry-After"]
        return response.render()
