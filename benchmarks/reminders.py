"""Medication reminders at scale: 100,000 doses (10,000 with ``--quick``) due in the same minute, reminded by
concurrent dispatchers running the product's ``adherence.actions.doses_dispatch`` as the every-minute job does.

Target: every dose reminded within 60 s of its time, none twice, none lost.

The population (its own database, ``shifa_bench_reminders`` or ``shifa_bench_reminders_quick``) is generated on
first use and re-used afterwards (table ``bench_reminders_dataset``):

* a few clinics with two doctors each;
* patients who sign in (Arabic or English, mostly in Amman's time zone, some in Riyadh's or Dubai's), one in ten
  a child without an account whose guardian (the patient before) is reminded for them; some people have chosen
  their channels or quiet hours (``Preference``);
* one committed visit per patient with four prescription lines of long-term medicines taken once or twice a day
  for a year, and for each line its active ``DoseSchedule`` (the one the visit's commit would have made).

Rows go in through ``bulk_create`` in one transaction (visits uncommitted, their lines, then one UPDATE that
commits them: the database refuses rows under a committed visit); the audit trigger and every constraint stay on.

Each run adds one dose per schedule (so one per prescription line: ``Dose`` allows one dose per schedule and time),
all due at the same whole minute T a little after they are written, and sets the schedules' times of day to T
(the patient chose that time). Then, at T, ``WORKERS`` dispatcher processes (2 by default, one per core;
``SHIFA_BENCH_WORKERS`` chooses another number), each with its own database connection, call
``doses_dispatch(now=<the time they start>)`` inside the audit context the job runs in
(``job:adherence.dispatch_due_doses``), as that many procrastinate workers would. Each dispatcher records the wall-clock moment each of its batch
transactions committed, and which doses it marked sent in it (a connection execute wrapper sees the UPDATE,
``on_commit`` notes the time).

Measured for every dose: the delay from its due time to the commit that marked it sent (its reminder and delivery
jobs became visible then), and, as a check, to the ``created_at`` of its notification (written just before, in
the same transaction). ``Dose.sent_at`` is not relied on: in the version first measured it held the ``now``
given to ``doses_dispatch`` (when the call started, the same for all its batches); how far it is from the commit is
reported. Also measured: the CPU time the
dispatchers, their PostgreSQL backends and everything else on the machine used from T until the last dispatcher
finished (``/proc``), since the machine may be shared.

In production the job is periodic (``* * * * *``) and procrastinate defers one job per tick, so a single
dispatcher starts at T; a second one joins only when the next minute's job starts while the first still runs (or
when several workers pick up jobs of consecutive minutes). Starting ``WORKERS`` of them at T is the favourable
case.

Checked: every dose of the run sent, each with exactly one notification under its idempotency key
(``dose:<external id>``) for the right recipient, no dose marked sent by two committed batches, each notification
with its two deliveries (in-app, push), and each delivery that waits to be sent named by exactly one delivery job
(``notifications.deliver`` names one, ``notifications.deliver_many`` a list; none for a channel the person turned
off). The delivery jobs are then deleted (no worker runs them here).

Finally, where the time goes: two batches of 500 fresh doses dispatched in this process, one timed alone and one
under ``cProfile`` with the SQL captured (queries per dose, time in SQL round trips, template rendering, jobs).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import json
import os
import pstats
import random
import resource
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from .people import CITIES, FIRST_NAMES, person_name
from .runtime import (
    ROOT,
    append_section,
    dataset_figures,
    ensure_dataset,
    generation_step,
    log,
    machine,
    machine_line,
    measured,
    percentile,
    read_marker,
    rounded,
    table,
    verdict,
)

TARGET_S = 60.0
WORKERS = int(os.environ.get("SHIFA_BENCH_WORKERS", "2"))
SEED = 20261127
ZONE = "Asia/Amman"
SLUG_PREFIX = "reminders-"
EMAIL_DOMAIN = "reminders.bench.shifa.test"
JOB_SOURCE = "job:adherence.dispatch_due_doses"
#: The course of every line: long enough for runs months after generation.
COURSE_DAYS = 365
#: Doses of the cost breakdown (one batch each, dispatched in this process).
PROFILE_BATCH = 500


@dataclass(frozen=True)
class Size:
    name: str
    patients: int
    lines: int  # prescription lines (schedules) per patient, each with one dose due at the run's minute
    clinics: int

    @property
    def doses(self) -> int:
        return self.patients * self.lines

    def describe(self) -> str:
        return (
            f"{self.clinics} clinics, {self.patients:,} patients with {self.lines} prescription lines each "
            f"({self.doses:,} dose schedules)"
        )


FULL = Size("full", patients=25_000, lines=4, clinics=5)
QUICK = Size("quick", patients=2_500, lines=4, clinics=5)

#: (medication code, form, strength, dose, unit, frequency, timing): long-term medicines taken every day
MEDICINES = [
    ("amlodipine", "tablet", "5 mg", "1", "tablet", "once_daily", ""),
    ("metformin", "tablet", "500 mg", "1", "tablet", "twice_daily", "with_meals"),
    ("atorvastatin", "tablet", "20 mg", "1", "tablet", "once_daily", ""),
    ("losartan", "tablet", "50 mg", "1", "tablet", "once_daily", ""),
    ("bisoprolol", "tablet", "5 mg", "1", "tablet", "once_daily", ""),
    ("gliclazide", "tablet", "60 mg", "1", "tablet", "once_daily", "before_meals"),
    ("levothyroxine-sodium", "tablet", "50 mcg", "1", "tablet", "once_daily", "empty_stomach"),
    ("omeprazole", "capsule", "20 mg", "1", "capsule", "once_daily", "before_meals"),
    ("esomeprazole", "tablet", "40 mg", "1", "tablet", "once_daily", "before_meals"),
    ("cetirizine", "tablet", "10 mg", "1", "tablet", "once_daily", ""),
    ("acetylsalicylic-acid", "tablet", "81 mg", "1", "tablet", "once_daily", "after_meals"),
]
INSTRUCTIONS = ["", "", "Take with a full glass of water.", "Keep taking it until the next visit."]
ZONES = [("Asia/Amman", 90), ("Asia/Riyadh", 5), ("Asia/Dubai", 5)]

MARKER = """
CREATE TABLE IF NOT EXISTS bench_reminders_dataset (
    id integer PRIMARY KEY CHECK (id = 1),
    size text NOT NULL,
    patients integer NOT NULL,
    lines_per_patient integer NOT NULL,
    clinics integer NOT NULL,
    clinic_ids jsonb NOT NULL,
    anchor timestamptz NOT NULL,
    generation jsonb NOT NULL
)
"""
MARKER_COLUMNS = ("size", "patients", "lines_per_patient", "clinics", "clinic_ids", "anchor", "generation")


# --- the record of what the database holds ---------------------------------------------------------------------


def marker() -> dict | None:
    return read_marker(MARKER, "bench_reminders_dataset", MARKER_COLUMNS, ("generation", "clinic_ids"))


def ensure(size: Size) -> dict:
    """The population of ``size`` in the benchmark database: re-used when it is there, generated otherwise."""
    from shifa.tenancy.models import Clinic

    return ensure_dataset(
        "reminders",
        "reminders",
        size,
        marker=marker,
        generate=generate,
        describe=describe,
        held=lambda f: (f["patients"], f["lines_per_patient"], f["clinics"]),
        wanted=(size.patients, size.lines, size.clinics),
        held_text=lambda f: f"{f['patients']} patients with {f['lines_per_patient']} lines",
        occupied=lambda: Clinic.objects.exists(),
    )


def describe(found: dict) -> str:
    rows = found["generation"]["rows"]
    return (
        f"Data: {found['size']} reminders set, {found['clinics']} clinics, {found['patients']:,} patients "
        f"({rows['dependants']:,} of them children reminded through their guardian's account; "
        f"{rows['users']:,} accounts, {rows['preferences']:,} with chosen channels or quiet hours), "
        f"{rows['visits']:,} committed visits with {rows['prescriptions']:,} prescription lines "
        f"and as many active dose schedules; generated at {found['anchor']:%Y-%m-%d %H:%M} UTC "
        f"in {found['generation']['total_s']:.0f} s" + ("; re-used." if found.get("reused") else ".")
    )


def figures(found: dict) -> dict:
    return dataset_figures(found, "patients", "lines_per_patient", "clinics")


# --- generation ---------------------------------------------------------------------------------------------------


def generate(size: Size) -> dict:
    """Write the whole population in one transaction; the timings of its steps."""
    from shifa.access import catalog as access_catalog
    from shifa.access.models import Role
    from shifa.accounts.models import User
    from shifa.adherence import schedule
    from shifa.adherence.models import DoseSchedule
    from shifa.catalog.actions import reference_data_ensure
    from shifa.catalog.models import Medication
    from shifa.core import keys
    from shifa.notifications.models import Preference
    from shifa.records.models import Patient, Prescription, Visit
    from shifa.tenancy.models import Clinic, Institution, Membership

    rng = random.Random(SEED)
    anchor = timezone.now().replace(microsecond=0)
    steps: list[list] = []
    started = time.perf_counter()
    keys.keyring.active()  # the data key, unwrapped before the transaction (prescription instructions)
    with transaction.atomic():
        with generation_step(steps, "reference data"):
            reference_data_ensure()
            codes = [m[0] for m in MEDICINES]
            medications = dict(Medication.objects.filter(code__in=codes).values_list("code", "pk"))
            missing = sorted(set(codes) - set(medications))
            if missing:
                raise RuntimeError(f"the medication catalogue lacks {missing}")
            doctor_role = Role.objects.get(code=access_catalog.DOCTOR)
        with generation_step(steps, "clinics and doctors"):
            institutions = Institution.objects.bulk_create(
                Institution(name_en=f"Reminders group {i}", name_ar=f"مجموعة التذكير {i}")
                for i in range(size.clinics)
            )
            clinics = Clinic.objects.bulk_create(
                Clinic(
                    institution=institutions[i],
                    slug=f"{SLUG_PREFIX}{i:02d}",
                    name_en=f"{CITIES[i % len(CITIES)][0]} Family Clinic {i}",
                    name_ar=f"عيادة {CITIES[i % len(CITIES)][1]} للعائلة {i}",
                    city=CITIES[i % len(CITIES)][0],
                    time_zone=ZONE,
                    status="active",
                )
                for i in range(size.clinics)
            )
            doctors = User.objects.bulk_create(
                User(
                    email=f"doctor{i:03d}@{EMAIL_DOMAIN}",
                    full_name=f"Dr. {person_name(rng)}",
                    password="!",
                    email_verified_at=anchor,
                )
                for i in range(2 * size.clinics)
            )
            Membership.unscoped.bulk_create(
                Membership(clinic=clinics[i % size.clinics], user=doctor, role=doctor_role)
                for i, doctor in enumerate(doctors)
            )
            clinic_doctors = {
                c.pk: [d.pk for i, d in enumerate(doctors) if i % size.clinics == n]
                for n, c in enumerate(clinics)
            }
        with generation_step(steps, "accounts, patients and preferences"):
            # one patient in ten is the child of the patient before, without an account of their own
            dependant = [i % 10 == 9 for i in range(size.patients)]
            adults = [i for i in range(size.patients) if not dependant[i]]
            zones, weights = zip(*ZONES, strict=True)
            users = User.objects.bulk_create(
                (
                    User(
                        email=f"patient{i:06d}@{EMAIL_DOMAIN}",
                        full_name=person_name(rng),
                        password="!",
                        email_verified_at=anchor,
                        language="ar" if rng.random() < 0.7 else "en",
                        time_zone=rng.choices(zones, weights)[0],
                    )
                    for i in adults
                ),
                batch_size=5000,
            )
            user_of = dict(zip(adults, users, strict=True))
            sexes = [rng.choice(["female", "male"]) for _ in range(size.patients)]
            born = [dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 25_000)) for _ in adults]
            grown = Patient.objects.bulk_create(
                (
                    Patient(
                        user=user_of[i],
                        full_name=user_of[i].full_name,
                        sex=sexes[i],
                        date_of_birth=birth,
                        phone=f"+96279{rng.randrange(10**6, 10**7)}",
                    )
                    for i, birth in zip(adults, born, strict=True)
                ),
                batch_size=5000,
            )
            patient_of = dict(zip(adults, grown, strict=True))
            children = Patient.objects.bulk_create(
                (
                    Patient(
                        guardian=patient_of[i - 1],
                        relation="child",
                        full_name=f"{rng.choice(FIRST_NAMES)} {patient_of[i - 1].full_name.split()[-1]}",
                        sex=sexes[i],
                        date_of_birth=anchor.date() - dt.timedelta(days=rng.randrange(400, 6000)),
                    )
                    for i in range(size.patients)
                    if dependant[i]
                ),
                batch_size=5000,
            )
            patient_of |= dict(zip([i for i in range(size.patients) if dependant[i]], children, strict=True))
            patients = [patient_of[i] for i in range(size.patients)]
            preferences = []
            for user in users:
                draw = rng.random()
                if draw < 0.1:  # quiet at night: push held until the morning when a dose falls in them
                    preferences.append(Preference(user=user, quiet_from=dt.time(23), quiet_until=dt.time(7)))
                elif draw < 0.15:
                    preferences.append(Preference(user=user, push=False))
                elif draw < 0.2:
                    preferences.append(Preference(user=user, sms=False, email=False))
            Preference.objects.bulk_create(preferences, batch_size=5000)
        with generation_step(steps, "visits and prescription lines (committed)"):
            visits = []
            for n, patient in enumerate(patients):
                clinic = clinics[n % size.clinics]
                doctor = rng.choice(clinic_doctors[clinic.pk])
                day = anchor - dt.timedelta(days=rng.randrange(1, 60))
                started_at = day.replace(hour=rng.randrange(6, 14), minute=rng.randrange(0, 60, 5), second=0)
                visits.append(
                    Visit(
                        clinic=clinic,
                        patient=patient,
                        doctor_id=doctor,
                        created_by_id=doctor,
                        origin="walk_in",
                        started_at=started_at,
                        complaint="Follow-up of long-term treatment; asks for the monthly prescriptions.",
                        notes="Stable. Medication adherence reviewed; reminders on the patient's phone.",
                    )
                )
            Visit.unscoped.bulk_create(visits, batch_size=5000)
            lines = []
            for visit in visits:
                for position, medicine in enumerate(rng.sample(MEDICINES, size.lines)):
                    code, form, strength, dose, unit, frequency, timing = medicine
                    lines.append(
                        Prescription(
                            clinic_id=visit.clinic_id,
                            visit=visit,
                            medication_id=medications[code],
                            form=form,
                            strength=strength,
                            dose=Decimal(dose),
                            dose_unit=unit,
                            route="oral",
                            frequency=frequency,
                            timing=timing,
                            duration_days=COURSE_DAYS,
                            instructions=rng.choice(INSTRUCTIONS),
                            position=position,
                        )
                    )
            Prescription.unscoped.bulk_create(lines, batch_size=5000)
            Visit.unscoped.filter(clinic__in=clinics, is_committed=False).update(
                is_committed=True,
                committed_at=F("started_at") + dt.timedelta(minutes=20),
                committed_by=F("doctor"),
                created_at=F("started_at"),
                updated_at=F("started_at") + dt.timedelta(minutes=20),
            )
        with generation_step(steps, "dose schedules"):
            zone_of = {}
            for n, patient in enumerate(patients):
                reminded = patient if patient.user_id else patient_of[n - 1]
                zone_of[patient.pk] = reminded.user.time_zone
            DoseSchedule.unscoped.bulk_create(
                (
                    DoseSchedule(
                        clinic_id=line.clinic_id,
                        patient_id=line.visit.patient_id,
                        prescription=line,
                        zone=zone_of[line.visit.patient_id],
                        times=[
                            t.strftime("%H:%M") for t in schedule.default_times(line.frequency, line.timing)
                        ],
                    )
                    for line in lines
                ),
                batch_size=5000,
            )
        rows = {
            "clinics": len(clinics),
            "doctors": len(doctors),
            "users": len(users),
            "patients": len(patients),
            "dependants": len(children),
            "preferences": len(preferences),
            "visits": len(visits),
            "prescriptions": len(lines),
        }
        generation = {"steps_s": steps, "seed": SEED, "rows": rows, "total_s": 0}
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_reminders_dataset (id, size, patients, lines_per_patient, clinics, clinic_ids, "
                "anchor, generation) VALUES (1, %s, %s, %s, %s, %s, %s, %s)",
                [
                    size.name,
                    size.patients,
                    size.lines,
                    size.clinics,
                    json.dumps([c.pk for c in clinics]),
                    anchor,
                    json.dumps(generation),
                ],
            )
    with generation_step(steps, "vacuum analyze"):
        _vacuum()
    generation["total_s"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE bench_reminders_dataset SET generation = %s WHERE id = 1", [json.dumps(generation)]
        )
    log(f"  reminders data set written in {generation['total_s']} s")
    return generation


def _vacuum() -> None:
    from shifa.accounts.models import User
    from shifa.adherence.models import Dose, DoseSchedule
    from shifa.audit.models import AuditEvent
    from shifa.notifications.models import Delivery, Notification, Preference
    from shifa.records.models import Patient, Prescription, Visit

    models = [
        User,
        Patient,
        Preference,
        Visit,
        Prescription,
        DoseSchedule,
        Dose,
        Notification,
        Delivery,
        AuditEvent,
    ]
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}, procrastinate_jobs")


# --- the doses of a run ---------------------------------------------------------------------------------------------


def _next_minute(after: dt.datetime) -> dt.datetime:
    return after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)


def _clear_leftovers(clinic_ids: list[int]) -> dict:
    """Doses left due by an interrupted run are cancelled; delivery jobs nobody will run here are deleted."""
    from shifa.adherence.models import Dose, DoseStatus

    cancelled = Dose.unscoped.filter(clinic_id__in=clinic_ids, status=DoseStatus.DUE).update(
        status=DoseStatus.CANCELLED
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM procrastinate_jobs WHERE task_name LIKE 'notifications.deliver%' AND status = 'todo'"
        )
        jobs = cursor.rowcount
    return {"cancelled_doses": cancelled, "deleted_jobs": jobs}


def _add_doses(clinic_ids: list[int], lead_s: float) -> tuple[dt.datetime, dict]:
    """One dose per active schedule, due at the same whole minute T at least ``lead_s`` from now; the schedules'
    times of day moved to T's local time (the patient chose it). Returns T and the timings of the steps.

    The doses are written far in the future first and moved to T once written, so that writing them (tens of
    seconds for the full set) never eats into the minute measured."""
    from shifa.adherence.models import Dose, DoseSchedule, ScheduleStatus

    steps = {}
    start = time.perf_counter()
    parked = timezone.now().replace(microsecond=0) + dt.timedelta(days=7)
    schedules = DoseSchedule.unscoped.filter(
        clinic_id__in=clinic_ids, status=ScheduleStatus.ACTIVE
    ).values_list("pk", "patient_id", "clinic_id")
    Dose.unscoped.bulk_create(
        (
            Dose(clinic_id=clinic, schedule_id=pk, patient_id=patient, due_at=parked)
            for pk, patient, clinic in schedules
        ),
        batch_size=5000,
    )
    steps["write doses"] = time.perf_counter() - start
    dose_table = connection.ops.quote_name(Dose._meta.db_table)
    schedule_table = connection.ops.quote_name(DoseSchedule._meta.db_table)
    current = parked
    while True:
        moved = time.perf_counter()
        due = _next_minute(timezone.now() + dt.timedelta(seconds=lead_s))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {dose_table} SET due_at = %s WHERE due_at = %s AND clinic_id = ANY(%s) AND status = 'due'",
                [due, current, clinic_ids],
            )
            # twice-a-day lines: T and twelve hours later, in the patient's zone ("HH:MM" sorts as time)
            cursor.execute(
                f"""
                UPDATE {schedule_table} s SET times = CASE
                    WHEN p.frequency = 'twice_daily' THEN jsonb_build_array(
                        least(to_char(%s AT TIME ZONE s.zone, 'HH24:MI'),
                              to_char((%s + interval '12 hours') AT TIME ZONE s.zone, 'HH24:MI')),
                        greatest(to_char(%s AT TIME ZONE s.zone, 'HH24:MI'),
                                 to_char((%s + interval '12 hours') AT TIME ZONE s.zone, 'HH24:MI')))
                    ELSE jsonb_build_array(to_char(%s AT TIME ZONE s.zone, 'HH24:MI'))
                END
                FROM records_prescription p
                WHERE p.id = s.prescription_id AND s.clinic_id = ANY(%s) AND s.status = 'active'
                """,
                [due, due, due, due, due, clinic_ids],
            )
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {dose_table}, {schedule_table}")
        steps["move to T and vacuum"] = time.perf_counter() - moved
        if timezone.now() < due - dt.timedelta(seconds=2):
            return due, {k: rounded(v, 1) for k, v in steps.items()}
        log(f"  writing took past {due:%H:%M:%S}; moving the doses to the next minute")
        current = due


# --- the dispatchers ------------------------------------------------------------------------------------------------


def _warm() -> None:
    """What a long-running worker has done before: imports, connection, templates of the reminder compiled."""
    from shifa.notifications import actions, kinds

    spec = kinds.get("dose.due")
    sample = {
        "medication_en": "Amlodipine",
        "medication_ar": "أملوديبين",
        "strength": "5 mg",
        "dose": "1",
        "unit": "tablet",
        "time": "08:00",
        "patient": "Patient",
        "for_dependant": False,
    }
    for language in ("ar", "en"):
        actions._render(spec, sample, language, "/app/record")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cpu_of(pid: int | None) -> float | None:
    """CPU seconds (user + system) a process of this machine has used so far; None when it cannot be read (a
    database server elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


def _dispatcher(number: int, go_at: float, ready, results) -> None:
    """One worker process: Django on the benchmark database, then at ``go_at`` (epoch seconds) the job's call."""
    import sys

    for path in (str(ROOT / "src"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        import django

        django.setup()
        from django.db import connection as conn

        from shifa.adherence.actions import doses_dispatch
        from shifa.audit.context import audit_context
        from shifa.core import timezones

        _warm()
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        ready.put(number)
        commits: list[tuple[float, list[int]]] = []

        def watch(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if 'UPDATE "adherence_dose" SET "status"' in sql:
                ids = [p for p in params if type(p) is int]
                conn.on_commit(lambda: commits.append((time.time(), ids)))
            return result

        pause = go_at - time.time()
        if pause > 0:
            time.sleep(pause)
        with conn.execute_wrapper(watch), audit_context(source=JOB_SOURCE):
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            backend_cpu = _cpu_of(backend)
            started = time.time()
            now = timezones.now()
            count = doses_dispatch(now=now)
            ended = time.time()
            used = resource.getrusage(resource.RUSAGE_SELF)
            backend_used = _cpu_of(backend)
        results.put(
            {
                "worker": number,
                "pid": os.getpid(),
                "dispatched": count,
                "now": now.isoformat(),
                "started": started,
                "ended": ended,
                "commits": commits,
                "python_cpu_s": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime,
                "backend_cpu_s": None
                if backend_cpu is None or backend_used is None
                else backend_used - backend_cpu,
            }
        )
    except BaseException as exc:  # the parent must hear of it rather than wait
        import traceback

        ready.put(number)
        results.put(
            {"worker": number, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        )


def _dispatch(due: dt.datetime, workers: int) -> tuple[list[dict], float]:
    """Start ``workers`` processes, let them call ``doses_dispatch`` at ``due``; their reports."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go_at = due.timestamp()
    processes = [
        context.Process(target=_dispatcher, args=(n, go_at, ready, results), name=f"dispatcher-{n}")
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    waiting = go_at - time.time()
    if waiting < 0:
        raise RuntimeError(f"the dispatchers were ready {-waiting:.1f} s after the doses' time")
    log(f"{workers} dispatchers ready; {waiting:.1f} s until the doses are due at {due:%H:%M:%S} UTC")
    time.sleep(max(0.0, go_at - time.time()))
    busy, total = _machine_cpu()
    reports = [results.get(timeout=3600) for _ in processes]
    busy_after, total_after = _machine_cpu()
    for report in reports:
        report["machine_busy_cpu_s"] = busy_after - busy
        report["machine_cpu_s"] = total_after - total
    for process in processes:
        process.join(timeout=60)
    failed = [r for r in reports if "error" in r]
    if failed:
        raise RuntimeError("a dispatcher failed:\n" + "\n".join(r["trace"] for r in failed))
    bad = [p.exitcode for p in processes if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"dispatcher processes exited with {bad}")
    return sorted(reports, key=lambda r: r["worker"]), time.time() - go_at


# --- checking what was sent -------------------------------------------------------------------------------------------


def _outcome(due: dt.datetime, clinic_ids: list[int]) -> dict:
    """Per dose of the run: status, reminded-at and notifications (count, the right recipient, first
    created_at); deliveries and their jobs."""
    from shifa.adherence.models import Dose
    from shifa.notifications.models import Delivery, Notification
    from shifa.records.models import Patient

    dose_t = connection.ops.quote_name(Dose._meta.db_table)
    note_t = connection.ops.quote_name(Notification._meta.db_table)
    delivery_t = connection.ops.quote_name(Delivery._meta.db_table)
    patient_t = connection.ops.quote_name(Patient._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id, d.status, d.sent_at, count(n.id),
                   count(n.id) FILTER (WHERE n.recipient_id = coalesce(p.user_id, g.user_id)), min(n.created_at)
            FROM {dose_t} d
            JOIN {patient_t} p ON p.id = d.patient_id
            LEFT JOIN {patient_t} g ON g.id = p.guardian_id
            LEFT JOIN {note_t} n ON n.idempotency_key = 'dose:' || d.external_id::text
            WHERE d.due_at = %s AND d.clinic_id = ANY(%s)
            GROUP BY d.id
            """,
            [due, clinic_ids],
        )
        doses = cursor.fetchall()
        cursor.execute(
            f"""
            WITH notes AS (
                SELECT n.id FROM {note_t} n
                JOIN {dose_t} d ON n.idempotency_key = 'dose:' || d.external_id::text
                WHERE d.due_at = %s AND d.clinic_id = ANY(%s)
            ), deliveries AS (
                SELECT dl.id, dl.notification_id, dl.channel, dl.status FROM {delivery_t} dl
                WHERE dl.notification_id IN (SELECT id FROM notes)
            ), named AS (  -- the deliveries each job names: one (deliver) or many (deliver_many)
                SELECT j.id AS job_id, named.delivery_id FROM procrastinate_jobs j
                CROSS JOIN LATERAL (
                    SELECT (j.args->>'delivery_id')::bigint AS delivery_id WHERE j.args ? 'delivery_id'
                    UNION ALL
                    SELECT e::bigint FROM jsonb_array_elements_text(
                        CASE WHEN j.args ? 'delivery_ids' THEN j.args->'delivery_ids' ELSE '[]'::jsonb END
                    ) e
                ) named
                WHERE j.task_name LIKE 'notifications.deliver%%'
            ), jobs AS (
                SELECT delivery_id, count(*) AS jobs, array_agg(job_id) AS job_ids FROM named
                WHERE delivery_id IN (SELECT id FROM deliveries) GROUP BY 1
            )
            SELECT dl.channel, dl.status, count(*), coalesce(sum(j.jobs), 0),
                   count(*) FILTER (WHERE coalesce(j.jobs, 0) = 0), count(*) FILTER (WHERE j.jobs > 1),
                   (SELECT count(DISTINCT x) FROM jobs, unnest(jobs.job_ids) x)
            FROM deliveries dl LEFT JOIN jobs j ON j.delivery_id = dl.id
            GROUP BY dl.channel, dl.status ORDER BY dl.channel, dl.status
            """,
            [due, clinic_ids],
        )
        deliveries = cursor.fetchall()
        cursor.execute(
            f"""
            SELECT count(*) FROM (
                SELECT n.id FROM {note_t} n
                JOIN {dose_t} d ON n.idempotency_key = 'dose:' || d.external_id::text
                LEFT JOIN {delivery_t} dl ON dl.notification_id = n.id
                WHERE d.due_at = %s AND d.clinic_id = ANY(%s)
                GROUP BY n.id HAVING count(dl.id) <> 2
            ) odd
            """,
            [due, clinic_ids],
        )
        odd_notifications = cursor.fetchone()[0]
    return {
        "doses": doses,
        "deliveries": deliveries,
        "notifications_without_two_deliveries": odd_notifications,
    }


# --- where the time goes ----------------------------------------------------------------------------------------------


def _profile(clinic_ids: list[int], due: dt.datetime) -> dict:
    """Two batches of ``PROFILE_BATCH`` fresh doses dispatched here: one timed alone, one under cProfile with its
    SQL captured."""
    from django.test.utils import CaptureQueriesContext

    from shifa.adherence.actions import doses_dispatch
    from shifa.adherence.models import Dose, DoseSchedule, ScheduleStatus
    from shifa.audit.context import audit_context
    from shifa.audit.models import AuditEvent

    schedules = list(
        DoseSchedule.unscoped.filter(clinic_id__in=clinic_ids, status=ScheduleStatus.ACTIVE)
        .order_by("pk")
        .values_list("pk", "patient_id", "clinic_id")[: 2 * PROFILE_BATCH]
    )
    # after the run's doses, and in the past: due now, and nothing else is
    first, second = due + dt.timedelta(seconds=1), due + dt.timedelta(seconds=2)
    Dose.unscoped.bulk_create(
        Dose(clinic_id=c, schedule_id=pk, patient_id=p, due_at=first if n < PROFILE_BATCH else second)
        for n, (pk, p, c) in enumerate(schedules)
    )
    _warm()
    audit_rows = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    with audit_context(source=JOB_SOURCE):
        cpu, backend_cpu = resource.getrusage(resource.RUSAGE_SELF), _cpu_of(backend)
        start = time.perf_counter()
        plain = doses_dispatch(now=first, batch=PROFILE_BATCH)
        plain_s = time.perf_counter() - start
        used, backend_used = resource.getrusage(resource.RUSAGE_SELF), _cpu_of(backend)
        profiler = cProfile.Profile()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            profiler.enable()
            profiled = doses_dispatch(now=second, batch=PROFILE_BATCH)
            profiler.disable()
            profiled_s = time.perf_counter() - start
    audit_rows = (AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0) - audit_rows
    stats = pstats.Stats(profiler)
    cumulative = {}
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        key = f"{filename.rsplit('/site-packages/', 1)[-1].rsplit('/src/', 1)[-1]}:{function}"
        cumulative[key] = max(cumulative.get(key, 0.0), ct)

    def cum(suffix: str) -> float:
        return sum(v for k, v in cumulative.items() if k.endswith(suffix))

    kinds = Counter()
    sql_s = Counter()
    for query in captured.captured_queries:
        text = " ".join(query["sql"].split())
        body = text.split("; ", 1)[1] if text.startswith("SELECT set_config") and "; " in text else text
        label = _kind(body)
        kinds[label] += 1
        sql_s[label] += float(query["time"])
    total_sql = sum(sql_s.values())
    top = sorted(cumulative.items(), key=lambda kv: kv[1], reverse=True)
    return {
        "doses": plain,
        "ms_per_dose": rounded(plain_s * 1000 / max(plain, 1)),
        "python_cpu_ms_per_dose": rounded(
            (used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime) * 1000 / max(plain, 1)
        ),
        "backend_cpu_ms_per_dose": rounded((backend_used - backend_cpu) * 1000 / max(plain, 1))
        if backend_cpu is not None and backend_used is not None
        else None,
        "profiled_doses": profiled,
        "profiled_ms_per_dose": rounded(profiled_s * 1000 / max(profiled, 1)),
        "queries_per_dose": rounded(len(captured.captured_queries) / max(profiled, 1), 3),
        "audit_rows_per_dose": rounded(audit_rows / max(plain + profiled, 1), 1),
        "sql_share": rounded(total_sql / profiled_s, 3),
        "queries": {
            k: {"count": kinds[k], "ms_per_dose": rounded(sql_s[k] * 1000 / profiled, 3)} for k in kinds
        },
        "shares": {
            "notify": rounded(cum("notifications/actions.py:notify") / profiled_s, 3),
            "notify_many": rounded(cum("notifications/actions.py:notify_many") / profiled_s, 3),
            "objects.create": rounded(cum("django/db/models/query.py:create") / profiled_s, 3),
            "job deferral": rounded(
                (cum("procrastinate/tasks.py:defer") + cum("procrastinate/tasks.py:batch_defer"))
                / profiled_s,
                3,
            ),
            "bulk_create": rounded(cum("django/db/models/query.py:bulk_create") / profiled_s, 3),
            ".first()": rounded(cum("django/db/models/query.py:first") / profiled_s, 3),
            "render (templates)": rounded(cum("notifications/actions.py:_render") / profiled_s, 3),
            "SQL round trips (captured)": rounded(total_sql / profiled_s, 3),
        },
        "top_cumulative": [(k, rounded(v, 3)) for k, v in top[:25]],
    }


def _kind(sql: str) -> str:
    """A short name for one statement of the dispatch: its verb and first table."""
    import re

    verb = sql.split(" ", 1)[0].upper()
    if "SAVEPOINT" in sql[:30]:
        return "savepoint / release"
    if "procrastinate_defer" in sql:
        return "defer delivery job"
    if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return verb.lower()
    table = re.search(r'(?:FROM|INTO|UPDATE) "?([a-z_]+)"?', sql)
    name = table.group(1) if table else "?"
    labels = {
        ("SELECT", "adherence_dose"): "lock a batch of due doses",
        ("UPDATE", "adherence_dose"): "mark the batch sent",
        ("SELECT", "notifications_notification"): "look up the notification by key",
        ("INSERT", "notifications_notification"): "insert notification",
        ("INSERT", "notifications_delivery"): "insert delivery",
        ("SELECT", "notifications_preference"): "read the preference",
    }
    return labels.get((verb, name), f"{verb.lower()} {name}")


# --- the run -----------------------------------------------------------------------------------------------------------


def run(size: Size, workers: int = WORKERS) -> dict:
    found = ensure(size)
    clinic_ids = found["clinic_ids"]
    leftovers = _clear_leftovers(clinic_ids)
    if any(leftovers.values()):
        log(f"cleared what earlier runs left: {leftovers}")
    lead = 20.0 if size.doses <= 20_000 else 60.0
    log(
        f"writing {size.doses:,} doses (one per schedule), then moving them to a minute at least {lead:.0f} s ahead"
    )
    due, setup_steps = _add_doses(clinic_ids, lead)
    log(f"  {setup_steps}; due at {due:%H:%M:%S} UTC")
    host = machine()
    reports, wall = _dispatch(due, workers)
    host = measured(host)
    log(f"dispatchers done {wall:.1f} s after the doses' time; checking")

    due_epoch = due.timestamp()
    committed = Counter()
    commit_at: dict[int, float] = {}
    batches = 0
    for report in reports:
        for at, ids in report["commits"]:
            batches += 1
            for pk in ids:
                committed[pk] += 1
                commit_at[pk] = min(commit_at.get(pk, at), at)
    outcome = _outcome(due, clinic_ids)
    doses = outcome["doses"]
    due_count = len(doses)
    sent = [row for row in doses if row[1] == "sent"]
    still_due = [row for row in doses if row[1] == "due"]
    other_status = Counter(row[1] for row in doses if row[1] not in ("sent", "due"))
    without_notification = [row for row in sent if row[3] == 0]
    wrong_recipient = [row for row in doses if row[3] != row[4]]
    notified_twice = [row for row in doses if row[3] > 1]
    committed_twice = [pk for pk, times in committed.items() if times > 1]
    not_seen_committing = [row for row in sent if row[0] not in commit_at]
    sent_at_values = Counter(row[2] for row in sent)
    lost = len(still_due) + len(without_notification) + sum(other_status.values())
    duplicated = len({row[0] for row in notified_twice} | set(committed_twice))

    delays = sorted(commit_at[row[0]] - due_epoch for row in sent if row[0] in commit_at)
    note_delays = sorted(row[5].timestamp() - due_epoch for row in sent if row[5] is not None)
    within = sum(1 for d in delays if d <= TARGET_S)
    last_commit = max(delays) if delays else None
    first_start = min(r["started"] for r in reports) - due_epoch
    throughput = len(delays) / last_commit if last_commit else 0.0
    jobs_rows = outcome["deliveries"]
    delivery_jobs = sum(int(r[3]) for r in jobs_rows)
    waiting = [r for r in jobs_rows if r[1] in ("pending", "deferred")]
    jobs_missing = sum(int(r[4]) for r in waiting)
    jobs_duplicated = sum(int(r[5]) for r in jobs_rows)
    jobs_unexpected = sum(int(r[3]) for r in jobs_rows if r[1] not in ("pending", "deferred"))
    job_rows = int(jobs_rows[0][6]) if jobs_rows else 0
    # how far Dose.sent_at is from the commit that marked the dose sent (it is the call's `now` in some versions)
    sent_at_gaps = sorted(
        commit_at[row[0]] - row[2].timestamp() for row in sent if row[0] in commit_at and row[2] is not None
    )
    calls_now = {dt.datetime.fromisoformat(r["now"]) for r in reports}

    log("where the time goes: two batches of 500 fresh doses dispatched in this process")
    cost = _profile(clinic_ids, due)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM procrastinate_jobs WHERE task_name LIKE 'notifications.deliver%' AND status = 'todo'"
        )
        deleted_jobs = cursor.rowcount

    per_worker = [
        {
            "worker": r["worker"],
            "dispatched": r["dispatched"],
            "batches": len(r["commits"]),
            "started_after_s": rounded(r["started"] - due_epoch, 3),
            "finished_after_s": rounded(r["ended"] - due_epoch, 2),
            "now_given": r["now"],
            "python_cpu_s": rounded(r["python_cpu_s"], 1),
            "backend_cpu_s": rounded(r["backend_cpu_s"], 1) if r["backend_cpu_s"] is not None else None,
        }
        for r in reports
    ]
    python_cpu = sum(r["python_cpu_s"] for r in reports)
    backends = [r["backend_cpu_s"] for r in reports]
    backend_cpu = sum(backends) if None not in backends else None
    busy, available = reports[0]["machine_busy_cpu_s"], reports[0]["machine_cpu_s"]
    cpu = {
        "window_s": rounded(max(r["ended"] for r in reports) - due_epoch, 1),
        "machine_cpu_s": rounded(available, 1),
        "machine_busy_cpu_s": rounded(busy, 1),
        "dispatchers_cpu_s": rounded(python_cpu, 1),
        "their_backends_cpu_s": rounded(backend_cpu, 1) if backend_cpu is not None else None,
        "everything_else_cpu_s": rounded(busy - python_cpu - (backend_cpu or 0), 1),
        "dispatchers_ms_per_dose": rounded(python_cpu * 1000 / max(len(sent), 1)),
        "backends_ms_per_dose": rounded(backend_cpu * 1000 / max(len(sent), 1))
        if backend_cpu is not None
        else None,
    }
    figures_out = {
        "due": due_count,
        "dispatched": len(sent),
        "lost": lost,
        "duplicated": duplicated,
        "max_delay_s": rounded(last_commit, 2) if last_commit is not None else None,
        "p50_delay_s": rounded(percentile(delays, 50), 2) if delays else None,
        "p95_delay_s": rounded(percentile(delays, 95), 2) if delays else None,
        "within_60s": within,
        "within_60s_share": rounded(within / due_count, 4) if due_count else None,
        "throughput_per_s": rounded(throughput, 1),
        "workers": workers,
        "batches": batches,
        "batch_size": _batch_size(),
        "first_call_after_s": rounded(first_start, 3),
        "notification_max_delay_s": rounded(max(note_delays), 2) if note_delays else None,
        "notification_p50_delay_s": rounded(percentile(note_delays, 50), 2) if note_delays else None,
        "still_due": len(still_due),
        "other_status": dict(other_status),
        "sent_without_notification": len(without_notification),
        "notification_for_another_recipient": len(wrong_recipient),
        "notified_twice": len(notified_twice),
        "committed_sent_twice": len(committed_twice),
        "sent_not_seen_committing": len(not_seen_committing),
        "notifications_without_two_deliveries": outcome["notifications_without_two_deliveries"],
        "deliveries": [
            {"channel": r[0], "status": r[1], "count": r[2], "jobs": int(r[3])} for r in outcome["deliveries"]
        ],
        "delivery_jobs": delivery_jobs,
        "delivery_jobs_missing": jobs_missing,
        "delivery_jobs_duplicated": jobs_duplicated,
        "delivery_jobs_for_deliveries_not_waiting": jobs_unexpected,
        "delivery_jobs_deleted_after": deleted_jobs,
        "distinct_sent_at": len(sent_at_values),
        "sent_at_is_the_calls_now": bool(sent_at_values) and set(sent_at_values) <= calls_now,
        "sent_at_before_commit_max_s": rounded(max(sent_at_gaps), 2) if sent_at_gaps else None,
        "delivery_job_rows": job_rows,
        "per_worker": per_worker,
        "setup_s": setup_steps,
        "cpu": cpu,
        "cost": cost,
        "target_s": TARGET_S,
    }
    ok = (
        due_count == size.doses
        and lost == 0
        and duplicated == 0
        and last_commit is not None
        and last_commit <= TARGET_S
        and jobs_missing == 0
        and jobs_duplicated == 0
    )
    figures_out["target_met"] = ok
    _append(size, found, host, figures_out, workers)
    return {
        "due": figures_out["due"],
        "dispatched": figures_out["dispatched"],
        "lost": figures_out["lost"],
        "duplicated": figures_out["duplicated"],
        "max_delay_s": figures_out["max_delay_s"],
        "p50_delay_s": figures_out["p50_delay_s"],
        "p95_delay_s": figures_out["p95_delay_s"],
        "within_60s": within,
        "throughput_per_s": figures_out["throughput_per_s"],
        "workers": workers,
        "target_met": ok,
        "reminders": figures_out,
        "dataset": figures(found),
        "machine": host,
    }


def _batch_size() -> int:
    from shifa.adherence.actions import DISPATCH_BATCH

    return DISPATCH_BATCH


def _append(size: Size, found: dict, host: dict, f: dict, workers: int) -> None:
    cost = f["cost"]
    queries = sorted(cost["queries"].items(), key=lambda kv: kv[1]["ms_per_dose"], reverse=True)
    workers_text = "; ".join(
        f"#{w['worker']}: {w['dispatched']:,} doses in {w['batches']} batches, started {w['started_after_s']} s "
        f"after T, done {w['finished_after_s']} s after"
        for w in f["per_worker"]
    )
    max_delay = f["max_delay_s"]
    append_section(
        f"reminders ({size.name} data set)",
        [
            machine_line(host),
            describe(found),
            "",
            f"{f['due']:,} doses due at the same minute T (one per prescription line, for {found['patients']:,} "
            f"patients), dispatched from T by {workers} processes, each with its own connection, calling "
            f"`adherence.actions.doses_dispatch(now=<its start>)` (batches of {f['batch_size']}, in the audit "
            f"context of the job) as {workers} procrastinate workers would. Delay: from T to the wall-clock commit "
            f"of the batch that marked the dose sent (the notification's `created_at`, written just before in the "
            f"same transaction, as a check). Per dispatcher: {workers_text}.",
            "",
            *table(
                [
                    ("doses due", f"{f['due']:,}", f"{size.doses:,}: {verdict(f['due'] == size.doses)}"),
                    ("dispatched (sent, with their notification)", f"{f['dispatched']:,}", ""),
                    (
                        "lost (still due, or sent without a notification)",
                        str(f["lost"]),
                        f"0: {verdict(f['lost'] == 0)}",
                    ),
                    (
                        "duplicated (two notifications, or marked sent by two batches)",
                        str(f["duplicated"]),
                        f"0: {verdict(f['duplicated'] == 0)}",
                    ),
                    (
                        "delay max (commit)",
                        f"{max_delay} s",
                        f"≤ {TARGET_S:g} s: {verdict(max_delay is not None and max_delay <= TARGET_S)}",
                    ),
                    ("delay p50 / p95 (commit)", f"{f['p50_delay_s']} / {f['p95_delay_s']} s", ""),
                    (
                        "reminded within 60 s",
                        f"{f['within_60s']:,} ({100 * (f['within_60s_share'] or 0):.1f} %)",
                        "",
                    ),
                    (
                        "delay max / p50 (notification created_at)",
                        f"{f['notification_max_delay_s']} / {f['notification_p50_delay_s']} s",
                        "",
                    ),
                    ("throughput", f"{f['throughput_per_s']} doses/s", ""),
                    ("committed batches", str(f["batches"]), ""),
                    (
                        "CPU from T until the last dispatcher finished",
                        f"{f['cpu']['machine_busy_cpu_s']} of {f['cpu']['machine_cpu_s']} CPU-s busy: dispatchers "
                        f"{f['cpu']['dispatchers_cpu_s']} s ({f['cpu']['dispatchers_ms_per_dose']} ms per dose), "
                        f"their PostgreSQL backends {f['cpu']['their_backends_cpu_s']} s "
                        f"({f['cpu']['backends_ms_per_dose']} ms per dose), everything else "
                        f"{f['cpu']['everything_else_cpu_s']} s",
                        "",
                    ),
                    (
                        "deliveries waiting, each named by exactly one delivery job",
                        f"{f['delivery_jobs']:,} in {f['delivery_job_rows']:,} jobs",
                        f"missing {f['delivery_jobs_missing']}, duplicated {f['delivery_jobs_duplicated']}: "
                        f"{verdict(f['delivery_jobs_missing'] == 0 and f['delivery_jobs_duplicated'] == 0)}",
                    ),
                    (
                        "`Dose.sent_at`: distinct values; most before the commit",
                        f"{f['distinct_sent_at']:,}; {f['sent_at_before_commit_max_s']} s",
                        "the `now` each call was given, not the time sent"
                        if f["sent_at_is_the_calls_now"]
                        else "",
                    ),
                ]
            ),
            "",
            f"Where the time goes (a batch of {PROFILE_BATCH} fresh doses dispatched alone in the benchmark "
            f"process): {cost['ms_per_dose']} ms per dose, of which {cost['python_cpu_ms_per_dose']} ms CPU in "
            f"Python and {cost['backend_cpu_ms_per_dose']} ms CPU in its PostgreSQL backend; under cProfile with "
            f"the SQL captured "
            f"{cost['profiled_ms_per_dose']} ms per dose, {cost['queries_per_dose']} SQL statements and "
            f"{cost['audit_rows_per_dose']} audit rows per dose, "
            f"{100 * cost['sql_share']:.0f} % of the time in SQL round trips; shares of the time: "
            + ", ".join(f"{k} {100 * v:.0f} %" for k, v in cost["shares"].items() if v >= 0.005)
            + ". Statements per dose (count in the batch, ms per dose): "
            + "; ".join(f"{k} {v['count']} ({v['ms_per_dose']} ms)" for k, v in queries)
            + ".",
        ],
    )
