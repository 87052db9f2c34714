"""A realistic mix over the HTTP API of a real server process (``shifa run``), for a fixed time: many patients and
staff at once, no think time.

Each virtual user is one patient who signs in (``people.patient_users``) and one doctor of a clinic of the booking
data set (a different doctor per user, one with a free office slot in the coming days), each with their own
bearer token (the doctor's with the second factor passed, as staff routes demand). Before the run, each patient
gets an open visit with their doctor's clinic (so that the clinic cares for them and reads their chart, as during
a consultation: ``records.policies.has_encounter``) and a conversation with it, written directly.

The load generator is another process (``load_client.py``: one asyncio loop, one ``httpx.AsyncClient``) so that
its CPU is not the server's nor this process's; the flows and their weights are there. The unread-notice jobs
the messages defer are deleted afterwards, as no worker runs them here.

Targets: ≥ 400 requests/s overall with p95 ≤ 100 ms and no errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys

from django.db import connection, transaction

from . import dataset, people, server
from .load_client import EXPECTED, WEIGHTS
from .runtime import ROOT, append_section, log, machine, machine_line, measured, verdict

TARGET_RPS = 400.0
TARGET_P95_MS = 100.0
DEFAULT_USERS = 64
DURATION_S = {"full": 120.0, "quick": 30.0}
WARMUP_S = 5.0
SEED = 20261127
SEARCH_RADIUS_KM = 10.0
#: Booked, confirmed and cancelled slots lie this many days ahead or more (past any clinic's cancel cut-off).
BOOK_FROM_DAYS = 3
BOOK_WINDOW_DAYS = 7
NOTIFY_TASK = "telehealth.notify_unread"
#: A virtual user with no think time stands for many people: at the target rate each would search about twice a
#: second, far past one person's limit (60 a minute) and one address's (180), so the server runs with both lifted.
#: The limits themselves are tested in tests/security/test_rate_limits.py.
LIFTED_LIMITS = {"SHIFA_SEARCHES_PER_MINUTE": "1000000", "SHIFA_SEARCHES_PER_MINUTE_FROM_ADDRESS": "1000000"}


def _doctors(count: int, first_day: dt.date) -> list:
    """``count`` doctor memberships of benchmark clinics (doctors 0, 1, 2, … of the data set: one per clinic until
    every clinic has one) whose office calendar has a free slot in the booking window."""
    from shifa.access import catalog
    from shifa.scheduling.queries import doctor_slots
    from shifa.tenancy.models import Membership

    memberships = (
        Membership.unscoped.filter(
            role__code=catalog.DOCTOR,
            is_active=True,
            user__email__startswith="doctor",
            user__email__endswith=f"@{dataset.EMAIL_DOMAIN}",
        )
        .select_related("user", "clinic")
        .order_by("user__email")
    )
    chosen = []
    for membership in memberships.iterator(chunk_size=200):
        free = doctor_slots(
            clinic=membership.clinic,
            doctor=membership.user,
            visit_type="office",
            first_day=first_day,
            last_day=first_day + dt.timedelta(days=BOOK_WINDOW_DAYS - 1),
        )
        if free:
            chosen.append(membership)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(
        f"only {len(chosen)} doctors of the data set have a free office slot: fewer users, please"
    )


def _encounters(pairs: list[tuple]) -> dict:
    """For each (membership, patient user): an open visit of the patient with the doctor at the clinic and a
    conversation with the clinic, made when missing; the conversations' external ids, by patient user."""
    from shifa.core import timezones
    from shifa.records.models import Origin, Visit
    from shifa.telehealth.models import Conversation

    now = timezones.now()
    conversations = {}
    with transaction.atomic():
        for membership, user in pairs:
            patient = user.patient
            open_visit = Visit.unscoped.filter(clinic=membership.clinic, patient=patient, is_committed=False)
            if not open_visit.exists():
                Visit.unscoped.create(
                    clinic=membership.clinic,
                    patient=patient,
                    doctor=membership.user,
                    origin=Origin.WALK_IN,
                    started_at=now,
                    created_by=membership.user,
                )
            conversation, _made = Conversation.unscoped.get_or_create(
                clinic=membership.clinic, patient=patient, defaults={"started_by": user}
            )
            conversations[user.pk] = str(conversation.external_id)
    return conversations


def _searches(today: dt.date) -> list[dict]:
    """What patients search for: a common specialty, 10 km around Amman, a day in the coming week, office visits."""
    from .search import _common_specialties

    lat, lng = dataset.AMMAN
    return [
        {
            "specialty": specialty,
            "latitude": lat,
            "longitude": lng,
            "radius_km": SEARCH_RADIUS_KM,
            "date": (today + dt.timedelta(days=ahead)).isoformat(),
            "visit_type": "office",
        }
        for specialty in _common_specialties(4)
        for ahead in range(1, 8)
    ]


def _plan(base: str, users: list[dict], searches: list[dict], duration: float, warmup: float) -> dict:
    """What the load generator gets; tokens are issued here, right before it starts (they live five minutes)."""
    from shifa.accounts.actions import token_pair_issue

    def pair(user, mfa: bool) -> dict:
        issued = token_pair_issue(user=user, name="mixed_load benchmark", mfa=mfa)
        return {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"]}

    return {
        "base": base,
        "duration_s": duration,
        "warmup_s": warmup,
        "seed": SEED,
        "searches": searches,
        "users": [
            {k: v for k, v in u.items() if k not in {"patient_user", "doctor_user"}}
            | {"index": n, "patient": pair(u["patient_user"], False), "staff": pair(u["doctor_user"], True)}
            for n, u in enumerate(users)
        ],
    }


def drive(plan: dict, processes: int = 1) -> dict:
    """Run the load generator on ``plan`` in ``processes`` processes side by side, the users dealt among them in
    turn; their figures merged."""
    from .load_client import merge

    started = []
    for k in range(processes):
        part = plan | {"users": plan["users"][k::processes]}
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.load_client"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((child, json.dumps(part)))
    parts = []
    for child, text in started:
        out, err = child.communicate(text, timeout=plan["warmup_s"] + plan["duration_s"] + 120)
        if child.returncode != 0:
            raise RuntimeError(f"the load generator failed ({child.returncode}):\n{err[-3000:]}")
        parts.append(json.loads(out.strip().splitlines()[-1]))
    return merge(parts)


def _delete_jobs() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM procrastinate_jobs WHERE task_name = %s AND status = 'todo'", [NOTIFY_TASK]
        )
        return cursor.rowcount


def report_rows(figures: dict) -> list[str]:
    """The Markdown table of a run: overall, then each operation."""

    def ms(value) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    rows = [
        "| operation | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for op, f in figures["per_operation"].items():
        rows.append(
            f"| {op} | {f['count']:,} | {f['rps']} | {ms(f['p50_ms'])} | {ms(f['p95_ms'])} | "
            f"{ms(f['p99_ms'])} | {f['errors']} |"
        )
    rows.append(
        f"| **all** | {figures['requests']:,} | {figures['rps']} | {ms(figures['p50_ms'])} | "
        f"{ms(figures['p95_ms'])} | {ms(figures['p99_ms'])} | {figures['errors']} |"
    )
    return rows


def run(
    size: dataset.Size,
    *,
    users: int = DEFAULT_USERS,
    duration: float | None = None,
    processes: int = 1,
    server_processes: int = 2,
) -> dict:
    from shifa.core import timezones
    from shifa.directory.models import Service

    duration = duration or DURATION_S[size.name]
    found = dataset.ensure(size, listings=False)
    if found["listings_at"] is None:
        dataset.build_listings()
        found = dataset.marker() | {"reused": True}
    today = timezones.to_local(timezones.now(), dataset.ZONE).date()
    first_day = today + dt.timedelta(days=BOOK_FROM_DAYS)
    doctors = _doctors(users, first_day)
    patients = people.patient_users(users)
    conversations = _encounters(list(zip(doctors, patients, strict=True)))
    services = {}
    for membership in doctors:
        if membership.clinic_id not in services:
            service = (
                Service.objects.for_clinic(membership.clinic).filter(is_active=True).order_by("pk").first()
            )
            services[membership.clinic_id] = str(service.external_id) if service else None
    virtual = [
        {
            "patient_user": user,
            "doctor_user": membership.user,
            "clinic": str(membership.clinic.external_id),
            "doctor": str(membership.user.external_id),
            "service": services[membership.clinic_id],
            "patient_id": str(user.patient.external_id),
            "conversation": conversations[user.pk],
            "slots_window": {"start": first_day.isoformat(), "days": BOOK_WINDOW_DAYS},
        }
        for membership, user in zip(doctors, patients, strict=True)
    ]
    searches = _searches(today)
    log(
        f"{users} virtual users (a patient and a doctor each) over {len({d.clinic_id for d in doctors})} clinics"
    )
    with contextlib.ExitStack() as stack:
        env = dict(LIFTED_LIMITS, SHIFA_WEB_PROCESSES=str(server_processes))
        if server_processes > 1:  # the processes meet in Redis, as in production
            from tests.support.redis_server import RedisServer

            redis_server = RedisServer().start()
            stack.callback(redis_server.stop)
            env["REDIS_URL"] = redis_server.url
        running = stack.enter_context(server.running(env=env))
        plan = _plan(running.base, virtual, searches, duration, WARMUP_S)
        host = machine()
        log(f"load for {WARMUP_S:g} s untimed, then {duration:g} s measured")
        figures = drive(plan, processes)
        server_errors = running.errors()
        if server_errors:
            running.keep_log = True
            log(f"the server logged errors (log kept in {running.log_file}):\n" + "\n".join(server_errors))
    jobs = _delete_jobs()
    host = measured(host)
    ok = figures["rps"] >= TARGET_RPS and (figures["p95_ms"] or 0) <= TARGET_P95_MS and figures["errors"] == 0
    figures |= {
        "server_log_errors": server_errors,
        "jobs_deleted": jobs,
        "as_expected": ok,
        "server_processes": server_processes,
    }
    rows = report_rows(figures)
    print("\n".join(rows), flush=True)
    errors_text = ", ".join(f"{k}: {n}" for k, n in figures["errors_by"].items()) or "none"
    append_section(
        f"mixed_load ({size.name} data set)",
        [
            machine_line(host),
            dataset.describe(found),
            "",
            f"{users} virtual users, each a patient and a doctor of their clinic with their own bearer tokens, "
            f"no think time, against `shifa run` ({server_processes} web process(es)"
            f"{' sharing a local Redis' if server_processes > 1 else ''}; no in-process job worker); the load "
            f"generator: "
            f"{processes} asyncio process(es) (httpx, {figures['loop']}) that used "
            f"{figures['client_cpu_share']:.0%} of a core in all. "
            f"{WARMUP_S:g} s untimed, then {figures['duration_s']} s measured; search rate limits lifted (each "
            f"virtual user stands for many people). Flows (per cent): "
            + ", ".join(f"{op} {w}" for op, w in WEIGHTS.items())
            + " (book_cancel: hold, confirm, cancel — three requests). "
            f"Errors (operation status: count): {errors_text}.",
            "",
            *rows,
            "",
            f"Targets: ≥ {TARGET_RPS:g} req/s: {verdict(figures['rps'] >= TARGET_RPS)}; p95 ≤ {TARGET_P95_MS:g} ms: "
            f"{verdict((figures['p95_ms'] or 0) <= TARGET_P95_MS)}; no errors: {verdict(figures['errors'] == 0)}.",
        ],
    )
    top = {k: figures[k] for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "errors", "per_operation")}
    detail = {k: v for k, v in figures.items() if k not in top}
    return top | {
        "mixed_load": detail | {"expected_status": {k: list(v) for k, v in EXPECTED.items()}},
        "dataset": dataset.figures(found),
        "machine": host,
    }
