"""Turns every registered route into a concrete request, so that tests can be generated over all of them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shifa.access.registry import RouteSpec, all_routes

PARAM = re.compile(r"{(\w+)}")


@dataclass
class Target:
    clinic: object  # the clinic whose ids fill the path
    membership: object  # a membership of that clinic


def params_of(spec: RouteSpec) -> list[str]:
    return PARAM.findall(spec.path)


#: How to fill each path parameter from a Target. A new parameter name must be added here (the tests fail
#: until it is), so that no route escapes the generated isolation and permission tests.
PROVIDERS = {
    "clinic_id": lambda t: str(t.clinic.external_id),
    "membership_id": lambda t: str(t.membership.external_id),
    "role": lambda t: "secretary",
    "permission": lambda t: "tenancy.view_members",
}

#: A body that passes validation for each operation that takes one (so that "allowed" means a 2xx answer).
BODIES = {
    ("POST", "/api/v1/auth/tokens"): {"email": "nobody@example.jo", "password": "x"},
    ("PUT", "/api/v1/clinics/{clinic_id}/roles/{role}/permissions/{permission}"): {"granted": True},
}


def url_for(spec: RouteSpec, target: Target, **overrides) -> str:
    def fill(match):
        name = match.group(1)
        if name in overrides:
            return str(overrides[name])
        return PROVIDERS[name](target)

    return PARAM.sub(fill, spec.path)


def http_routes() -> list[RouteSpec]:
    return [r for r in all_routes() if r.kind in {"api", "page"}]


def route_id(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


def call(spec: RouteSpec, url: str, user=None):
    """Call a route as ``user``: API routes with a bearer token, pages with a signed-in session."""
    import json

    from django.test import Client

    from tests.conftest import ApiClient

    client = Client()
    extra = {}
    if user is not None:
        if spec.kind == "api":
            extra["HTTP_AUTHORIZATION"] = f"Bearer {ApiClient(user).token()}"
        else:
            client.force_login(user)
    fn = getattr(client, spec.method.lower())
    if spec.method in {"POST", "PUT", "PATCH"}:
        body = json.dumps(BODIES.get((spec.method, spec.path), {}))
        return fn(url, body, content_type="application/json", **extra)
    return fn(url, **extra)
