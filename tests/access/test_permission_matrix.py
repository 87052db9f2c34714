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


SCOPES = {p.codename: p.scope for p in catalog.PERMISSIONS}
STAFF_WORK = [r for r in ROUTES if catalog.needs_second_factor(r.permission, SCOPES[r.permission])]


def _granted_role(permission: str) -> str:
    return next(
        role
        for role in (*catalog.STAFF_ROLES, catalog.PLATFORM_ADMIN)
        if catalog.ROLE_PERMISSIONS[role].get(permission)
    )


@pytest.mark.parametrize("enrolled", [False, True], ids=["no-authenticator", "second-factor-skipped"])
@pytest.mark.parametrize("spec", STAFF_WORK, ids=route_id)
def test_staff_work_needs_the_second_factor(spec, enrolled, cast):
    """Every clinic-console page and staff or platform operation, called by someone whose role allows it but
    whose sign-in did not pass TOTP, is refused (ID-6)."""
    from tests.factories import enrol_authenticator

    user = cast.user_for(_granted_role(spec.permission))
    if enrolled:
        enrol_authenticator(user)
    membership = user.memberships.first() or cast.staff_a["clinic_admin"].memberships.first()
    response = call(spec, url_for(spec, Target(cast.clinic_a, membership, user)), user, mfa=False)
    if spec.kind == "api":
        assert response.status_code == 403, (route_id(spec), response.status_code)
        assert response.json()["code"] == ("mfa_required" if enrolled else "mfa_enrolment_required")
    else:
        assert response.status_code == 302, (route_id(spec), response.status_code)
        expected = "/accounts/sign-in?next=" if enrolled else "/accounts/security?next="
        assert response["Location"].startswith(expected)


def test_every_staff_route_is_covered_by_the_second_factor_test():
    assert len(STAFF_WORK) >= 10
    assert {r.path for r in STAFF_WORK} >= {"/clinic", "/platform", "/api/v1/clinics/{clinic_id}/members"}
