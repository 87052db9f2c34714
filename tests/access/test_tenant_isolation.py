"""Staff of clinic A get 404 for clinic B's objects on every staff operation (ID-5), generated over the routes."""

from __future__ import annotations

import pytest

from shifa.access.models import ApiResource
from tests.routes import Target, call, http_routes, params_of, route_id, url_for

CLINIC_ROUTES = [r for r in http_routes() if "clinic_id" in params_of(r)]


def test_there_are_clinic_routes_to_check():
    assert len(CLINIC_ROUTES) >= 5


@pytest.mark.parametrize("spec", CLINIC_ROUTES, ids=route_id)
@pytest.mark.parametrize("role", ["clinic_admin", "doctor", "secretary"])
def test_other_clinic_in_path_is_404(spec, role, cast):
    user = cast.staff_a[role]
    response = call(spec, url_for(spec, Target(cast.clinic_b, cast.membership_b)), user)
    assert response.status_code == 404, (route_id(spec), role, response.status_code)


# Routes whose path carries an object id of the clinic besides clinic_id (role and permission codes are
# platform-wide names, not a clinic's objects).
OBJECT_ROUTES = [r for r in CLINIC_ROUTES if "membership_id" in params_of(r)]


@pytest.mark.parametrize("spec", OBJECT_ROUTES, ids=route_id)
def test_other_clinic_object_under_own_clinic_is_404(spec, cast):
    """Clinic A in the path, clinic B's object id further on: still 404."""
    user = cast.staff_a["clinic_admin"]
    url = url_for(spec, Target(cast.clinic_a, cast.membership_b))
    response = call(spec, url, user)
    assert response.status_code == 404


@pytest.mark.parametrize("spec", CLINIC_ROUTES, ids=route_id)
def test_general_admin_of_other_institution_is_404(spec, cast):
    response = call(spec, url_for(spec, Target(cast.clinic_b, cast.membership_b)), cast.general_admin)
    assert response.status_code == 404


@pytest.mark.parametrize("spec", CLINIC_ROUTES, ids=route_id)
def test_malformed_or_unknown_clinic_id_is_404(spec, cast):
    user = cast.staff_a["clinic_admin"]
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        url = url_for(spec, Target(cast.clinic_a, cast.membership_b), clinic_id=bad)
        response = call(spec, url, user)
        assert response.status_code == 404, (route_id(spec), bad, response.status_code)


def test_rows_exist_for_every_clinic_route(db):
    for spec in CLINIC_ROUTES:
        assert ApiResource.objects.filter(method=spec.method, path=spec.path).exists()
