"""Doctor search: a typical patient's search — a specialty, 10 km around Amman, a day, visits at the clinic —
through ``directory.queries.doctor_search``, and the same search written by hand in SQL against the read model
(``directory_doctorlisting``: bounding box, haversine distance, array filters, order, limit), for the ratio.

Targets: p95 ≤ 50 ms, and at most 3 times the hand-written SQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from django.db import connection

from . import dataset
from .runtime import (
    append_section,
    machine,
    machine_line,
    measured,
    percentile,
    rounded,
    samples_ms,
    table,
    verdict,
)

TARGET_P95_MS = 50.0
TARGET_RATIO = 3.0
WARMUP = 30
RADIUS_KM = 10.0
LIMIT = 20
DAYS_AHEAD = range(1, 8)

#: Haversine distance (km) from the searched point to the listing's clinic, in double precision.
DISTANCE = (
    "2 * 6371.0088 * asin(sqrt("
    "power(sin((radians(l.latitude::float8) - radians(%(lat)s)) / 2), 2)"
    " + cos(radians(%(lat)s)) * cos(radians(l.latitude::float8))"
    " * power(sin((radians(l.longitude::float8) - radians(%(lng)s)) / 2), 2)))"
)
SQL = f"""
SELECT l.*, {DISTANCE} AS distance
FROM directory_doctorlisting l
WHERE l.bookable
  AND l.specialties @> ARRAY[%(specialty)s]::varchar(60)[]
  AND l.visit_types @> ARRAY['office']::varchar(10)[]
  AND l.days_office @> ARRAY[%(day)s]::date[]
  AND l.latitude BETWEEN %(south)s AND %(north)s
  AND l.longitude BETWEEN %(west)s AND %(east)s
  AND {DISTANCE} <= %(radius)s
ORDER BY l.next_office ASC NULLS LAST, l.id
LIMIT %(limit)s
"""


def _common_specialties(count: int) -> list[str]:
    """The specialties with the most bookable doctors: what patients search for most."""
    from collections import Counter

    from shifa.directory.models import DoctorListing

    listed = Counter(
        code
        for codes in DoctorListing.unscoped.filter(
            bookable=True, clinic__slug__startswith=dataset.SLUG_PREFIX
        ).values_list("specialties", flat=True)
        for code in codes
    )
    return [code for code, _n in sorted(listed.items(), key=lambda item: (-item[1], item[0]))[:count]]


def run(size: dataset.Size, rounds: int) -> dict:
    from shifa.core import timezones
    from shifa.directory import geometry
    from shifa.directory.queries import Search, doctor_search

    found = dataset.ensure(size, listings=True)
    lat, lng = dataset.AMMAN
    today = timezones.to_local(timezones.now(), dataset.ZONE).date()
    specialties = _common_specialties(4)
    searches = [
        Search(
            specialty=specialty,
            latitude=lat,
            longitude=lng,
            radius_km=RADIUS_KM,
            date=today + dt.timedelta(days=ahead),
            visit_type="office",
        )
        for specialty, ahead in itertools.product(specialties, DAYS_AHEAD)
    ]
    south, west, north, east = geometry.box_around(lat, lng, RADIUS_KM)
    box = {
        k: Decimal(repr(v)) for k, v in {"south": south, "west": west, "north": north, "east": east}.items()
    }

    def by_sql(search: Search) -> list[tuple]:
        params = {
            "lat": lat,
            "lng": lng,
            "radius": RADIUS_KM,
            "specialty": search.specialty,
            "day": search.date,
            "limit": LIMIT + 1,
            **box,
        }
        with connection.cursor() as cursor:
            cursor.execute(SQL, params)
            return cursor.fetchall()

    def by_orm(search: Search) -> list:
        return doctor_search(search, limit=LIMIT).items

    # both ways find the same doctors
    mismatches = sum([r.pk for r in by_orm(s)] != [row[0] for row in by_sql(s)[:LIMIT]] for s in searches)
    found_counts = [len(by_orm(s)) for s in searches]
    order = [searches[i % len(searches)] for i in range(WARMUP + rounds)]
    host = machine()
    orm_ms = samples_ms([lambda s=s: by_orm(s) for s in order], warmup=WARMUP)
    sql_ms = samples_ms([lambda s=s: by_sql(s) for s in order], warmup=WARMUP)
    p50, p95, sql_p95 = percentile(orm_ms, 50), percentile(orm_ms, 95), percentile(sql_ms, 95)
    figures = {
        "p50_ms": rounded(p50),
        "p95_ms": rounded(p95),
        "sql_p50_ms": rounded(percentile(sql_ms, 50)),
        "sql_p95_ms": rounded(sql_p95),
        "ratio_to_sql": rounded(p95 / sql_p95),
        "rounds": rounds,
        "doctors_per_page": rounded(sum(found_counts) / len(found_counts), 1),
        "same_doctors_as_sql": mismatches == 0,
    }
    host = measured(host)
    append_section(
        f"search ({size.name} data set)",
        [
            machine_line(host),
            dataset.describe(found),
            "",
            f"{rounds} calls of `doctor_search` (specialty among the 4 most listed, {RADIUS_KM:g} km around Amman, "
            f"a day 1 to 7 days ahead, office visits, page of {LIMIT}; {WARMUP} untimed first), then the same "
            f"calls as hand-written SQL on `directory_doctorlisting`. Doctors per page: "
            f"{figures['doctors_per_page']}; same doctors both ways: {figures['same_doctors_as_sql']}.",
            "",
            *table(
                [
                    ("p50", f"{p50:.2f} ms", ""),
                    ("p95", f"{p95:.2f} ms", f"≤ {TARGET_P95_MS:g} ms: {verdict(p95 <= TARGET_P95_MS)}"),
                    ("SQL p50", f"{percentile(sql_ms, 50):.2f} ms", ""),
                    ("SQL p95", f"{sql_p95:.2f} ms", ""),
                    (
                        "p95 / SQL p95",
                        f"{p95 / sql_p95:.2f}",
                        f"≤ {TARGET_RATIO:g}: {verdict(p95 / sql_p95 <= TARGET_RATIO)}",
                    ),
                ]
            ),
        ],
    )
    return {"search": figures, "dataset": dataset.figures(found), "machine": host}
