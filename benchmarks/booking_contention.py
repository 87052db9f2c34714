"""Many patients racing for one slot: 500 concurrent ``POST /api/v1/appointments`` for the same doctor and time,
each from a different patient with their own bearer token, against a real server process (``shifa run``).

Expected: exactly one hold (201), every other request a clean 409 ``slot_taken``, no 5xx, and one appointment
in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter

import httpx

from . import dataset, people, server
from .runtime import (
    append_section,
    log,
    machine,
    machine_line,
    measured,
    percentile,
    rounded,
    table,
    timed,
    verdict,
)

ATTEMPTS = 500
PATH = "/api/v1/appointments"


def _target():
    """A doctor of the first benchmark clinic, and their first free office slot from tomorrow on."""
    from shifa.access import catalog
    from shifa.core import timezones
    from shifa.directory.models import Service
    from shifa.scheduling.queries import doctor_slots
    from shifa.tenancy.models import Clinic, Membership

    clinic = Clinic.objects.get(slug=f"{dataset.SLUG_PREFIX}00000")
    tomorrow = timezones.to_local(timezones.now(), clinic.time_zone).date() + dt.timedelta(days=1)
    memberships = (
        Membership.objects.for_clinic(clinic)
        .filter(role__code=catalog.DOCTOR, is_active=True)
        .select_related("user")
        .order_by("pk")
    )
    for membership in memberships:
        slots = doctor_slots(
            clinic=clinic,
            doctor=membership.user,
            visit_type="office",
            first_day=tomorrow,
            last_day=tomorrow + dt.timedelta(days=6),
        )
        if slots:
            service = Service.objects.for_clinic(clinic).filter(is_active=True).order_by("pk").first()
            return clinic, membership.user, slots[0], service
    raise RuntimeError(f"no doctor of {clinic.slug} has a free office slot in the coming week")


async def _burst(base: str, payload: dict, tokens: list[str]) -> tuple[list[tuple], float]:
    """Send every request at once (all connections opened together, no client-side limit); the answers, in
    order, as (status or None, problem code or error name, milliseconds), and the wall time in seconds."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=httpx.Timeout(600.0)) as client:
        go = asyncio.Event()

        async def attempt(token: str) -> tuple:
            await go.wait()
            started = time.perf_counter()
            try:
                response = await client.post(
                    PATH, json=payload, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}
                )
            except httpx.HTTPError as exc:
                return None, type(exc).__name__, (time.perf_counter() - started) * 1000
            elapsed = (time.perf_counter() - started) * 1000
            code = None
            if response.status_code >= 400:
                with contextlib.suppress(ValueError, AttributeError):
                    code = response.json().get("code")
            return response.status_code, code, elapsed

        tasks = [asyncio.create_task(attempt(token)) for token in tokens]
        await asyncio.sleep(0)  # every task is now waiting for the start
        started = time.perf_counter()
        go.set()
        answers = await asyncio.gather(*tasks)
        return answers, time.perf_counter() - started


def _one_conflict(payload: dict, token: str, repeats: int = 20) -> tuple[float, int, int]:
    """What one refused booking costs when nothing else runs: the median time (ms) of ``repeats`` requests for
    the now taken slot, in this process; the SQL queries of one, and how many of them run while the doctor's
    calendar lock is held (from the advisory lock to the end of the request)."""
    import json

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")
    body = json.dumps(payload)

    def call() -> int:
        return client.post(PATH, body, content_type="application/json").status_code

    if call() != 409:
        raise RuntimeError("the slot should be taken by now")
    times = [timed(call) for _ in range(repeats)]
    with CaptureQueriesContext(connection) as queries:
        call()
    sql = [q["sql"] for q in queries.captured_queries]
    locked_at = next((i for i, text in enumerate(sql) if "pg_advisory_xact_lock" in text), len(sql))
    return percentile(times, 50), len(sql), len(sql) - locked_at


def run(size: dataset.Size, attempts: int = ATTEMPTS) -> dict:
    from shifa.accounts.actions import token_pair_issue
    from shifa.core import timezones
    from shifa.scheduling.models import OCCUPYING, Appointment

    found = dataset.ensure(size, listings=False)
    clinic, doctor, slot, service = _target()
    users = people.patient_users(attempts)
    payload = {
        "clinic_id": str(clinic.external_id),
        "doctor_id": str(doctor.external_id),
        "visit_type": "office",
        "starts_at": timezones.isoformat_z(slot.starts_at),
        "service_id": str(service.external_id) if service else None,
    }
    log(f"{attempts} patients will ask for {payload['starts_at']} with doctor {doctor.pk} at {clinic.slug}")
    with server.running() as running:
        issued = time.perf_counter()
        tokens = [token_pair_issue(user=user, mfa=False)["access_token"] for user in users]
        log(f"{len(tokens)} access tokens issued in {time.perf_counter() - issued:.1f} s")
        host = machine()
        answers, wall = asyncio.run(_burst(running.base, payload, tokens))
        loser = next(i for i, (status, _code, _ms) in enumerate(answers) if status != 201)
        conflict_ms, conflict_queries, queries_in_lock = _one_conflict(payload, tokens[loser])
        errors = running.errors()
        if errors:
            running.keep_log = True
            log(f"the server logged errors (log kept in {running.log_file}):\n" + "\n".join(errors))
    statuses = Counter(status for status, _code, _ms in answers)
    successes = sum(1 for status, _code, _ms in answers if status == 201)
    conflicts = sum(1 for status, code, _ms in answers if status == 409 and code == "slot_taken")
    server_errors = sum(1 for status, _code, _ms in answers if status is not None and status >= 500)
    other = Counter(
        f"{status or 'no answer'} {code or ''}".strip()
        for status, code, _ms in answers
        if not (status == 201 or (status == 409 and code == "slot_taken") or (status or 0) >= 500)
    )
    in_database = Appointment.unscoped.filter(
        doctor=doctor, starts_at=slot.starts_at, status__in=OCCUPYING
    ).count()
    latencies = [ms for _status, _code, ms in answers]
    failed_after = [ms for status, _code, ms in answers if status is not None and status >= 500]
    figures = {
        "attempts": attempts,
        "successes": successes,
        "conflicts": conflicts,
        "server_errors": server_errors,
        "other": dict(other),
        "server_log_errors": errors,
        "appointments_in_database": in_database,
        "wall_s": rounded(wall),
        "latency_p50_ms": rounded(percentile(latencies, 50), 1),
        "latency_p95_ms": rounded(percentile(latencies, 95), 1),
        "latency_max_ms": rounded(max(latencies), 1),
        "first_5xx_after_s": rounded(min(failed_after) / 1000) if failed_after else None,
        "one_conflict_alone_ms": rounded(conflict_ms, 1),
        "one_conflict_queries": conflict_queries,
        "one_conflict_queries_holding_lock": queries_in_lock,
    }
    ok = successes == 1 and conflicts == attempts - 1 and server_errors == 0 and in_database == 1
    figures["as_expected"] = ok
    host = measured(host)
    append_section(
        f"booking_contention ({size.name} data set)",
        [
            machine_line(host),
            dataset.describe(found),
            "",
            f"{attempts} concurrent `POST {PATH}` for the same office slot of one doctor, each from a different "
            f"patient, sent at once (httpx, asyncio) to `shifa run` (one process; no in-process job worker). "
            f"Answers by status: {dict(sorted(statuses.items(), key=lambda kv: str(kv[0])))}.",
            "",
            *table(
                [
                    ("successes (201)", str(successes), f"exactly 1: {verdict(successes == 1)}"),
                    (
                        "clean conflicts (409 slot_taken)",
                        str(conflicts),
                        f"{attempts - 1}: {verdict(conflicts == attempts - 1)}",
                    ),
                    ("server errors (5xx)", str(server_errors), f"0: {verdict(server_errors == 0)}"),
                    (
                        "first 5xx answered after",
                        f"{figures['first_5xx_after_s']} s" if failed_after else "(none)",
                        "",
                    ),
                    ("other answers", str(sum(other.values())), str(dict(other)) if other else ""),
                    ("appointments in the database", str(in_database), f"1: {verdict(in_database == 1)}"),
                    ("wall time of the burst", f"{wall:.2f} s", ""),
                    (
                        "one refused booking alone (median, in-process)",
                        f"{conflict_ms:.1f} ms, {conflict_queries} SQL queries "
                        f"({queries_in_lock} while holding the doctor's lock)",
                        "",
                    ),
                    (
                        "latency p50 / p95 / max",
                        f"{figures['latency_p50_ms']} / "
                        f"{figures['latency_p95_ms']} / {figures['latency_max_ms']} ms",
                        "",
                    ),
                ]
            ),
        ],
    )
    return {"booking_contention": figures, "dataset": dataset.figures(found), "machine": host}
