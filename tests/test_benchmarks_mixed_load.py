"""The mixed_load benchmark's pieces that need no server: the mix of flows, what counts as an error, and the
figures merged from the load processes (the keys the JSON line promises)."""

import random
import time
from collections import Counter

from benchmarks import load_client
from benchmarks.load_client import EXPECTED, WEIGHTS, Recorder, VirtualUser, merge, mix
from benchmarks.mixed_load import report_rows


def test_the_mix_follows_the_weights_and_every_flow_exists():
    drawn = Counter(mix(random.Random(7), 20_000))
    assert set(drawn) == set(WEIGHTS)
    for flow, weight in WEIGHTS.items():
        assert abs(drawn[flow] / 20_000 * 100 - weight) < 1.5, flow
        assert callable(getattr(VirtualUser, flow))
    assert sum(WEIGHTS.values()) == 100


def test_unexpected_statuses_and_failures_are_errors_only_once_measuring():
    recorder = Recorder()
    recorder.add("book", time.perf_counter(), 409)
    assert not recorder.samples and not recorder.errors  # warm-up
    recorder.measuring = True
    recorder.add("book", time.perf_counter(), 201)
    recorder.add("book", time.perf_counter(), 409)
    recorder.add("message", time.perf_counter(), 200)
    recorder.add("chart", time.perf_counter(), "ReadTimeout")
    assert len(recorder.samples["book"]) == 2
    assert recorder.errors == Counter({("book", "409"): 1, ("chart", "ReadTimeout"): 1})


def test_merged_figures_of_two_processes():
    parts = [
        {
            "samples": {"search": [10.0] * 90 + [200.0] * 10, "book": [30.0, 40.0]},
            "errors": [["book", "409", 1]],
            "seconds": 10.0,
            "users": 2,
            "token_refreshes": 0,
            "cpu_s": 0.5,
            "max_rss_mib": 60.0,
            "loop": "uvloop",
        },
        {
            "samples": {"search": [20.0] * 100},
            "errors": [["search", "500", 2]],
            "seconds": 8.0,
            "users": 2,
            "token_refreshes": 1,
            "cpu_s": 0.5,
            "max_rss_mib": 70.0,
            "loop": "uvloop",
        },
    ]
    figures = merge(parts)
    assert {"rps", "p50_ms", "p95_ms", "p99_ms", "errors", "per_operation"} <= set(figures)
    assert figures["requests"] == 202
    assert figures["rps"] == 20.2  # over the longest measured time
    assert figures["errors"] == 3
    assert figures["errors_by"] == {"book 409": 1, "search 500": 2}
    search = figures["per_operation"]["search"]
    assert set(search) == {"count", "rps", "p50_ms", "p95_ms", "p99_ms", "errors"}
    assert (search["count"], search["errors"], search["p50_ms"]) == (200, 2, 20.0)
    assert search["p99_ms"] == 200.0
    assert list(figures["per_operation"]) == [op for op in EXPECTED if op in ("search", "book")]
    assert (figures["users"], figures["client_processes"], figures["client_cpu_share"]) == (4, 2, 0.1)
    rows = report_rows(figures)
    assert rows[-1].startswith("| **all** | 202 | 20.2 |")
    assert len(rows) == 2 + 2 + 1
    assert load_client.REFRESH_AFTER_S < 300  # access tokens live five minutes
