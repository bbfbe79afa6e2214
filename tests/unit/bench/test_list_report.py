"""The list benchmark's report of its throughput phases with the api's page cache off and on."""

from __future__ import annotations

from typing import Any

from bench.list_endpoint import parse_cache_counts
from bench.list_report import (
    _throughput_lines,
    broad_line,
    cached_lines,
    cached_target_lines,
    cold_label,
)

PARAMETERS = {"concurrency": 16}


def _phase(per_s: float, **extra: Any) -> dict[str, Any]:
    return {
        "per_s": per_s,
        "requests": int(per_s * 30),
        "seconds": 30.0,
        "p50": 80.0,
        "p99": 150.0,
        "statuses": {"200": int(per_s * 30)},
        "error_count": 0,
        "client_cpu_s": 1.5,
        **extra,
    }


def test_the_cache_outcomes_are_read_from_the_apis_metrics() -> None:
    metrics = "\n".join(
        [
            "# HELP stream_health_api_list_cache_requests_total List requests by outcome",
            'stream_health_api_list_cache_requests_total{outcome="hit"} 120.0',
            'stream_health_api_list_cache_requests_total{outcome="miss"} 40.0',
            'stream_health_api_list_cache_requests_created{outcome="miss"} 1.7e9',
            'stream_health_api_requests_total{route="/metrics",status="200"} 3.0',
        ]
    )

    assert parse_cache_counts(metrics) == {"hit": 120.0, "miss": 40.0, "shared": 0.0}


def test_throughput_with_the_cache_on_is_reported_apart_from_the_cold_phases() -> None:
    cache = {"hit": 300.0, "miss": 100.0, "shared": 0.0}
    doc = {
        "throughput": _phase(150),
        "throughput_cached": _phase(400, cache=cache, cache_ttl_s=1.0),
        "throughput_first_cached": _phase(500, cache=cache, cache_ttl_s=1.0),
    }

    lines = cached_lines(doc, PARAMETERS)

    assert cold_label(doc) == ", page cache off (cold)"
    assert lines[0].startswith(
        "Throughput, the whole matrix, page cache on (its default TTL, 1 s): **400 requests/s**"
    )
    assert "- page cache (warm-up included): hit 75%, miss 25%, shared 0% of requests" in lines
    assert any(line.startswith("Throughput, first pages only, page cache on") for line in lines)


def test_a_run_from_before_the_cache_reads_as_it_did() -> None:
    doc = {"throughput": _phase(150)}

    assert cold_label(doc) == ""
    assert cached_lines(doc, PARAMETERS) == []


def test_latency_with_the_cache_on_reports_the_filling_pass_apart_from_the_kept_ones() -> None:
    def stats(p50: float, p99: float, n: int) -> dict[str, float]:
        return {"n": n, "p50": p50, "p99": p99, "mean": p50, "max": p99 * 2}

    cache = {"hit": 1280.0, "miss": 640.0, "shared": 0.0}
    doc = {
        "throughput": _phase(150),
        "latency_cached": {
            "filling": stats(11.0, 31.0, 640),
            "kept": stats(1.5, 3.0, 1280),
            "cache": cache,
        },
        "throughput_cached": _phase(1200, cache=cache, cache_ttl_s=60.0),
    }

    lines = cached_lines(doc, PARAMETERS)

    assert lines[0] == (
        "Latency, sequential, page cache on, data unchanged (ms, client-side): pass 1 fills the "
        "cache, p50 11.0, p99 31.0 (640 requests); the later passes are served from it, "
        "p50 1.5, p99 3.0, max 6.0 (1,280 requests); page cache: hit 67%, miss 33%, "
        "shared 0% of requests"
    )
    assert lines[2].startswith(
        "Throughput, the whole matrix, page cache on (pages kept until the data changes, at most "
        "60 s; no writes during the run): **1,200 requests/s**"
    )


def test_throughput_with_commits_during_the_run_is_reported_with_their_cadence() -> None:
    cache = {"hit": 100.0, "miss": 300.0, "shared": 0.0}
    doc = {
        "throughput": _phase(150),
        "throughput_cached": _phase(1200, cache=cache, cache_ttl_s=60.0),
        "throughput_cached_live": _phase(
            180, cache=cache, cache_ttl_s=60.0, commit_every_s=1.0, commits=36
        ),
    }

    lines = cached_lines(doc, PARAMETERS)
    live = [line for line in lines if "a commit to the list's data" in line]

    assert live == [
        "Throughput, the whole matrix, page cache on, a commit to the list's data every 1 s "
        "(36 commits, as a live worker's): **180 requests/s** (5,400 in 30 s, 16 connections); "
        "under load p50 80.0 ms, p99 150 ms; statuses {'200': 5400}; transport errors 0; "
        "load generator 5% of a core"
    ]
    assert "- page cache (warm-up included): hit 25%, miss 75%, shared 0% of requests" in lines


def test_the_live_load_with_a_max_lag_names_the_lag_and_what_it_trades() -> None:
    cache = {"hit": 900.0, "miss": 100.0, "shared": 0.0}
    doc = {
        "throughput": _phase(150),
        "throughput_cached": _phase(1200, cache=cache, cache_ttl_s=60.0),
        "throughput_cached_live": _phase(
            180, cache=cache, cache_ttl_s=60.0, commit_every_s=1.0, commits=36
        ),
        "throughput_cached_lagged": _phase(
            1100, cache=cache, cache_ttl_s=60.0, commit_every_s=1.0, commits=36, max_lag_s=5.0
        ),
    }

    lines = cached_lines(doc, PARAMETERS)
    targets = cached_target_lines(doc)

    assert any(
        line.startswith(
            "Throughput, the whole matrix, page cache on and a max lag of 5 s "
            "(STREAM_HEALTH_LIST_CACHE_MAX_LAG), a commit to the list's data every 1 s "
            "(36 commits, as a live worker's): **1,100 requests/s**"
        )
        for line in lines
    )
    assert targets[-1] == (
        "- 1,100 requests/s over the matrix with the page cache on, a commit every 1 s and a "
        "max lag of 5 s (met; the list may then trail its data by up to 5 s)"
    )


def test_a_run_without_the_lagged_phase_reports_none() -> None:
    doc = {"throughput": _phase(150), "throughput_cached_lagged": None}

    assert cached_lines(doc, PARAMETERS) == []


def test_the_broad_filters_note_groups_each_conditions_filters_in_their_order() -> None:
    rows = [
        {"condition": "*", "filter": "search=rtsp", "total": 100_000, "p50_ms": 86.54},
        {"condition": "*", "filter": "ip=10.", "total": 100_000, "p50_ms": 107.0},
        {"condition": "disabled", "filter": "search=rtsp", "total": 9_884, "p50_ms": 15.6},
    ]

    line = broad_line(rows)

    assert line.endswith(
        "*: search=rtsp 100,000 rows 86.5 ms, ip=10. 100,000 rows 107.0 ms; "
        "disabled: search=rtsp 9,884 rows 15.6 ms"
    )
    assert "outside the matrix and its targets" in line


def test_the_cpu_per_request_says_what_rate_it_allows_here_and_for_one_api_process() -> None:
    phase = _phase(300.0, cpu_ms_per_request={"api": 1.6, "postgres": 2.4})

    lines = _throughput_lines("the whole matrix", phase, PARAMETERS, cpus=2)

    assert "- CPU per request: api 1.6 ms, postgres 2.4 ms" in lines
    (allows,) = [line for line in lines if line.startswith("- what that CPU allows")]
    assert "api + postgres (4.0 ms a request) on 2 cores" in allows
    assert "at most 500 requests/s;" in allows  # 2 cores / 4 ms
    assert "the api's 1.6 ms on its one process alone (PostgreSQL elsewhere): at most 625" in allows


def test_a_phase_without_the_apis_cpu_states_no_rate() -> None:
    lines = _throughput_lines("the whole matrix", _phase(300.0), PARAMETERS, cpus=2)

    assert not [line for line in lines if line.startswith("- what that CPU allows")]
