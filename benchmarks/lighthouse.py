"""Lighthouse 12.2.3 (Debian's Chromium, mobile emulation, simulated throttling) on four pages of the patient app,
signed in as the demo patient: performance, accessibility and best-practices scores; and whether the app is
installable (Chromium's own check, ``Page.getInstallabilityErrors``, as Lighthouse 12 has no PWA category).

Each page is measured ``RUNS`` times (``SHIFA_LIGHTHOUSE_RUNS`` sets another number) and the run with the median
performance score is reported: simulated throttling scales the CPU time it observes, so other work on the machine
moves a single run's score by a few points.

Lighthouse lives in its own npm folder (``benchmarks/lighthouse/``), installed with ``npm ci`` on first use so that
``make test`` never installs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import httpx

from . import server
from .runtime import ROOT, append_section, log, machine, machine_line, measured

FOLDER = ROOT / "benchmarks" / "lighthouse"
CLI = FOLDER / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"
PATIENT = ("patient1@demo.shifa.jo", "shifa-demo-2026")
CATEGORIES = ("performance", "accessibility", "best-practices")
TARGET = 95
LIGHTHOUSE_TIMEOUT_S = 300
RUNS = int(os.environ.get("SHIFA_LIGHTHOUSE_RUNS", "3"))


def ensure_installed() -> None:
    if not CLI.exists():
        log("installing Lighthouse (npm ci in benchmarks/lighthouse)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FOLDER, check=True, timeout=600)


def sign_in(base: str) -> str:
    """The demo patient's ``sessionid``, from the session sign-in form (with its CSRF token)."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30.0) as client:
        page = client.get("/accounts/sign-in")
        page.raise_for_status()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = client.post(
            "/accounts/sign-in",
            data={"csrfmiddlewaretoken": token, "email": PATIENT[0], "password": PATIENT[1]},
            headers={"Referer": f"{base}/accounts/sign-in"},
        )
        session = client.cookies.get("sessionid")
        if answer.status_code not in (302, 303) or not session:
            raise RuntimeError(f"signing in as {PATIENT[0]} failed: HTTP {answer.status_code}")
        return session


def doctor_profile(base: str, cookie: str) -> str:
    """The first doctor profile the patient search lists."""
    page = httpx.get(f"{base}/app/search", headers={"Cookie": cookie}, timeout=30.0)
    page.raise_for_status()
    found = re.search(r'href="(/app/doctors/[0-9a-f-]{36}/[0-9a-f-]{36})[^"]*"', page.text)
    if not found:
        raise RuntimeError("the patient search lists no doctor profile")
    return found.group(1)


def layout_shifts(trace: dict) -> list[dict]:
    """The layout shifts in a Lighthouse trace, with when (ms after the navigation started) and which boxes moved:
    Lighthouse's own ``layout-shifts`` audit fails on Debian's Chromium, so this is what names the culprits."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    starts = [
        e["ts"]
        for e in events
        if e.get("name") == "navigationStart"
        and (e.get("args") or {}).get("data", {}).get("isLoadingMainFrame")
    ]
    start = min(starts) if starts else 0
    shifts = []
    for event in events:
        if event.get("name") == "LayoutShift":
            data = event["args"]["data"]
            shifts.append(
                {
                    "at_ms": round((event["ts"] - start) / 1000),
                    "score": round(data.get("score", 0), 4),
                    "moved": [(n.get("old_rect"), n.get("new_rect")) for n in data.get("impacted_nodes", [])],
                }
            )
    return shifts


def lighthouse(url: str, cookie: str) -> dict:
    """One Lighthouse run (default mobile emulation and simulated throttling): its JSON report, with the layout
    shifts of its trace under ``shifa_layout_shifts``."""
    with tempfile.TemporaryDirectory(prefix="shifa-lighthouse-") as folder:
        report = Path(folder) / "report.json"
        subprocess.run(
            [
                str(CLI),
                url,
                f"--chrome-path={CHROMIUM}",
                f"--chrome-flags={CHROME_FLAGS}",
                f"--only-categories={','.join(CATEGORIES)}",
                f"--extra-headers={json.dumps({'Cookie': cookie})}",
                "--output=json",
                f"--output-path={report}",
                "--save-assets",
                "--quiet",
            ],
            cwd=FOLDER,
            check=True,
            timeout=LIGHTHOUSE_TIMEOUT_S,
        )
        result = json.loads(report.read_text())
        trace = Path(folder) / "report-0.trace.json"
        result["shifa_layout_shifts"] = layout_shifts(json.loads(trace.read_text())) if trace.exists() else []
        return result


def lighthouse_retried(url: str, cookie: str, attempts: int = 3) -> dict:
    """``lighthouse`` again when a run fails on its own (now and then it loses the trace: ``NO_NAVSTART``)."""
    for attempt in range(1, attempts + 1):
        try:
            report = lighthouse(url, cookie)
        except subprocess.CalledProcessError as error:
            problem = f"exit status {error.returncode}"
        else:
            if not report.get("runtimeError"):
                return report
            problem = str(report["runtimeError"])
        if attempt == attempts:
            raise RuntimeError(f"Lighthouse on {url} failed {attempts} times, last: {problem}")
        log(f"  Lighthouse failed ({problem}), again")
    raise AssertionError("unreachable")


def limits(report: dict, count: int = 3) -> list[str]:
    """What costs points: the ``count`` scored audits (metrics included) of the three categories that lose the
    most points, then the ``count`` failing performance audits behind them (opportunities and diagnostics, ranked
    by the metric savings Lighthouse estimates: milliseconds of LCP, FCP and TBT, CLS counted as 10 s per unit)."""
    audits = report["audits"]
    lost = []
    for category in report["categories"].values():
        total = sum(ref["weight"] for ref in category["auditRefs"]) or 1
        for ref in category["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] and audit.get("score") is not None and audit["score"] < 1:
                points = 100 * ref["weight"] * (1 - audit["score"]) / total
                shown = f" {audit['displayValue']}" if audit.get("displayValue") else ""
                lost.append((points, f"{category['id']}: {audit['title']}{shown} ({points:.1f} points)"))
    behind = []
    for ref in report["categories"]["performance"]["auditRefs"]:
        audit = audits[ref["id"]]
        if ref["weight"] or audit.get("score") is None or audit["score"] >= 0.9:
            continue
        savings = audit.get("metricSavings") or {}
        weight = sum(v for k, v in savings.items() if k != "CLS" and v) + 10_000 * (savings.get("CLS") or 0)
        weight = max(weight, (audit.get("details") or {}).get("overallSavingsMs") or 0)
        if weight > 0:
            shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            saved = ", ".join(f"{k} {v:g}" for k, v in savings.items() if v)
            behind.append((weight, f"{audit['title']}{shown}" + (f" [saves {saved}]" if saved else "")))
    return [text for _, text in sorted(lost, reverse=True)[:count]] + [
        "audit: " + text for _, text in sorted(behind, reverse=True)[:count]
    ]


def installability(base: str, session: str) -> list[str]:
    """Chromium's installability errors for ``/app`` once its service worker is ready (empty: installable)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # A persistent profile: Chromium refuses to install from an incognito (throw-away) context.
        profile = tempfile.TemporaryDirectory(prefix="shifa-lighthouse-profile-")
        context = pw.chromium.launch_persistent_context(
            profile.name, executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(f"{base}/app", wait_until="load")
            page.evaluate(
                "() => Promise.race([navigator.serviceWorker.ready.then(() => true),"
                " new Promise((_, reject) => setTimeout(() => reject(new Error('no service worker')), 20000))])"
            )
            page.reload(wait_until="load")  # now controlled by the service worker, as a returning visitor is
            cdp = context.new_cdp_session(page)
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        finally:
            context.close()
            profile.cleanup()
    return [
        error["errorId"] + "".join(f" {a['name']}={a['value']}" for a in error.get("errorArguments", []))
        for error in errors
    ]


def run() -> dict:
    ensure_installed()
    host = machine()
    version = json.loads((FOLDER / "node_modules" / "lighthouse" / "package.json").read_text())["version"]
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    pages: dict[str, dict] = {}
    notes: dict[str, list[str]] = {}
    shifts: dict[str, list[str]] = {}  # the largest layout shifts of the reported run, from its trace
    failed_audits: dict[str, str] = {}  # audits Lighthouse could not compute, with its error
    with server.running(demo=True) as srv:
        session = sign_in(srv.base)
        cookie = f"sessionid={session}"
        targets = {
            "home": "/app",
            "search": "/app/search",
            "doctor_profile": doctor_profile(srv.base, cookie),
            "my_appointments": "/app/appointments",
        }
        for name, path in targets.items():
            reports = []
            for attempt in range(RUNS):
                log(f"lighthouse {path} (run {attempt + 1} of {RUNS})")
                reports.append(lighthouse_retried(srv.base + path, cookie))
            runs = [round(100 * (r["categories"]["performance"]["score"] or 0)) for r in reports]
            report = sorted(reports, key=lambda r: r["categories"]["performance"]["score"] or 0)[
                len(reports) // 2
            ]
            if report.get("finalDisplayedUrl", "").rstrip("/") != (srv.base + path).rstrip("/"):
                log(f"  warning: {path} ended at {report.get('finalDisplayedUrl')}")
            scores = {c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES}
            pages[name] = {
                "path": path,
                "performance_runs": runs,
                "performance": scores["performance"],
                "accessibility": scores["accessibility"],
                "best_practices": scores["best-practices"],
            }
            notes[name] = limits(report)
            shifts[name] = [
                f"{x['score']:g} at {x['at_ms']} ms ("
                + "; ".join(f"{old} → {new}" for old, new in x["moved"][:3])
                + ")"
                for x in sorted(report["shifa_layout_shifts"], key=lambda x: -x["score"])[:3]
                if x["score"] >= 0.001
            ]
            for key, audit in report["audits"].items():
                if audit.get("scoreDisplayMode") == "error":
                    failed_audits.setdefault(key, (audit.get("errorMessage") or "")[:160])
        errors = installability(srv.base, session)
        server_errors = srv.errors()
    host = measured(host)

    print(f"{'page':<18} {'perf':>5} {'a11y':>5} {'bp':>5}  runs")
    for name, figures in pages.items():
        print(
            f"{name:<18} {figures['performance']:>5} {figures['accessibility']:>5} {figures['best_practices']:>5}"
            f"  {figures['performance_runs']}"
        )
    print(f"installable: {not errors} {errors or ''}")

    def cell(value: int) -> str:
        return str(value) if value >= TARGET else f"**{value}**"

    lines = [
        machine_line(host),
        f"Lighthouse {version} ({chromium}, `{CHROME_FLAGS}`), default mobile emulation and simulated throttling, "
        f"categories performance, accessibility and best practices; {RUNS} runs per page, the run with the median "
        "performance score reported (all runs' performance in the last column), on `shifa run` with the demo "
        "data, signed in as the demo patient (`patient1@demo.shifa.jo`, session cookie sent as an extra header). "
        "Installability: Chromium's `Page.getInstallabilityErrors` on `/app` once its service worker is ready "
        "(Lighthouse 12 has no PWA category).",
        "",
        "| page | path | performance | accessibility | best practices | performance of each run |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | `{f['path']}` | {cell(f['performance'])} | {cell(f['accessibility'])} | "
            f"{cell(f['best_practices'])} | {', '.join(map(str, f['performance_runs']))} |"
            for name, f in pages.items()
        ),
        "",
        f"Target: every score ≥ {TARGET}: "
        + (
            "met."
            if all(
                min(f["performance"], f["accessibility"], f["best_practices"]) >= TARGET
                for f in pages.values()
            )
            else "**missed**."
        )
        + " PWA installable: "
        + ("yes (no installability error)." if not errors else f"**no**: {', '.join(errors)}."),
        "",
        "What costs points (per page, in the median run: the top 3 scored audits by points lost, then the top 3 "
        "failing performance audits behind them by Lighthouse's estimated metric savings):",
        "",
        *(f"- {name}: " + ("; ".join(items) if items else "nothing") for name, items in notes.items()),
        "",
        "Largest layout shifts in the trace of the reported run (score at time after navigation start; the boxes "
        "that moved as [x, y, width, height] in CSS pixels, before → after):",
        "",
        *(f"- {name}: " + ("; ".join(items) if items else "none ≥ 0.001") for name, items in shifts.items()),
    ]
    if failed_audits:
        lines += [
            "",
            "Audits Lighthouse could not compute on this Chromium (so the elements behind the layout shifts and the "
            "largest paint are not named): "
            + "; ".join(f"`{key}` ({error})" for key, error in sorted(failed_audits.items())),
        ]
    if server_errors:
        lines += ["", "Server errors logged: " + " / ".join(f"`{e}`" for e in server_errors)]
    append_section("lighthouse (patient app, demo data)", lines)
    return {
        "pages": {
            name: {k: f[k] for k in ("performance", "accessibility", "best_practices", "performance_runs")}
            for name, f in pages.items()
        },
        "installable": not errors,
        "installability_errors": errors,
        "limits": notes,
        "layout_shifts": shifts,
        "machine": host,
    }
