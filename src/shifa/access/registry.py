"""Collects every route of the product (pages, API operations, WebSocket consumers) with its declaration."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from .declare import METHODS_ATTR, PERMISSION_ATTR, PUBLIC_ATTR

_PARAM = re.compile(r"<(?:[A-Za-z_][A-Za-z0-9_]*:)?([A-Za-z_][A-Za-z0-9_]*)>")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def path_key(route: str) -> str:
    """``api/v1/clinics/<uuid:clinic_id>`` → ``/api/v1/clinics/{clinic_id}``; the key used by api_resources."""
    return "/" + _PARAM.sub(r"{\1}", route).lstrip("/")


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    name: str
    kind: str  # api | page | ws
    permission: str | None
    public: bool


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}" if p.namespace and namespace else (p.namespace or namespace)
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
            yield prefix + str(p.pattern), name, p


def _is_ninja_view(callback) -> bool:
    return "PathView.get_view" in getattr(callback, "__qualname__", "")


def api_routes() -> list[RouteSpec]:
    return list(_api_routes())


@functools.cache
def _api_routes() -> tuple[RouteSpec, ...]:
    """The API's operations, read from its OpenAPI document. Building that document takes seconds and the
    operations cannot change while the process runs: once per process."""
    from shifa.api import API_PREFIX, api

    schema = api.get_openapi_schema(path_prefix=API_PREFIX)
    specs = []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            if method.upper() not in HTTP_METHODS:
                continue
            specs.append(
                RouteSpec(
                    method=method.upper(),
                    path=path,
                    name=op.get("operationId", ""),
                    kind="api",
                    permission=op.get("x-permission"),
                    public=bool(op.get("x-public")),
                )
            )
    return tuple(specs)


def page_routes() -> list[RouteSpec]:
    specs = []
    seen = set()
    for route, name, pattern in _walk(get_resolver().url_patterns):
        callback = pattern.callback
        if _is_ninja_view(callback):
            continue  # described by the OpenAPI document
        key = path_key(route)
        if key in seen:
            continue
        seen.add(key)
        view = getattr(callback, "view_class", callback)
        methods = getattr(callback, METHODS_ATTR, None) or getattr(view, METHODS_ATTR, None) or ("GET",)
        permission = getattr(callback, PERMISSION_ATTR, None)
        public = bool(getattr(callback, PUBLIC_ATTR, False))
        for method in methods:
            specs.append(RouteSpec(method, key, name, "page", permission, public))
    return specs


def websocket_routes() -> list[RouteSpec]:
    from shifa.routing import websocket_urlpatterns

    specs = []
    for route, name, pattern in _walk(websocket_urlpatterns):
        consumer = getattr(pattern.callback, "consumer_class", None)
        specs.append(
            RouteSpec(
                "WS",
                path_key(route),
                name,
                "ws",
                getattr(consumer, "permission", None),
                bool(getattr(consumer, "public", False)),
            )
        )
    return specs


def all_routes() -> list[RouteSpec]:
    return [*api_routes(), *page_routes(), *websocket_routes()]


def ninja_paths() -> set[str]:
    """Path keys of every URL pattern served by the API (for tests that walk the URL conf)."""
    return {
        path_key(route) for route, _, p in _walk(get_resolver().url_patterns) if _is_ninja_view(p.callback)
    }


def every_url_pattern() -> list[tuple[str, str, object]]:
    return [(path_key(route), name, p.callback) for route, name, p in _walk(get_resolver().url_patterns)]
