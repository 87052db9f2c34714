"""The booking benchmarks' data set: clinics spread over Jordan, their doctors, patients and appointments, and the
search read model built from them.

* Clinics: 40 % clustered around Amman (31.95 N, 35.91 E, a few kilometres across), the rest anywhere in
  29.5 to 33.0 N and 35.0 to 39.0 E; each named after its nearest city, with a licence, a profile with its
  place, opening hours from a few common patterns, a consultation service priced per visit type, sometimes a
  home-visit area and insurers.
* Doctors: spread evenly over the clinics; one or two specialties (common ones more often), languages, a gender,
  the visit types they offer with their length, sometimes their own price, and weekly hours within the clinic's.
* Appointments: each doctor's are laid on the doctor's own slot grid over the 60 days before and the 30 days
  after the moment of generation, at distinct grid positions so that none overlap; past ones completed (and
  committed), no shows or cancelled, future ones booked or cancelled.

Rows go in through COPY (``copying.copy_rows``), with the audit trigger and every constraint in force. The whole
set is written in one transaction together with its record in the ``bench_dataset`` table: an interrupted run
leaves nothing behind, and a finished one is found and re-used by the next run. The read model
(``directory.actions.listings_refresh``, clinic by clinic) is built after it, and rebuilt when older than six
hours, the age at which the product's own job rebuilds a listing.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from .copying import copy_rows
from .runtime import log


@dataclass(frozen=True)
class Size:
    name: str
    clinics: int
    doctors: int
    appointments: int
    patients: int

    def describe(self) -> str:
        return (
            f"{self.clinics:,} clinics, {self.doctors:,} doctors, {self.appointments:,} appointments, "
            f"{self.patients:,} patients"
        )


FULL = Size("full", clinics=1_000, doctors=10_000, appointments=1_000_000, patients=100_000)
QUICK = Size("quick", clinics=50, doctors=500, appointments=50_000, patients=5_000)

SEED = 20261126
ZONE = "Asia/Amman"
SLUG_PREFIX = "bench-"
EMAIL_DOMAIN = "bench.shifa.test"
PAST_DAYS, FUTURE_DAYS = 60, 30
LISTINGS_STALE = dt.timedelta(hours=6)

AMMAN = (31.95, 35.91)
AMMAN_SHARE = 0.4
JORDAN = (29.5, 33.0, 35.0, 39.0)  # south, north, west, east
CITIES = {
    "Amman": ("عمّان", 31.95, 35.91),
    "Zarqa": ("الزرقاء", 32.07, 36.09),
    "Irbid": ("إربد", 32.56, 35.85),
    "Salt": ("السلط", 32.04, 35.73),
    "Madaba": ("مادبا", 31.72, 35.79),
    "Jerash": ("جرش", 32.28, 35.90),
    "Ajloun": ("عجلون", 32.33, 35.75),
    "Mafraq": ("المفرق", 32.34, 36.21),
    "Karak": ("الكرك", 31.18, 35.70),
    "Tafilah": ("الطفيلة", 30.84, 35.60),
    "Ma'an": ("معان", 30.19, 35.73),
    "Aqaba": ("العقبة", 29.53, 35.01),
    "Azraq": ("الأزرق", 31.88, 36.83),
    "Ruwaished": ("الرويشد", 32.50, 38.20),
}

#: Opening-hour patterns (weight, open weekdays with 0 = Monday, local stretches).
HOURS = [
    (4, (0, 1, 2, 3, 5, 6), [(dt.time(9), dt.time(17))]),
    (3, (0, 1, 2, 3, 5, 6), [(dt.time(8), dt.time(13)), (dt.time(16), dt.time(21))]),
    (2, (0, 1, 2, 3, 6), [(dt.time(8), dt.time(16))]),
    (1, tuple(range(7)), [(dt.time(10), dt.time(22))]),
]

FIRST_NAMES = {
    "female": [
        "Rania",
        "Lina",
        "Dana",
        "Sara",
        "Hala",
        "Noor",
        "Reem",
        "Maha",
        "Aseel",
        "Yasmin",
        "Huda",
        "Salma",
    ],
    "male": [
        "Ahmad",
        "Omar",
        "Khaled",
        "Yousef",
        "Sami",
        "Faris",
        "Zaid",
        "Hamza",
        "Tariq",
        "Basel",
        "Nabil",
        "Ali",
    ],
}
FAMILY_NAMES = [
    "Haddad",
    "Nasser",
    "Khoury",
    "Majali",
    "Obeidat",
    "Tal",
    "Masri",
    "Qudah",
    "Zoubi",
    "Abbadi",
    "Rawashdeh",
    "Shami",
    "Hijazi",
    "Saleh",
    "Jaber",
    "Odeh",
]
OTHER_LANGUAGES = ["fr", "de", "ru", "tr", "es", "it"]

MARKER = """
CREATE TABLE IF NOT EXISTS bench_dataset (
    id integer PRIMARY KEY CHECK (id = 1),
    size text NOT NULL,
    clinics integer NOT NULL,
    doctors integer NOT NULL,
    appointments integer NOT NULL,
    patients integer NOT NULL,
    anchor timestamptz NOT NULL,
    generation jsonb NOT NULL,
    listings_at timestamptz,
    listings jsonb
)
"""
MARKER_COLUMNS = (
    "size",
    "clinics",
    "doctors",
    "appointments",
    "patients",
    "anchor",
    "generation",
    "listings_at",
    "listings",
)


@dataclass
class ClinicPlan:
    pk: int
    service_pk: int
    week: dict[int, list[tuple[dt.time, dt.time]]]
    lat: float
    lng: float
    home_visits: bool
    prices: dict[str, Decimal]


@dataclass
class DoctorPlan:
    pk: int
    clinic: ClinicPlan
    minutes: dict[str, int]
    week: dict[int, list[tuple[dt.time, dt.time]]]
    prices: dict[str, Decimal] = field(default_factory=dict)


# --- the record of what the database holds ---------------------------------------------------------------------


def marker() -> dict | None:
    with connection.cursor() as cursor:
        cursor.execute(MARKER)
        cursor.execute(f"SELECT {', '.join(MARKER_COLUMNS)} FROM bench_dataset WHERE id = 1")
        row = cursor.fetchone()
    if row is None:
        return None
    found = dict(zip(MARKER_COLUMNS, row, strict=True))
    for key in ("generation", "listings"):
        if isinstance(found[key], str):
            found[key] = json.loads(found[key])
    return found


def _mark(size: Size, anchor: dt.datetime, generation: dict) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_dataset (id, size, clinics, doctors, appointments, patients, anchor, generation) "
            "VALUES (1, %s, %s, %s, %s, %s, %s, %s)",
            [
                size.name,
                size.clinics,
                size.doctors,
                size.appointments,
                size.patients,
                anchor,
                json.dumps(generation),
            ],
        )


def _update_mark(**values) -> None:
    assignments = ", ".join(f"{name} = %s" for name in values)
    params = [json.dumps(v) if isinstance(v, dict) else v for v in values.values()]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE bench_dataset SET {assignments} WHERE id = 1", params)


def ensure(size: Size, *, listings: bool) -> dict:
    """The data set of ``size`` in the benchmark database: re-used when it is there, generated otherwise. With
    ``listings``, the search read model is rebuilt when it is missing or stale."""
    found = marker()
    if found is None:
        from shifa.tenancy.models import Clinic

        if Clinic.objects.filter(slug__startswith=SLUG_PREFIX).exists():
            raise SystemExit(
                "this database holds benchmark clinics without a record of their data set: "
                "choose a fresh database with SHIFA_DB_NAME"
            )
        log(f"generating the {size.name} data set: {size.describe()}")
        generate(size)
        build_listings()
        found = marker() | {"reused": False}
        _record(found)
        return found
    held = (found["clinics"], found["doctors"], found["appointments"], found["patients"])
    if held != (size.clinics, size.doctors, size.appointments, size.patients):
        raise SystemExit(
            f"this database holds the {found['size']} data set ({held[0]} clinics, {held[1]} doctors, "
            f"{held[2]} appointments); run the {size.name} benchmark with another SHIFA_DB_NAME"
        )
    log(f"re-using the {found['size']} data set generated at {found['anchor']:%Y-%m-%d %H:%M} UTC")
    if listings and (found["listings_at"] is None or timezone.now() - found["listings_at"] > LISTINGS_STALE):
        log("the search read model is missing or older than six hours: rebuilding it")
        build_listings()
        found = marker()
    return found | {"reused": True}


def _record(found: dict) -> None:
    """Append the generation's figures, step by step, to RESULTS.md."""
    from .runtime import append_section, machine, machine_line

    append_section(
        f"data set generation ({found['size']})",
        [
            machine_line(machine()),
            describe(found),
            "",
            "| step | seconds |",
            "|---|---|",
            *(f"| {step} | {seconds} |" for step, seconds in found["generation"]["steps_s"]),
            f"| search read model (`listings_refresh` per clinic) | {found['listings']['seconds']} |",
        ],
    )


def describe(found: dict) -> str:
    """One line on the data set for RESULTS.md."""
    generation = found["generation"]
    text = (
        f"Data: {found['size']} set, {found['clinics']:,} clinics, {found['doctors']:,} doctors, "
        f"{found['appointments']:,} appointments, {found['patients']:,} patients; generated at "
        f"{found['anchor']:%Y-%m-%d %H:%M} UTC in {generation['total_s']:.0f} s"
    )
    if found.get("listings"):
        built = found["listings"]
        text += (
            f"; read model of {built['listings']:,} listings built in {built['seconds']:.0f} s "
            f"({built['ms_per_doctor']:.1f} ms per doctor) at {found['listings_at']:%Y-%m-%d %H:%M} UTC"
        )
    return text + ("." if not found.get("reused") else "; re-used.")


def figures(found: dict) -> dict:
    """The data set's figures for the JSON line."""
    out = {
        "size": found["size"],
        "clinics": found["clinics"],
        "doctors": found["doctors"],
        "appointments": found["appointments"],
        "patients": found["patients"],
        "generated_at": found["anchor"].isoformat(),
        "generation_s": found["generation"]["total_s"],
        "reused": found.get("reused", False),
    }
    if found.get("listings"):
        out["listings_build_s"] = found["listings"]["seconds"]
        out["listings"] = found["listings"]["listings"]
    return out


# --- generation ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _step(steps: list, name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    steps.append([name, round(time.perf_counter() - start, 1)])
    log(f"  {name}: {steps[-1][1]} s")


def generate(size: Size) -> dict:
    """Write the whole data set in one transaction; the timings of its steps."""
    from shifa.access import catalog
    from shifa.access.models import Role
    from shifa.catalog.actions import reference_list_load
    from shifa.catalog.models import InsuranceCompany, Specialty
    from shifa.tenancy.models import Plan

    rng = random.Random(SEED)
    anchor = timezone.now().replace(microsecond=0)
    steps: list[list] = []
    started = time.perf_counter()
    with transaction.atomic():
        with _step(steps, "reference data"):
            reference_list_load("specialties")
            reference_list_load("insurers")
            specialties = list(
                Specialty.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
            )
            insurers = list(
                InsuranceCompany.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
            )
            doctor_role = Role.objects.get(code=catalog.DOCTOR).pk
            plan, _created = Plan.objects.get_or_create(
                code="bench",
                defaults={
                    "name_en": "Benchmark",
                    "name_ar": "قياس الأداء",
                    "price": Decimal("25.000"),
                    "period": "yearly",
                    "seats": 50,
                },
            )
        with _step(steps, "clinics"):
            clinics = _clinics(rng, size, anchor, plan.pk, insurers)
        with _step(steps, "doctors"):
            doctors = _doctors(rng, size, clinics, doctor_role, specialties)
        with _step(steps, "patients"):
            patients = _patients(rng, size)
        with _step(steps, "appointments"):
            _appointments(rng, size, doctors, patients, anchor)
        generation = {"steps_s": steps, "seed": SEED}
        _mark(size, anchor, generation | {"total_s": round(time.perf_counter() - started, 1)})
    with _step(steps, "vacuum analyze"):
        _vacuum()
    generation["total_s"] = round(time.perf_counter() - started, 1)
    _update_mark(generation=generation)
    log(f"  data set written in {generation['total_s']} s")
    return generation


def _vacuum() -> None:
    from shifa.accounts.models import User
    from shifa.audit.models import AuditEvent
    from shifa.directory.models import DoctorProfile, Price
    from shifa.records.models import Patient
    from shifa.scheduling.models import Appointment, DoctorInterval, OpeningInterval
    from shifa.tenancy.models import Clinic, Membership

    models = [
        Appointment,
        AuditEvent,
        Patient,
        User,
        Clinic,
        Membership,
        DoctorProfile,
        DoctorProfile.specialties.through,
        DoctorInterval,
        OpeningInterval,
        Price,
    ]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


def _place(rng: random.Random) -> tuple[float, float]:
    south, north, west, east = JORDAN
    if rng.random() < AMMAN_SHARE:
        lat, lng = rng.gauss(AMMAN[0], 0.045), rng.gauss(AMMAN[1], 0.055)
    else:
        lat, lng = rng.uniform(south, north), rng.uniform(west, east)
    return min(max(lat, south), north), min(max(lng, west), east)


def _nearest_city(lat: float, lng: float) -> tuple[str, str]:
    def distance(item):
        _name, (_ar, c_lat, c_lng) = item
        return (c_lat - lat) ** 2 + ((c_lng - lng) * math.cos(math.radians(lat))) ** 2

    name, (arabic, _lat, _lng) = min(CITIES.items(), key=distance)
    return name, arabic


def _degrees(value: float) -> Decimal:
    return Decimal(f"{value:.6f}")


def _jod(amount: int) -> Decimal:
    return Decimal(f"{amount}.000")


def _clinics(rng: random.Random, size: Size, anchor: dt.datetime, plan_pk: int, insurers: list[int]):
    from shifa.directory.models import ClinicProfile, InsurancePartner, Price, Service, ServiceArea
    from shifa.scheduling.models import OpeningInterval
    from shifa.tenancy.models import Clinic, Institution, Licence

    today = anchor.date()
    count = size.clinics
    places = [_place(rng) for _ in range(count)]
    cities = [_nearest_city(lat, lng) for lat, lng in places]
    institutions = copy_rows(
        Institution,
        ["name_en", "name_ar"],
        [(f"Benchmark group {i}", f"مجموعة القياس {i}") for i in range(count)],
        ids=True,
    )
    pks = copy_rows(
        Clinic,
        ["institution_id", "slug", "name_en", "name_ar", "city", "time_zone", "status"],
        [
            (
                institutions[i],
                f"{SLUG_PREFIX}{i:05d}",
                f"{en} Clinic {i}",
                f"عيادة {ar} {i}",
                en,
                ZONE,
                "active",
            )
            for i, (en, ar) in enumerate(cities)
        ],
        ids=True,
    )
    copy_rows(
        Licence,
        ["clinic_id", "plan_id", "seats", "starts_on", "ends_on"],
        [(pk, plan_pk, 50, today - dt.timedelta(days=365), today + dt.timedelta(days=3650)) for pk in pks],
    )
    copy_rows(
        ClinicProfile,
        ["clinic_id", "address_en", "address_ar", "latitude", "longitude", "languages", "facilities"],
        [
            (
                pk,
                f"Street {i}, {en}",
                f"شارع {i}، {ar}",
                _degrees(lat),
                _degrees(lng),
                ["ar", "en"],
                ["parking"],
            )
            for i, (pk, (en, ar), (lat, lng)) in enumerate(zip(pks, cities, places, strict=True))
        ],
    )
    services = copy_rows(
        Service, ["clinic_id", "name_en", "name_ar"], [(pk, "Consultation", "كشف") for pk in pks], ids=True
    )
    plans, opening, prices, areas, partners = [], [], [], [], []
    weights = [w for w, _days, _stretches in HOURS]
    for pk, service, (lat, lng) in zip(pks, services, places, strict=True):
        _weight, days, stretches = rng.choices(HOURS, weights)[0]
        week = {day: list(stretches) for day in days}
        opening += [(pk, day, opens, closes) for day in days for opens, closes in stretches]
        clinic_prices = {
            "office": _jod(rng.randrange(15, 41)),
            "video": _jod(rng.randrange(10, 26)),
            "home": _jod(rng.randrange(30, 61)),
        }
        prices += [(pk, service, visit_type, amount) for visit_type, amount in clinic_prices.items()]
        home = rng.random() < 0.25
        if home:
            areas.append(
                (pk, "Home visits", "radius", _degrees(lat), _degrees(lng), Decimal(rng.randrange(5, 16)))
            )
        partners += [
            (pk, insurer, Decimal(rng.choice([10, 15, 20, 25])))
            for insurer in rng.sample(insurers, rng.randrange(0, 4))
        ]
        plans.append(ClinicPlan(pk, service, week, lat, lng, home, clinic_prices))
    copy_rows(OpeningInterval, ["clinic_id", "weekday", "opens", "closes"], opening)
    copy_rows(Price, ["clinic_id", "service_id", "visit_type", "amount"], prices)
    copy_rows(ServiceArea, ["clinic_id", "name", "shape", "center_lat", "center_lng", "radius_km"], areas)
    copy_rows(InsurancePartner, ["clinic_id", "insurer_id", "copay_percent"], partners)
    return plans


def _doctors(
    rng: random.Random, size: Size, clinics: list[ClinicPlan], role_pk: int, specialties: list[int]
) -> list[DoctorPlan]:
    from shifa.accounts.models import User
    from shifa.directory.models import DoctorProfile, Price
    from shifa.scheduling.models import DoctorInterval
    from shifa.tenancy.models import Membership

    # common specialties (general practice, family and internal medicine, pediatrics, ...) come up more often
    weights = [1 / (rank + 2) for rank in range(len(specialties))]
    genders = ["female" if rng.random() < 0.45 else "male" for _ in range(size.doctors)]
    names = [f"{rng.choice(FIRST_NAMES[g])} {rng.choice(FAMILY_NAMES)}" for g in genders]
    users = copy_rows(
        User,
        ["email", "full_name", "password", "email_verified_at"],
        [(f"doctor{i:05d}@{EMAIL_DOMAIN}", name, "!", timezone.now()) for i, name in enumerate(names)],
        ids=True,
    )
    plans: list[DoctorPlan] = []
    for i, user in enumerate(users):
        clinic = clinics[i % len(clinics)]
        office = rng.choice([15, 20, 30])
        minutes = {"office": office}
        if rng.random() < 0.4:
            minutes["video"] = rng.choice([m for m in (15, 20) if m <= office])
        if clinic.home_visits and rng.random() < 0.5:
            minutes["home"] = rng.choice([45, 60])
        open_days = sorted(clinic.week)
        days = [d for d in open_days if rng.random() < 0.8] or open_days[:3]
        week = {}
        for day in days:
            stretches = clinic.week[day]
            # a doctor of a split-shift clinic sometimes works only the morning
            week[day] = stretches[:1] if len(stretches) > 1 and rng.random() < 0.3 else list(stretches)
        plans.append(DoctorPlan(user, clinic, minutes, week, dict(clinic.prices)))
    copy_rows(Membership, ["clinic_id", "user_id", "role_id"], [(p.clinic.pk, p.pk, role_pk) for p in plans])
    languages = [
        ["ar", "en", *([rng.choice(OTHER_LANGUAGES)] if rng.random() < 0.1 else [])]
        if rng.random() < 0.7
        else ["ar"]
        for _ in plans
    ]
    profiles = copy_rows(
        DoctorProfile,
        ["clinic_id", "doctor_id", "gender", "languages", "minutes"],
        [
            (p.clinic.pk, p.pk, g, sorted(lang), p.minutes)
            for p, g, lang in zip(plans, genders, languages, strict=True)
        ],
        ids=True,
    )
    links = []
    for profile in profiles:
        chosen = {rng.choices(specialties, weights)[0] for _ in range(rng.choice([1, 1, 2]))}
        links += [(profile, specialty) for specialty in chosen]
    copy_rows(DoctorProfile.specialties.through, ["doctorprofile_id", "specialty_id"], links)
    copy_rows(
        DoctorInterval,
        ["clinic_id", "doctor_id", "weekday", "starts", "ends"],
        [
            (p.clinic.pk, p.pk, day, a, b)
            for p in plans
            for day, stretches in p.week.items()
            for a, b in stretches
        ],
    )
    own = []
    for plan in plans:
        if rng.random() < 0.3:
            plan.prices["office"] = _jod(rng.randrange(20, 61))
            own.append((plan.clinic.pk, plan.clinic.service_pk, plan.pk, "office", plan.prices["office"]))
    copy_rows(Price, ["clinic_id", "service_id", "doctor_id", "visit_type", "amount"], own)
    return plans


def _patients(rng: random.Random, size: Size) -> list[int]:
    from shifa.records.models import Patient

    rows = []
    for _ in range(size.patients):
        sex = rng.choice(["female", "male"])
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 30_000))
        rows.append((f"{rng.choice(FIRST_NAMES[sex])} {rng.choice(FAMILY_NAMES)}", sex, born))
    return copy_rows(Patient, ["full_name", "sex", "date_of_birth"], rows, ids=True)


APPOINTMENT_FIELDS = [
    "clinic_id",
    "doctor_id",
    "patient_id",
    "service_id",
    "visit_type",
    "starts_at",
    "ends_at",
    "status",
    "channel",
    "price",
    "is_committed",
    "committed_at",
    "checked_in_at",
    "cancelled_at",
    "created_at",
    "updated_at",
]


def _appointments(
    rng: random.Random, size: Size, doctors: list[DoctorPlan], patients: list[int], anchor: dt.datetime
) -> None:
    from shifa.scheduling.models import Appointment

    zone = ZoneInfo(ZONE)
    first = anchor.astimezone(zone).date() - dt.timedelta(days=PAST_DAYS)
    days = [first + dt.timedelta(days=n) for n in range(PAST_DAYS + FUTURE_DAYS)]
    each, extra = divmod(size.appointments, len(doctors))
    rows: list[tuple] = []
    written = 0
    for index, doctor in enumerate(doctors):
        rows += _doctor_appointments(rng, doctor, each + (index < extra), days, patients, anchor, zone)
        if len(rows) >= 100_000 or index == len(doctors) - 1:
            copy_rows(Appointment, APPOINTMENT_FIELDS, rows)
            written += len(rows)
            rows = []
            log(f"    {written:,} appointments")


def _doctor_appointments(rng, doctor: DoctorPlan, count: int, days, patients, anchor, zone) -> list[tuple]:
    """``count`` appointments at distinct positions of the doctor's slot grid (one office visit long): no two
    overlap, since a video visit is never longer than an office one."""
    step = doctor.minutes["office"]
    bounds: list[int] = []  # cumulative number of grid positions at the end of each stretch
    stretches: list[tuple[dt.date, int]] = []  # (day, first minute of the stretch)
    total = 0
    for day in days:
        for starts, ends in doctor.week.get(day.weekday(), ()):
            first = starts.hour * 60 + starts.minute
            positions = (ends.hour * 60 + ends.minute - first) // step
            if positions > 0:
                total += positions
                bounds.append(total)
                stretches.append((day, first))
    rows = []
    for pick in rng.sample(range(total), min(count, total)):
        k = bisect.bisect_right(bounds, pick)
        day, first = stretches[k]
        offset = pick - (bounds[k - 1] if k else 0)
        local = dt.datetime.combine(day, dt.time(), tzinfo=zone) + dt.timedelta(minutes=first + offset * step)
        starts_at = local.astimezone(dt.UTC)
        visit_type = "video" if "video" in doctor.minutes and rng.random() < 0.2 else "office"
        ends_at = starts_at + dt.timedelta(minutes=doctor.minutes[visit_type])
        committed = False
        committed_at = checked_in_at = cancelled_at = None
        if ends_at <= anchor:
            roll = rng.random()
            status = "completed" if roll < 0.8 else "no_show" if roll < 0.88 else "cancelled"
        elif starts_at <= anchor:
            status = "checked_in"
        else:
            status = "booked" if rng.random() < 0.9 else "cancelled"
        if status == "completed":
            committed, committed_at = True, ends_at + dt.timedelta(minutes=10)
        if status in {"completed", "checked_in"}:
            checked_in_at = starts_at - dt.timedelta(minutes=10)
        created_at = min(starts_at, anchor) - dt.timedelta(days=rng.randint(1, 14))
        if status == "cancelled":
            cancelled_at = min(starts_at - dt.timedelta(hours=20), anchor)
            cancelled_at = max(cancelled_at, created_at)
        rows.append(
            (
                doctor.clinic.pk,
                doctor.pk,
                rng.choice(patients),
                doctor.clinic.service_pk,
                visit_type,
                starts_at,
                ends_at,
                status,
                "app" if rng.random() < 0.7 else "desk",
                doctor.prices[visit_type],
                committed,
                committed_at,
                checked_in_at,
                cancelled_at,
                created_at,
                committed_at or cancelled_at or created_at,
            )
        )
    return rows


# --- the search read model ---------------------------------------------------------------------------------------


def build_listings() -> dict:
    """Rebuild the read model of every benchmark clinic with the product's own ``listings_refresh``."""
    from shifa.directory.actions import listings_refresh
    from shifa.directory.models import DoctorListing
    from shifa.tenancy.models import Clinic

    clinics = list(
        Clinic.objects.filter(slug__startswith=SLUG_PREFIX).order_by("pk").values_list("pk", flat=True)
    )
    log(f"building the search read model of {len(clinics):,} clinics (listings_refresh per clinic)")
    started = time.perf_counter()
    doctors = 0
    report_every = max(1, len(clinics) // 10)
    for number, clinic_pk in enumerate(clinics, 1):
        doctors += listings_refresh(clinic_pk=clinic_pk)
        if number % report_every == 0:
            elapsed = time.perf_counter() - started
            log(f"  {number:,}/{len(clinics):,} clinics, {doctors:,} doctors, {elapsed:.0f} s")
    seconds = time.perf_counter() - started
    listings = DoctorListing.unscoped.filter(clinic__slug__startswith=SLUG_PREFIX)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(DoctorListing._meta.db_table)}")
    built = {
        "seconds": round(seconds, 1),
        "doctors": doctors,
        "ms_per_doctor": round(seconds * 1000 / max(doctors, 1), 2),
        "listings": listings.count(),
        "bookable": listings.filter(bookable=True).count(),
    }
    _update_mark(listings_at=timezone.now(), listings=built)
    log(f"  read model built in {built['seconds']} s ({built['ms_per_doctor']} ms per doctor)")
    return built
