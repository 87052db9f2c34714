"""How a route says what it needs. Every page view, API operation and WebSocket consumer declares either a
permission or that it is public; ``shifa.access.registry`` collects the declarations into ``api_resources``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

PERMISSION_ATTR = "shifa_permission"
PUBLIC_ATTR = "shifa_public"
METHODS_ATTR = "shifa_methods"


def page(permission: str, *, methods: Iterable[str] = ("GET",)) -> Callable:
    """Decorate a page view with the permission every listed method needs."""

    def decorate(view: Callable) -> Callable:
        setattr(view, PERMISSION_ATTR, permission)
        setattr(view, METHODS_ATTR, tuple(m.upper() for m in methods))
        return view

    return decorate


def public_page(*, methods: Iterable[str] = ("GET",)) -> Callable:
    """Decorate a page that anyone may open. It must also be listed in ``public_routes.PUBLIC_ROUTES``."""

    def decorate(view: Callable) -> Callable:
        setattr(view, PUBLIC_ATTR, True)
        setattr(view, METHODS_ATTR, tuple(m.upper() for m in methods))
        return view

    return decorate


def operation(permission: str | None = None, *, public: bool = False, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for a ninja route decorator declaring its permission, e.g.

    ``@router.get("/clinics/{clinic_id}", **operation("tenancy.view_clinic"))``

    The permission is also published in the OpenAPI document as ``x-permission``.
    """
    if public == (permission is not None):
        raise ValueError("an operation is either public or needs exactly one permission")
    openapi_extra = dict(extra.pop("openapi_extra", {}))
    if public:
        openapi_extra["x-public"] = True
    else:
        openapi_extra["x-permission"] = permission
    return {"openapi_extra": openapi_extra, **extra}
