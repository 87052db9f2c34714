"""A doctor's free slots: ``scheduling.queries.doctor_slots`` for office visits over the next 30 days, for doctors
drawn at random from the data set (whose calendars hold the generated appointments).

Target: p95 ≤ 20 ms.
"""

from __future__ import annotations

import datetime as dt
import random

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

TARGET_P95_MS = 20.0
WARMUP = 30
DAYS = 30
DOCTORS = 200


def run(size: dataset.Size, rounds: int) -> dict:
    from shifa.accounts.models import User
    from shifa.core import timezones
    from shifa.scheduling.models import OCCUPYING, Appointment
    from shifa.scheduling.queries import doctor_slots
    from shifa.tenancy.models import Clinic, Membership

    found = dataset.ensure(size, listings=False)
    rng = random.Random(dataset.SEED)
    pairs = list(
        Membership.unscoped.filter(clinic__slug__startswith=dataset.SLUG_PREFIX, role__code="doctor")
        .order_by("pk")
        .values_list("clinic_id", "user_id")
    )
    chosen = rng.sample(pairs, min(DOCTORS, len(pairs)))
    clinics = Clinic.objects.in_bulk({c for c, _d in chosen})
    users = User.objects.in_bulk({d for _c, d in chosen})
    doctors = [(clinics[c], users[d]) for c, d in chosen]
    today = timezones.to_local(timezones.now(), dataset.ZONE).date()
    last = today + dt.timedelta(days=DAYS - 1)
    counts: list[int] = []

    def call(clinic, doctor, record: bool = False):
        slots = doctor_slots(
            clinic=clinic, doctor=doctor, visit_type="office", first_day=today, last_day=last
        )
        if record:
            counts.append(len(slots))

    for clinic, doctor in doctors:
        call(clinic, doctor, record=True)
    booked = Appointment.unscoped.filter(
        doctor__in=[d for _c, d in doctors],
        status__in=OCCUPYING,
        starts_at__gte=timezones.now(),
        starts_at__lt=timezones.now() + dt.timedelta(days=DAYS),
    ).count()
    order = [doctors[i % len(doctors)] for i in range(WARMUP + rounds)]
    host = machine()
    ms = samples_ms([lambda c=c, d=d: call(c, d) for c, d in order], warmup=WARMUP)
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    figures = {
        "p50_ms": rounded(p50),
        "p95_ms": rounded(p95),
        "rounds": rounds,
        "doctors": len(doctors),
        "free_slots_per_call": rounded(sum(counts) / len(counts), 1),
        "booked_per_doctor_next_30_days": rounded(booked / len(doctors), 1),
    }
    host = measured(host)
    append_section(
        f"slots ({size.name} data set)",
        [
            machine_line(host),
            dataset.describe(found),
            "",
            f"{rounds} calls of `doctor_slots` (office visits, {DAYS} days from today) over {len(doctors)} doctors "
            f"drawn at random ({WARMUP} untimed first). Free slots per call: {figures['free_slots_per_call']}; "
            f"booked visits per doctor in those days: {figures['booked_per_doctor_next_30_days']}.",
            "",
            *table(
                [
                    ("p50", f"{p50:.2f} ms", ""),
                    ("p95", f"{p95:.2f} ms", f"≤ {TARGET_P95_MS:g} ms: {verdict(p95 <= TARGET_P95_MS)}"),
                ]
            ),
        ],
    )
    return {"slots": figures, "dataset": dataset.figures(found), "machine": host}
