"""Point-in-area checks for home visits, in Python (shapely), since the embedded PostgreSQL has no PostGIS.

Coordinates are WGS84 degrees. Polygons are tested in the plane of longitude and latitude, which is exact for
containment; distances use the haversine formula on a sphere of the Earth's mean radius.
"""

from __future__ import annotations

import math
from decimal import Decimal

from shapely.geometry import Point, Polygon
from shapely.validation import explain_validity

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def polygon_problem(corners: list) -> str | None:
    """Why ``corners`` is not a usable area (None when it is)."""
    if not isinstance(corners, list) or len(corners) < 3:
        return "at least three corners"
    for corner in corners:
        if not (isinstance(corner, list | tuple) and len(corner) == 2):
            return "each corner is [lat, lng]"
        lat, lng = corner
        if not (isinstance(lat, int | float | Decimal) and isinstance(lng, int | float | Decimal)):
            return "each corner is [lat, lng]"
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            return "coordinates out of range"
    shape = Polygon([(float(lng), float(lat)) for lat, lng in corners])
    if not shape.is_valid:
        return explain_validity(shape)
    if shape.area == 0:
        return "the corners enclose no area"
    return None


def contains(area, lat: float, lng: float) -> bool:
    if area.shape == "polygon":
        return Polygon([(float(x), float(y)) for y, x in area.polygon]).covers(Point(lng, lat))
    return distance_km(float(area.center_lat), float(area.center_lng), lat, lng) <= float(area.radius_km)


def box_around(lat: float, lng: float, radius_km: float) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a box holding every point within ``radius_km`` of the point: the first,
    index-friendly filter before the exact haversine distance."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlng = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return max(-90.0, lat - dlat), lng - dlng, min(90.0, lat + dlat), lng + dlng


def bounds(area) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a home-visit area."""
    if area.shape == "polygon":
        lats = [float(c[0]) for c in area.polygon]
        lngs = [float(c[1]) for c in area.polygon]
        return min(lats), min(lngs), max(lats), max(lngs)
    return box_around(float(area.center_lat), float(area.center_lng), float(area.radius_km))
