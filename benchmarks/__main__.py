"""``python -m benchmarks NAME [--quick]``: run one benchmark, append its section to RESULTS.md and print its
figures; the last line of output is one JSON object.

Names:
    search               doctor search p50/p95, and its ratio to the same search in hand-written SQL
    slots                one doctor's free slots over 30 days, p50/p95
    booking_contention   500 concurrent bookings of one slot through the HTTP API of a real server process
    generate             only build (or find) the data set and its search read model
    chart                opening the chart of a patient with 1,000 visits (GET .../patients/{id}/chart), p50/p95
    reminders            100,000 medication doses due in the same minute, reminded by 2 concurrent dispatchers:
                         delay from due to sent, none lost, none twice
    websocket_fanout     2,000 WebSocket connections (500 with --quick) on a real server process, two per
                         conversation: p50/p99 delivery latency of messages to the other member
    mixed_load           a realistic mix over the HTTP API of a real server (search, slots, book and cancel, chart,
                         messages, vitals) by 64 patients and doctors at once for 120 s (30 s with --quick):
                         req/s, p50/p95/p99 per operation, errors
    lighthouse           Lighthouse 12.2.3 (Chromium, mobile) on four patient-app pages of a real server with the demo
                         data: performance, accessibility, best-practices scores; PWA installability

``--no-record`` prints the figures without appending them to RESULTS.md (for trying a benchmark out).

The booking benchmarks (all but ``chart``, ``reminders`` and ``websocket_fanout``) use their own database
(``shifa_bench_booking``, or ``shifa_bench_booking_quick`` with ``--quick``; override with ``SHIFA_DB_NAME``
or ``DATABASE_URL``) on the embedded server unless ``DATABASE_URL`` is set, and generate the data set there on
first use: 1,000 clinics, 10,000 doctors, 1,000,000 appointments, or with ``--quick`` 50 clinics, 500 doctors,
50,000 appointments. ``chart`` uses ``shifa_bench_chart`` (or ``shifa_bench_chart_quick``) the same way: one
clinic, 100 patients (5 with ``--quick``) with 1,000 visits each. ``reminders`` uses ``shifa_bench_reminders``
(or ``shifa_bench_reminders_quick``): 5 clinics, 25,000 patients (2,500 with ``--quick``) with 4 prescription
lines each, one dose per line due in the same minute. ``websocket_fanout`` uses ``shifa_bench_fanout`` (or
``shifa_bench_fanout_quick``): 1,000 conversations (250 with ``--quick``) in clinics of 50, each clinic with a
care team of 10. ``lighthouse`` uses ``shifa_bench_lighthouse`` (with or without ``--quick``), into which the
server loads the demo data.
"""

from __future__ import annotations

import argparse
import json
import sys

NAMES = (
    "search",
    "slots",
    "booking_contention",
    "generate",
    "chart",
    "reminders",
    "websocket_fanout",
    "lighthouse",
    "mixed_load",
)
DATABASES = {"full": "shifa_bench_booking", "quick": "shifa_bench_booking_quick"}
CHART_DATABASES = {"full": "shifa_bench_chart", "quick": "shifa_bench_chart_quick"}
REMINDERS_DATABASES = {"full": "shifa_bench_reminders", "quick": "shifa_bench_reminders_quick"}
FANOUT_DATABASES = {"full": "shifa_bench_fanout", "quick": "shifa_bench_fanout_quick"}
LIGHTHOUSE_DATABASES = {"full": "shifa_bench_lighthouse", "quick": "shifa_bench_lighthouse"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--quick", action="store_true", help="the small data set (a few minutes in all)")
    parser.add_argument("--rounds", type=int, default=300, help="timed calls for search, slots and chart")
    parser.add_argument(
        "--duration", type=float, help="mixed_load: seconds measured (120, or 30 with --quick)"
    )
    parser.add_argument("--users", type=int, default=64, help="mixed_load: virtual users (64)")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="mixed_load: load generator processes (1, as the server)",
    )
    parser.add_argument(
        "--server-processes",
        type=int,
        default=2,
        help="mixed_load: web processes of the server (SHIFA_WEB_PROCESSES, with a private Redis above 1; 2)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append the figures to RESULTS.md")
    args = parser.parse_args(argv)

    from . import runtime
    from .runtime import bootstrap

    runtime.RECORDING = not args.no_record

    size_name = "quick" if args.quick else "full"
    own = {
        "chart": CHART_DATABASES,
        "reminders": REMINDERS_DATABASES,
        "websocket_fanout": FANOUT_DATABASES,
        "lighthouse": LIGHTHOUSE_DATABASES,
    }
    bootstrap(own.get(args.name, DATABASES)[size_name])

    from . import dataset

    size = dataset.QUICK if args.quick else dataset.FULL
    if args.name == "lighthouse":
        from . import lighthouse

        figures = lighthouse.run()
    elif args.name == "mixed_load":
        from . import mixed_load

        figures = mixed_load.run(
            size,
            users=args.users,
            duration=args.duration,
            processes=args.client_processes,
            server_processes=args.server_processes,
        )
    elif args.name == "websocket_fanout":
        from . import websocket_fanout

        figures = websocket_fanout.run(websocket_fanout.QUICK if args.quick else websocket_fanout.FULL)
    elif args.name == "reminders":
        from . import reminders

        figures = reminders.run(reminders.QUICK if args.quick else reminders.FULL)
    elif args.name == "chart":
        from . import chart

        figures = chart.run(chart.QUICK if args.quick else chart.FULL, args.rounds)
    elif args.name == "search":
        from . import search

        figures = search.run(size, args.rounds)
    elif args.name == "slots":
        from . import slots

        figures = slots.run(size, args.rounds)
    elif args.name == "booking_contention":
        from . import booking_contention

        figures = booking_contention.run(size)
    else:
        found = dataset.ensure(size, listings=True)
        figures = {"dataset": dataset.figures(found) | {"steps_s": dict(found["generation"]["steps_s"])}}
    sys.stdout.flush()
    print(json.dumps(figures, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
