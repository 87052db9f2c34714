"""The load generator of ``mixed_load``, in its own process: ``python -m benchmarks.load_client`` reads a plan
(JSON, on stdin) made by ``mixed_load.py`` and prints one JSON object on stdout: every timed request's
milliseconds by operation and the errors, which ``merge`` turns into the figures (of one process or several).

It imports no Django: one asyncio loop (uvloop when installed) and one ``httpx.AsyncClient`` with a keep-alive
connection per virtual user. Each virtual user is a patient of a clinic and a doctor of that clinic (each with
their own bearer token) and loops with no think time: it draws a flow by ``WEIGHTS`` and runs it with whichever of
its two identities the flow belongs to. A flow is one request, except ``book_cancel``: hold a slot
(``POST /appointments``), confirm it, cancel it — three requests, each timed under its own name. Requests answered
with another status than the one expected, or not answered, are errors (by operation and status). Access tokens
live five minutes: each identity spends its refresh token after four, untimed and outside the figures.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx

from .runtime import percentile, rounded

API = "/api/v1"
#: The flows and their share of the mix (per cent).
WEIGHTS = {"search": 30, "slots": 20, "chart": 15, "message": 10, "vital": 10, "book_cancel": 15}
#: The timed requests, and the status each expects.
EXPECTED = {
    "search": (200,),
    "slots": (200,),
    "chart": (200,),
    "message": (200, 201),
    "vital": (201,),
    "book": (201,),
    "confirm": (200,),
    "cancel": (200,),
}
REFRESH_AFTER_S = 240.0
REQUEST_TIMEOUT_S = 30.0


def mix(rng: random.Random, count: int) -> list[str]:
    """``count`` flows drawn by ``WEIGHTS``."""
    return rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count)


@dataclass
class Identity:
    access: str
    refresh: str
    issued: float = field(default_factory=time.monotonic)

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access}", "Accept-Language": "en"}


@dataclass
class Recorder:
    """Every timed request, after the warm-up: (operation, milliseconds) and the errors by operation and status."""

    measuring: bool = False
    samples: dict = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    refreshes: int = 0

    def add(self, op: str, started: float, status: int | str) -> None:
        if not self.measuring:
            return
        self.samples[op].append((time.perf_counter() - started) * 1000)
        if status not in EXPECTED[op]:
            self.errors[(op, str(status))] += 1


class VirtualUser:
    def __init__(self, plan: dict, me: dict, index: int, client: httpx.AsyncClient, recorder: Recorder):
        self.rng = random.Random(plan["seed"] * 1000 + index)
        self.searches = plan["searches"]
        self.me = me
        self.client = client
        self.recorder = recorder
        self.patient = Identity(me["patient"]["access_token"], me["patient"]["refresh_token"])
        self.staff = Identity(me["staff"]["access_token"], me["staff"]["refresh_token"])
        self.free: list[str] = []

    async def _refresh(self, who: Identity) -> None:
        if time.monotonic() - who.issued < REFRESH_AFTER_S:
            return
        response = await self.client.post(f"{API}/auth/tokens/refresh", json={"refresh_token": who.refresh})
        response.raise_for_status()
        body = response.json()
        who.access, who.refresh, who.issued = body["access_token"], body["refresh_token"], time.monotonic()
        self.recorder.refreshes += 1

    async def call(self, op: str, who: Identity, method: str, path: str, **kwargs) -> httpx.Response | None:
        await self._refresh(who)
        headers = who.headers()
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            response = await self.client.request(method, f"{API}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.recorder.add(op, started, type(exc).__name__)
            return None
        self.recorder.add(op, started, response.status_code)
        return response if response.status_code in EXPECTED[op] else None

    # --- the flows ---------------------------------------------------------------------------------------------

    async def search(self) -> None:
        await self.call(
            "search", self.patient, "GET", "/search/doctors", params=self.rng.choice(self.searches)
        )

    async def slots(self) -> None:
        me = self.me
        params = {"clinic": me["clinic"], "doctor": me["doctor"], "visit_type": "office"}
        response = await self.call("slots", self.patient, "GET", "/slots", params=params | me["slots_window"])
        if response is not None:
            self.free = [slot["starts_at"] for slot in response.json()["slots"]]

    async def chart(self) -> None:
        await self.call(
            "chart", self.staff, "GET", f"/clinics/{self.me['clinic']}/patients/{self.me['patient_id']}/chart"
        )

    async def message(self) -> None:
        me = self.me
        body = {"body": f"Benchmark message {self.rng.randrange(10**9)}", "client_id": str(uuid.uuid4())}
        if self.rng.random() < 0.5:
            await self.call(
                "message", self.patient, "POST", f"/me/conversations/{me['conversation']}/messages", json=body
            )
        else:
            path = f"/clinics/{me['clinic']}/conversations/{me['conversation']}/messages"
            await self.call("message", self.staff, "POST", path, json=body)

    async def vital(self) -> None:
        """A blood pressure taken at home by the patient, or a heart rate taken by the doctor's side."""
        if self.rng.random() < 0.5:
            readings = {"8480-6": self.rng.randint(105, 150), "8462-4": self.rng.randint(65, 95)}
            await self.call("vital", self.patient, "POST", "/me/readings", json={"readings": readings})
        else:
            path = f"/clinics/{self.me['clinic']}/patients/{self.me['patient_id']}/vitals"
            await self.call(
                "vital", self.staff, "POST", path, json={"readings": {"8867-4": self.rng.randint(55, 110)}}
            )

    async def book_cancel(self) -> None:
        if not self.free:
            await self.slots()
            if not self.free:
                return
        me = self.me
        payload = {
            "clinic_id": me["clinic"],
            "doctor_id": me["doctor"],
            "visit_type": "office",
            "starts_at": self.rng.choice(self.free),
            "service_id": me["service"],
        }
        held = await self.call("book", self.patient, "POST", "/appointments", json=payload)
        if held is None:
            self.free = []  # taken or gone: ask again next time
            return
        appointment = held.json()["id"]
        await self.call("confirm", self.patient, "POST", f"/appointments/{appointment}/confirm")
        await self.call(
            "cancel", self.patient, "POST", f"/appointments/{appointment}/cancel", json={"reason": ""}
        )

    async def loop(self, until: float) -> None:
        while time.perf_counter() < until:
            await getattr(self, mix(self.rng, 1)[0])()


def summary(samples: dict[str, list[float]], errors: Counter, seconds: float) -> dict:
    """The figures of a run: overall and per operation (count, req/s, p50/p95/p99 in ms, errors), and the errors
    by ``"operation status"``."""

    def stats(values: list[float], failed: int) -> dict:
        out = {"count": len(values), "rps": rounded(len(values) / seconds, 1) if seconds else 0.0}
        for p in (50, 95, 99):
            out[f"p{p}_ms"] = rounded(percentile(sorted(values), p), 1) if values else None
        return out | {"errors": failed}

    failed = Counter()
    for (op, _status), count in errors.items():
        failed[op] += count
    every = [ms for values in samples.values() for ms in values]
    overall = stats(every, sum(errors.values()))
    return {
        "rps": overall["rps"],
        "requests": overall["count"],
        "p50_ms": overall["p50_ms"],
        "p95_ms": overall["p95_ms"],
        "p99_ms": overall["p99_ms"],
        "errors": overall["errors"],
        "errors_by": {f"{op} {status}": n for (op, status), n in sorted(errors.items())},
        "per_operation": {op: stats(samples.get(op, []), failed[op]) for op in EXPECTED if op in samples},
        "duration_s": rounded(seconds, 1),
    }


async def drive(plan: dict) -> dict:
    """Run the plan's users; the raw figures (every sample, so that several processes' can be merged)."""
    users = plan["users"]
    limits = httpx.Limits(max_connections=len(users) + 4, max_keepalive_connections=len(users) + 4)
    recorder = Recorder()
    async with httpx.AsyncClient(
        base_url=plan["base"], limits=limits, timeout=httpx.Timeout(REQUEST_TIMEOUT_S)
    ) as client:
        virtual = [VirtualUser(plan, me, me.get("index", i), client, recorder) for i, me in enumerate(users)]
        begin = time.perf_counter()
        end = begin + plan["warmup_s"] + plan["duration_s"]
        tasks = [asyncio.create_task(user.loop(end)) for user in virtual]
        await asyncio.sleep(plan["warmup_s"])
        recorder.measuring = True
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return {
        "samples": {op: [round(ms, 3) for ms in values] for op, values in recorder.samples.items()},
        "errors": [[op, status, n] for (op, status), n in recorder.errors.items()],
        "seconds": seconds,
        "users": len(users),
        "token_refreshes": recorder.refreshes,
        "cpu_s": cpu,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def merge(parts: list[dict]) -> dict:
    """The figures of one or more load processes that ran side by side: ``summary`` of their samples together
    over the longest of their measured times, with the client's own cost."""
    samples: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    for part in parts:
        for op, values in part["samples"].items():
            samples[op] += values
        for op, status, n in part["errors"]:
            errors[(op, status)] += n
    seconds = max(part["seconds"] for part in parts)
    cpu = sum(part["cpu_s"] for part in parts)
    return summary(samples, errors, seconds) | {
        "users": sum(part["users"] for part in parts),
        "client_processes": len(parts),
        "token_refreshes": sum(part["token_refreshes"] for part in parts),
        "client_cpu_s": rounded(cpu, 1),
        "client_cpu_share": rounded(cpu / seconds, 2) if seconds else None,
        "client_max_rss_mib": rounded(max(part["max_rss_mib"] for part in parts), 1),
        "loop": parts[0].get("loop", "asyncio"),
    }


def main() -> int:
    plan = json.load(sys.stdin)
    try:
        import uvloop

        runner, loop_name = uvloop.run, "uvloop"
    except ImportError:
        runner, loop_name = asyncio.run, "asyncio"
    raw = runner(drive(plan))
    print(json.dumps(raw | {"loop": loop_name}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
