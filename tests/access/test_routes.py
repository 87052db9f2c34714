"""Default deny (ID-4), walked over every URL pattern and every OpenAPI operation."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from shifa.access.models import ApiResource
from shifa.access.public_routes import PUBLIC_ROUTES
from shifa.access.registry import all_routes, api_routes, every_url_pattern, ninja_paths, websocket_routes
from tests.routes import PROVIDERS, Target, call, http_routes, params_of, route_id, url_for

HTTP_ROUTES = http_routes()


def test_every_url_pattern_is_known_to_the_registry():
    """Each Django URL pattern is either an API path (described by OpenAPI) or a declared page."""
    registered = {r.path for r in all_routes()}
    api_paths = {r.path for r in api_routes()}
    for path, name, _callback in every_url_pattern():
        if path in ninja_paths():
            # ninja's own root pattern (/api/v1) has no operation and therefore no row: refused.
            assert path in api_paths or path == "/api/v1/", path
        else:
            assert path in registered, f"{path} ({name}) is not collected by the access registry"


def test_every_parameter_has_a_provider():
    for spec in all_routes():
        for name in params_of(spec):
            assert name in PROVIDERS, f"{route_id(spec)}: add a provider for {{{name}}} in tests/routes.py"


def test_every_declared_route_has_its_row(db):
    rows = {(r.method, r.path) for r in ApiResource.objects.all()}
    declared = {(r.method, r.path) for r in all_routes() if r.permission or r.public}
    assert declared == rows


def test_sync_puts_back_what_code_declares_and_touches_only_what_differs(db):
    from shifa.access.actions import sync_resources
    from shifa.access.models import Permission

    declared = {(r.method, r.path): r for r in all_routes() if r.permission or r.public}
    guarded = next(r for r in declared.values() if r.permission and r.kind == "api")
    public = next(r for r in declared.values() if r.public)
    removed = next(r for r in declared.values() if r.kind == "page" and r.permission)
    untouched = ApiResource.objects.get(method=public.method, path=public.path)
    other = Permission.objects.exclude(codename=guarded.permission).first()
    ApiResource.objects.filter(method=guarded.method, path=guarded.path).update(
        permission=other, name="renamed"
    )
    ApiResource.objects.filter(method=removed.method, path=removed.path).delete()
    ApiResource.objects.create(method="GET", path="/api/v1/gone", name="gone", kind="api", permission=other)

    assert sync_resources() == len(declared)

    rows = {(r.method, r.path): r for r in ApiResource.objects.select_related("permission")}
    assert set(rows) == set(declared)
    changed = rows[(guarded.method, guarded.path)]
    assert (changed.permission.codename, changed.name) == (guarded.permission, guarded.name)
    assert rows[(removed.method, removed.path)].permission.codename == removed.permission
    assert rows[(public.method, public.path)].updated_at == untouched.updated_at
    assert (
        rows[(public.method, public.path)].permission is None and rows[(public.method, public.path)].is_public
    )


def test_catalog_sync_puts_back_roles_permissions_and_grants_and_touches_only_what_differs(db):
    from shifa.access import catalog
    from shifa.access.actions import sync_catalog
    from shifa.access.models import Permission, Role, RolePermission

    spec = catalog.ROLES[0]
    role = Role.objects.get(code=spec.code)
    Role.objects.filter(pk=role.pk).update(name_en="Renamed")
    grant = RolePermission.objects.select_related("role", "permission").first()
    RolePermission.objects.filter(pk=grant.pk).update(granted_by_default=not grant.granted_by_default)
    Role.objects.create(code="stale-role", kind=role.kind, name_en="Stale", name_ar="Stale")
    untouched = Permission.objects.order_by("pk").first()

    sync_catalog()

    assert Role.objects.get(pk=role.pk).name_en == spec.name_en
    expected = catalog.ROLE_PERMISSIONS[grant.role.code][grant.permission.codename]
    assert RolePermission.objects.get(pk=grant.pk).granted_by_default == expected
    assert set(Role.objects.values_list("code", flat=True)) == {r.code for r in catalog.ROLES}
    assert RolePermission.objects.count() == sum(len(g) for g in catalog.ROLE_PERMISSIONS.values())
    assert Permission.objects.get(pk=untouched.pk).updated_at == untouched.updated_at


def test_undeclared_api_root_is_refused_even_to_platform_admin(cast, api):
    response = api(cast.platform_admin).get("/api/v1/")
    assert response.status_code == 403
    assert response.json()["code"] == "route_not_registered"


@pytest.mark.parametrize("spec", HTTP_ROUTES, ids=route_id)
def test_route_without_row_is_refused_even_to_platform_admin(spec, cast):
    """Remove the route's row: nobody gets through, not even a platform admin or the clinic's own admin."""
    ApiResource.objects.filter(method=spec.method, path=spec.path).delete()
    for user in (cast.platform_admin, cast.staff_a["clinic_admin"], cast.general_admin):
        target = Target(cast.clinic_a, cast.staff_a["clinic_admin"].memberships.first())
        response = call(spec, url_for(spec, target), user)
        assert response.status_code == 403, (route_id(spec), user, response.status_code)
        if spec.kind == "api":
            assert response["Content-Type"] == "application/problem+json"
            assert response.json()["code"] == "route_not_registered"


@pytest.mark.django_db(transaction=True)
def test_websocket_route_without_row_is_refused(cast):
    import asyncio

    from shifa.asgi import router

    spec = websocket_routes()[0]
    ApiResource.objects.filter(method="WS", path=spec.path).delete()
    url = url_for(spec, Target(cast.clinic_a, None)).lstrip("/")

    async def attempt():
        communicator = WebsocketCommunicator(router, url, headers=[(b"origin", b"http://127.0.0.1")])
        communicator.scope["user"] = cast.staff_a["clinic_admin"]
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    connected, code = asyncio.run(attempt())
    assert not connected
    assert code == 4403


def test_public_allowlist_equals_routes_that_answer_anonymous(cast):
    """Call every route anonymously; those that answer (not 401, 403 or a redirect to sign-in) are public."""
    answering = set()
    target = Target(cast.clinic_a, cast.staff_a["clinic_admin"].memberships.first())
    for spec in HTTP_ROUTES:
        response = call(spec, url_for(spec, target))
        if spec.kind == "api":
            # Refused by access control, not by the operation itself (wrong password is still an answer).
            refused = response.status_code in {401, 403} and response.json()["code"] in {
                "not_authenticated",
                "forbidden",
                "route_not_registered",
            }
        else:
            refused = response.status_code in {401, 403} or (
                response.status_code == 302 and "/accounts/sign-in" in response["Location"]
            )
        if not refused:
            answering.add((spec.method, spec.path))
    assert answering == {route for route in PUBLIC_ROUTES if route[0] != "WS"}


@pytest.mark.django_db(transaction=True)
def test_public_websockets_equal_those_that_accept_anonymous(cast):
    """Open every WebSocket route without an account: those that accept the connection are public."""
    import asyncio

    from django.contrib.auth.models import AnonymousUser

    from shifa.asgi import router

    async def accepts(url: str) -> bool:
        communicator = WebsocketCommunicator(router, url, headers=[(b"origin", b"http://127.0.0.1")])
        communicator.scope["user"] = AnonymousUser()
        connected, _code = await communicator.connect()
        await communicator.disconnect()
        return connected

    accepting = set()
    for spec in websocket_routes():
        if asyncio.run(accepts(url_for(spec, Target(cast.clinic_a, None)).lstrip("/"))):
            accepting.add((spec.method, spec.path))
    assert accepting == {route for route in PUBLIC_ROUTES if route[0] == "WS"}


def test_public_routes_are_all_real_routes():
    routes = {(r.method, r.path) for r in all_routes()}
    assert set(PUBLIC_ROUTES) <= routes


def test_openapi_operations_publish_their_permission(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), (method, path)
            assert operation.get("summary"), (method, path)
            assert bool(operation.get("x-permission")) != bool(operation.get("x-public")), (method, path)
