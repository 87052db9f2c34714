"""Every registered operation by every role → the expected answer, generated from api_resources (ID-3)."""

from __future__ import annotations

import pytest

from shifa.access import catalog
from shifa.access.models import ApiResource
from tests.routes import Target, call, http_routes, route_id, url_for

ROUTES = [r for r in http_routes() if r.permission]


def expected(role: str, permission_code: str, scope: str) -> str:
    granted = catalog.ROLE_PERMISSIONS[role].get(permission_code, False)
    if scope == "clinic" and role not in catalog.STAFF_ROLES:
        return "hidden"  # no role in the clinic: 404
    return "allowed" if granted else "forbidden"


@pytest.mark.parametrize("role", catalog.ALL_ROLES)
@pytest.mark.parametrize("spec", ROUTES, ids=route_id)
def test_permission_matrix(spec, role, cast):
    resource = ApiResource.objects.select_related("permission").get(method=spec.method, path=spec.path)
    user = cast.user_for(role)
    membership = user.memberships.first() or cast.staff_a["clinic_admin"].memberships.first()
    response = call(spec, url_for(spec, Target(cast.clinic_a, membership, user)), user)
    outcome = expected(role, resource.permission.codename, resource.permission.scope)
    status = response.status_code
    if outcome == "allowed":
        assert status < 400, (route_id(spec), role, status, response.content[:300])
    elif outcome == "forbidden":
        assert status == 403, (route_id(spec), role, status)
    else:
        assert status == 404, (route_id(spec), role, status)


@pytest.mark.parametrize("spec", ROUTES, ids=route_id)
def test_signed_in_with_no_role_is_refused(spec, cast):
    target = Target(cast.clinic_a, cast.membership_b, cast.outsider)
    response = call(spec, url_for(spec, target), cast.outsider)
    resource = ApiResource.objects.select_related("permission").get(method=spec.method, path=spec.path)
    if resource.permission.codename in catalog.BASELINE_PERMISSIONS:
        assert response.status_code < 400
    else:
        assert response.status_code in {403, 404}


@pytest.mark.parametrize("spec", [r for r in ROUTES if r.kind == "api"], ids=route_id)
def test_anonymous_api_call_is_401_problem(spec, cast):
    response = call(spec, url_for(spec, Target(cast.clinic_a, cast.membership_b)))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("spec", [r for r in ROUTES if r.kind == "page"], ids=route_id)
def test_anonymous_page_redirects_to_sign_in(spec, cast):
    response = call(spec, url_for(spec, Target(cast.clinic_a, cast.membership_b)))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in?next=")
