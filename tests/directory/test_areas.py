"""Home-visit areas: polygons or a radius, point-in-area in Python (shapely), a travel buffer (CL-3)."""

from __future__ import annotations

import pytest

from shifa.directory.geometry import distance_km

# Roughly Abdoun and Sweifieh in Amman, as a square of [lat, lng] corners.
WEST_AMMAN = [[31.940, 35.850], [31.940, 35.890], [31.970, 35.890], [31.970, 35.850]]
ABDOUN = (31.952, 35.880)
ZARQA = (32.063, 36.088)


def url(cast, suffix=""):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}/service-areas{suffix}"


def test_a_drawn_area_covers_the_points_inside_it(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    created = admin.post(
        url(cast),
        {"name": "West Amman", "shape": "polygon", "polygon": WEST_AMMAN, "travel_buffer_minutes": 40},
    )
    assert created.status_code == 201 and created.json()["travel_buffer_minutes"] == 40
    inside = admin.get(url(cast, f"/coverage?lat={ABDOUN[0]}&lng={ABDOUN[1]}")).json()
    assert inside["covered"] and inside["area"]["name"] == "West Amman"
    outside = admin.get(url(cast, f"/coverage?lat={ZARQA[0]}&lng={ZARQA[1]}")).json()
    assert outside == {"covered": False, "area": None}
    edge = admin.get(url(cast, "/coverage?lat=31.940&lng=35.870")).json()
    assert edge["covered"]  # on the boundary counts as inside


def test_a_radius_around_a_point(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    admin.post(
        url(cast),
        {"name": "Zarqa", "shape": "radius", "center_lat": ZARQA[0], "center_lng": ZARQA[1], "radius_km": 5},
    )
    assert admin.get(url(cast, "/coverage?lat=32.080&lng=36.090")).json()["covered"]  # about 2 km north
    assert not admin.get(url(cast, f"/coverage?lat={ABDOUN[0]}&lng={ABDOUN[1]}")).json()["covered"]


def test_haversine_distance_between_amman_and_zarqa():
    assert distance_km(*ABDOUN, *ZARQA) == pytest.approx(23.2, abs=0.5)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shape": "polygon", "polygon": [[31.9, 35.8], [31.95, 35.85]]}, "polygon"),
        (
            {"shape": "polygon", "polygon": [[31.9, 35.8], [32.0, 35.9], [31.9, 35.9], [32.0, 35.8]]},
            "polygon",
        ),  # crosses itself
        ({"shape": "polygon", "polygon": [[91, 35.8], [32.0, 35.9], [31.9, 35.9]]}, "polygon"),
        ({"shape": "radius", "center_lat": 31.9, "center_lng": 35.9, "radius_km": 0}, "radius_km"),
        ({"shape": "radius", "radius_km": 5}, "center_lat"),
        ({"shape": "hexagon"}, "shape"),
        (
            {
                "shape": "radius",
                "center_lat": 31.9,
                "center_lng": 35.9,
                "radius_km": 5,
                "travel_buffer_minutes": 999,
            },
            "travel_buffer_minutes",
        ),
    ],
)
def test_unusable_areas_are_refused(cast, api, body, field):
    response = api(cast.staff_a["clinic_admin"]).post(url(cast), {"name": "Area", **body})
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


def test_only_the_clinics_admins_draw_areas(cast, api):
    body = {
        "name": "Zarqa",
        "shape": "radius",
        "center_lat": ZARQA[0],
        "center_lng": ZARQA[1],
        "radius_km": 5,
    }
    assert api(cast.staff_a["secretary"]).post(url(cast), body).status_code == 403
    other = f"/api/v1/clinics/{cast.clinic_b.external_id}/service-areas"
    assert api(cast.staff_a["clinic_admin"]).post(other, body).status_code == 404
