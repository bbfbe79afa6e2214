"""The list benchmark's summaries, its RESULTS.md section and the py-spy digest."""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import median
from typing import Any

from bench.list_queries import FILTERS, PAGES, percentile
from bench.profiling import LEAF_FILE

TARGET_P99_MS = 25.0
TARGET_PER_S = 1_000.0

TITLE = "## List endpoint (`make bench-list`: `python -m bench.list_endpoint`)"
METHOD = f"""{TITLE}

Method. One run builds (or, with `--reuse-db`, reuses) a migrated database holding the
issue's data set, written in SQL and deterministic from a seed: 200 media servers, 1,000,000
cameras ("Camera <n> <word>", one word of 100 per camera) and 1,000,000 streams with
seed-000-like documents (`json`) and typed columns; `stream_windows` for 100,000 streams in
conditions (all `incorrect`, ~30% also `problematic`, ~10% `disabled`) plus 10,000 in none;
`stream_list` written by the product's own `save_listing` from those windows and
`condition_counts` by its `add_condition_counts`; server activity (every tenth server stale).
Then `VACUUM ANALYZE`. The database is dropped at the end unless `--keep-db`/`--reuse-db`.

`stream-health api` runs as one process (uvicorn, one event loop) on that database. A separate
load-generator process (`bench/list_load.py`: asyncio, keep-alive HTTP/1.1, a service token)
requests the matrix condition (any, incorrect, problematic, disabled) x all 10 sorts x asc/desc
x filter (none; `search` = a camera-name word matching ~1%; `ip` = `10.1.`; `domain` = one
server's domain in upper case) x page (the first; the deep page ~80% into that query's rows,
capped at the last page), 25 per page: 4 x 10 x 2 x 4 = 320 combinations, 640 requests.

1. check: each request once; every answer must be 200 with `meta.total` and the page size the
   totals imply, the same total on both pages (also a warm-up);
2. latency: `--repeats` shuffled passes, one request at a time on one connection; p50/p99
   over all requests, and per filter x page;
3. throughput: `--concurrency` connections in closed loops over a shuffled mix of the 640
   requests for `--duration` s after a warm-up, then the same over the 320 first pages only;
   requests/s, latency under load, and the CPU that the api, PostgreSQL, the load generator
   and everything else used meanwhile (and so per request). Phases 1 to 4 run against an api
   with its page cache off (`STREAM_HEALTH_LIST_CACHE_TTL=0`): every request is a query.
   Then both throughput loads again against a second api process with the cache at its
   default TTL, with the cache's hits, misses and shared queries; the matrix load once more
   while a stand-in for a live worker commits every second; and that live load against a
   third api with `STREAM_HEALTH_LIST_CACHE_MAX_LAG` at `--max-lag` s (default 5);
4. (with `--profile`) the same load again with py-spy sampling the api (not in the numbers);
5. the api's own read-path functions (`stream_health.db.listing`, as the run names them)
   called directly on one connection of the api's read pool (its planner settings), same
   pages, no HTTP: the database's share;
6. naive baseline, same run, same pages: SQL against the raw tables without `stream_list`
   (stream_windows LEFT JOIN inventory streams/cameras/servers, `= ANY(conditions)`, ILIKE on
   camera name / url / ip, `lower(domain) =`, ORDER BY the expression (disconnections decoded
   from the window's stamps), OFFSET/LIMIT for the page with its documents, and a separate
   count(*)), one REPEATABLE READ transaction on one connection, `statement_timeout`
   `--naive-timeout`: a query cut by it counts as >= that time. Its totals and page uuids must
   equal the api's. The naive times have no HTTP or JSON in them, the api's do: the ratios
   naive/api understate the gain of the view; naive/read-path compares database work alone.

`make bench-list BENCH_ARGS="--profile"` is the recorded run; `--help` lists the flags
(`--streams`, `--in-conditions`, `--repeats`, `--duration`, `--concurrency`, `--naive-timeout`,
`--naive-sample`, `--skip-naive`, `--reuse-db`, `--keep-db`, `--no-results`, ...).

Targets (issue): p99 <= 25 ms (sequential phase) and >= 1,000 requests/s per api process.
The machine has 2 cores shared by the api, PostgreSQL, Kafka and the load generator: read
requests/s with the CPU split. Raw numbers: `bench/out/<run id>.json` (not committed).
"""


def _fmt(ms: float, *, at_least: bool = False) -> str:
    if math.isnan(ms):
        return "-"
    text = f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"
    return (">= " if at_least else "") + text


def stats(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p99, mean, max."""
    if not values:
        return {"n": 0, "p50": math.nan, "p99": math.nan, "mean": math.nan, "max": math.nan}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": sum(values) / len(values),
        "max": max(values),
    }


def latency_summary(requests: list[dict[str, Any]], samples: list[list[Any]]) -> dict[str, Any]:
    """Overall, per filter x page, per condition, per sort, and the slowest requests."""
    by_key: dict[str, list[float]] = defaultdict(list)
    per_request: dict[int, list[float]] = defaultdict(list)
    statuses: Counter[int] = Counter()
    for index, status, ms in samples:
        statuses[int(status)] += 1
        per_request[int(index)].append(float(ms))
        r = requests[int(index)]
        by_key["all"].append(ms)
        by_key[f"fp:{r['filter']}:{r['page_type']}"].append(ms)
        by_key[f"page:{r['page_type']}"].append(ms)
        by_key[f"filter:{r['filter']}"].append(ms)
        by_key[f"condition:{r['condition']}"].append(ms)
        by_key[f"sort:{r['sort']}"].append(ms)
    slowest = sorted(
        (
            {
                "label": requests[i]["label"],
                "page_type": requests[i]["page_type"],
                "page": requests[i]["page"],
                "total": requests[i]["total"],
                "median_ms": median(v),
                "max_ms": max(v),
            }
            for i, v in per_request.items()
        ),
        key=lambda row: -float(row["median_ms"]),
    )
    return {
        "groups": {k: stats(v) for k, v in by_key.items()},
        "statuses": {str(k): v for k, v in statuses.items()},
        "slowest": slowest[:10],
    }


def naive_summary(
    requests: list[dict[str, Any]],
    naive: list[dict[str, Any] | None],
    samples: list[list[Any]],
    direct: list[dict[str, Any]] | None,
    timeout_ms: float,
) -> dict[str, Any]:
    """Naive vs the api (HTTP) and vs its read path (direct), overall and per filter x page.

    Over the requests answered both ways (all, unless --naive-sample chose fewer).
    """
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    http: dict[str, list[float]] = defaultdict(list)
    per_request: dict[int, list[float]] = defaultdict(list)
    for index, _, ms in samples:
        per_request[int(index)].append(float(ms))
    for i, (r, n) in enumerate(zip(requests, naive, strict=True)):
        if n is None:
            continue
        for key in ("all", f"fp:{r['filter']}:{r['page_type']}"):
            groups[key]["naive"].append(timeout_ms if n["timed_out"] else n["ms"])
            http[key].extend(per_request[i])
            if direct is not None:
                groups[key]["direct"].extend(direct[i]["ms"])
    answered = [n for n in naive if n is not None]
    out: dict[str, Any] = {"timed_out": sum(1 for n in answered if n["timed_out"])}
    out["errors"] = sum(1 for n in answered if n.get("error"))
    out["answered"] = len(answered)
    for key, series in groups.items():
        values = series["naive"]
        cut = sorted(values)
        row: dict[str, Any] = {
            "naive": stats(values),
            "naive_p50_cut": percentile(cut, 50) >= timeout_ms,
            "naive_p99_cut": percentile(cut, 99) >= timeout_ms,
            "direct": stats(series["direct"]) if series["direct"] else None,
        }
        row["http"] = stats(http[key])
        if http[key]:
            row["ratio_p50"] = row["naive"]["p50"] / row["http"]["p50"]
            row["ratio_p99"] = row["naive"]["p99"] / row["http"]["p99"]
        if row["direct"]:
            row["direct_ratio_p50"] = row["naive"]["p50"] / row["direct"]["p50"]
            row["direct_ratio_p99"] = row["naive"]["p99"] / row["direct"]["p99"]
        out[key] = row
    return out


# --- py-spy ----------------------------------------------------------------------------------


def own_by_area(path: Path) -> list[tuple[str, float]]:
    """Own samples grouped by package/area (which library the CPU is spent in)."""
    areas: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        match = LEAF_FILE.search(leaf)
        file = match.group(1) if match else leaf
        total += int(count)
        areas[_area(file)] += int(count)
    return [(a, n / max(total, 1)) for a, n in areas.most_common(15)]


_AREAS = (
    ("stream_health_api", "api code (stream_health_api)"),
    ("stream_health/", "shared code (stream_health)"),
    ("asyncpg", "asyncpg"),
    ("sqlalchemy", "SQLAlchemy"),
    ("starlette", "Starlette"),
    ("fastapi", "FastAPI"),
    ("uvicorn", "uvicorn"),
    ("h11", "h11 (HTTP parsing)"),
    ("pydantic", "pydantic"),
    ("prometheus_client", "prometheus_client"),
    ("asyncio", "asyncio"),
    ("orjson", "orjson"),
)


def _area(file: str) -> str:
    for needle, name in _AREAS:
        if needle in file:
            return name
    if file.startswith("<") or not file.endswith(".py"):
        return f"native/other ({file[:40]})"
    return "/".join(file.split("/")[-2:])


# --- markdown --------------------------------------------------------------------------------


def broad_line(rows: Sequence[dict[str, Any]]) -> str:
    """The note on filters that pass most of a condition: per condition, each filter's rows
    and median ms."""
    by_condition: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_condition[row["condition"]].append(
            f"{row['filter']} {row['total']:,} rows {row['p50_ms']:.1f} ms"
        )
    cells = "; ".join(f"{c}: {', '.join(found)}" for c, found in by_condition.items())
    return (
        "filters that pass most of a condition (first page by disconnections_count, outside the "
        f"matrix and its targets; p50, no HTTP): {cells}"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _ratio(value: float | None, cut: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return (">= " if cut else "") + (f"{value:,.0f}x" if value >= 10 else f"{value:,.1f}x")


def _cpu_line(cpu: dict[str, Any]) -> str:
    if not cpu:
        return "- CPU during the measured window: not sampled"
    cores = cpu["cores"]
    parts = [
        f"{name} {cpu[name] / cpu['seconds'] * 100:.0f}%"
        for name in ("api", "postgres", "load generator", "kafka", "other")
        if name in cpu
    ]
    busy = cpu["busy"] / cpu["seconds"] * 100
    return (
        f"- CPU during the measured window (% of one core; {cores} cores = {cores * 100}%): "
        + ", ".join(parts)
        + f"; machine busy {busy:.0f}% of {cores * 100}% (postgres: all its processes; other: "
        "whatever else ran, e.g. another stack's worker)"
    )


def markdown(doc: dict[str, Any], *, with_method: bool) -> str:
    """The dated run section (with the method text first when the file has none yet)."""
    m, p, data = doc["machine"], doc["parameters"], doc["data"]
    lat, tp = doc["latency"], doc["throughput"]
    code = m["commit"] + (" + uncommitted changes" if m["uncommitted_changes"] else "")
    digest = m.get("uncommitted_diff_sha256")
    if digest == "none":
        code = f"{m['commit']} (services/ and shared/ as committed when the api started)"
    elif digest:
        code += f" (`git diff HEAD -- services shared` sha256 {digest} when the api started)"
    groups = lat["groups"]
    overall = groups["all"]
    lines = [METHOD] if with_method else []
    lines += [
        f"### {doc['started_utc']} UTC, run `{doc['run_id']}`",
        "",
        f"- machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}; Python {m['python']}; PostgreSQL {m['postgres']} "
        f"(shared_buffers {m.get('shared_buffers', '?')}, work_mem {m.get('work_mem', '?')}, "
        f"jit {m.get('jit', '?')}); uvicorn {m.get('uvicorn', '?')} "
        f"(loop {m.get('loop', '?')}, http {m.get('http', '?')}); code {code}",
        f"- parameters: {p['streams']:,} streams, {p['in_conditions']:,} in conditions, "
        f"{p['servers']} servers, seed {p['seed']}; {p['per_page']} per page; "
        f"{doc['requests_count']:,} requests (combinations x 2 pages); repeats {p['repeats']}; "
        f"throughput {p['concurrency']} connections x {p['duration_s']:g} s after "
        f"{p['warmup_s']:g} s warm-up; naive statement_timeout {p['naive_timeout_s']:g} s",
        _data_line(data, doc),
        _check_line(doc["check"]),
        f"- read path measured directly: `{doc.get('read_path', '?')}`; load average at start "
        + " / ".join(f"{x:.2f}" for x in doc.get("load_average_at_start", ())),
        "",
        "Latency, sequential (ms, client-side, whole response read):",
        "",
        "| requests | n | p50 | p99 | mean | max |",
        "|---|---:|---:|---:|---:|---:|",
        _stat_row("all", overall),
        _stat_row("first pages", groups["page:first"]),
        _stat_row("deep pages", groups["page:deep"]),
        "",
        "Per filter x page (ms):",
        "",
        "| filter | first p50 | first p99 | deep p50 | deep p99 |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {f} | {_fmt(groups[f'fp:{f}:first']['p50'])} | "
            f"{_fmt(groups[f'fp:{f}:first']['p99'])} | {_fmt(groups[f'fp:{f}:deep']['p50'])} | "
            f"{_fmt(groups[f'fp:{f}:deep']['p99'])} |"
            for f in FILTERS
        ),
        "",
        "Per condition and per sort (p50 / p99 ms): "
        + "; ".join(
            f"{k.split(':', 1)[1]} {_fmt(v['p50'])} / {_fmt(v['p99'])}"
            for k, v in groups.items()
            if k.startswith("condition:")
        )
        + ". "
        + "; ".join(
            f"{k.split(':', 1)[1]} {_fmt(v['p50'])} / {_fmt(v['p99'])}"
            for k, v in groups.items()
            if k.startswith("sort:")
        ),
        "",
        *_throughput_lines(
            f"the whole matrix (640 requests, half of them deep pages){cold_label(doc)}", tp, p
        ),
        *(
            _throughput_lines(f"first pages only{cold_label(doc)}", doc["throughput_first"], p)
            if "throughput_first" in doc
            else []
        ),
        *cached_lines(doc, p),
        "",
        *_naive_lines(doc),
        "",
        f"- p99 {_fmt(overall['p99'])} ms, sequential (target <= 25 ms: "
        f"{_met(overall['p99'] <= TARGET_P99_MS)})",
        f"- {tp['per_s']:,.0f} requests/s per api process over the matrix{cold_label(doc)} "
        f"(target >= 1,000: {_met(tp['per_s'] >= TARGET_PER_S)})"
        + (
            f"; {doc['throughput_first']['per_s']:,.0f} over first pages only "
            f"({_met(doc['throughput_first']['per_s'] >= TARGET_PER_S)})"
            if "throughput_first" in doc
            else ""
        ),
        *cached_target_lines(doc),
        "",
        "10 slowest requests (median of the repeats, ms):",
        "",
        "| condition/sort/dir/filter | page | of rows | median | max |",
        "|---|---|---:|---:|---:|",
        *(
            f"| {s['label']} | {s['page_type']} ({s['page']}) | {s['total']:,} | "
            f"{_fmt(s['median_ms'])} | {_fmt(s['max_ms'])} |"
            for s in lat["slowest"]
        ),
        *_profile_lines(doc.get("profile")),
        "",
        *(f"- note: {n}" for n in doc.get("notes", [])),
        "",
    ]
    return "\n".join(lines)


def _throughput_lines(
    what: str, tp: dict[str, Any], p: dict[str, Any], *, cpus: int | None = None
) -> list[str]:
    per_request = tp.get("cpu_ms_per_request", {})
    cost = ", ".join(f"{k} {v:.1f} ms" for k, v in per_request.items())
    return [
        f"Throughput, {what}: **{tp['per_s']:,.0f} requests/s** ({tp['requests']:,} in "
        f"{tp['seconds']:g} s, {p['concurrency']} connections); under load p50 "
        f"{_fmt(tp['p50'])} ms, p99 {_fmt(tp['p99'])} ms; statuses {tp['statuses']}; "
        f"transport errors {tp['error_count']}; load generator "
        f"{tp['client_cpu_s'] / tp['seconds'] * 100:.0f}% of a core",
        _cpu_line(tp.get("cpu", {})),
        f"- CPU per request: {cost or '-'}",
        *_allowed_line(per_request, cpus or os.cpu_count() or 1),
        "",
    ]


def _allowed_line(per_request: dict[str, float], cpus: int) -> list[str]:
    """What the api's and PostgreSQL's CPU per request allow: on this machine's cores with
    both busy all the time, and for the api's one process wherever PostgreSQL runs."""
    api, postgres = per_request.get("api", 0.0), per_request.get("postgres", 0.0)
    if api <= 0:
        return []
    return [
        f"- what that CPU allows: api + postgres ({api + postgres:.1f} ms a request) on "
        f"{cpus} cores, every core busy all the time: at most "
        f"{cpus * 1000 / (api + postgres):,.0f} requests/s; the api's {api:.1f} ms on its one "
        f"process alone (PostgreSQL elsewhere): at most {1000 / api:,.0f} requests/s"
    ]


def cold_label(doc: dict[str, Any]) -> str:
    """The label of the throughput phases without the page cache (runs before it had none)."""
    return ", page cache off (cold)" if "throughput_cached" in doc else ""


def _cache_share(tp: dict[str, Any]) -> str:
    counts = tp.get("cache", {})
    served = sum(counts.values())
    if not served:
        return "no cache outcomes counted"
    return ", ".join(f"{k} {v / served:.0%}" for k, v in counts.items()) + " of requests"


def cached_lines(doc: dict[str, Any], p: dict[str, Any]) -> list[str]:
    """The throughput sections of the api with its page cache on (none in older runs)."""
    lines = _cached_latency_lines(doc.get("latency_cached"))
    for key, what in (
        ("throughput_cached", "the whole matrix"),
        ("throughput_first_cached", "first pages only"),
        ("throughput_cached_live", "the whole matrix"),
        ("throughput_cached_lagged", "the whole matrix"),
    ):
        if doc.get(key):
            tp = doc[key]
            if "commit_every_s" in tp:
                lag = (
                    f" and a max lag of {tp['max_lag_s']:g} s (STREAM_HEALTH_LIST_CACHE_MAX_LAG)"
                    if "max_lag_s" in tp
                    else ""
                )
                label = (
                    f"{what}, page cache on{lag}, a commit to the list's data every "
                    f"{tp['commit_every_s']:g} s ({tp['commits']} commits, as a live worker's)"
                )
                lines += _throughput_lines(label, tp, p)
                lines.insert(-1, f"- page cache (warm-up included): {_cache_share(tp)}")
                continue
            label = f"{what}, page cache on (its default TTL, {tp['cache_ttl_s']:g} s)"
            if "latency_cached" in doc:  # the cache that keeps pages until the data changes
                label = (
                    f"{what}, page cache on (pages kept until the data changes, at most "
                    f"{tp['cache_ttl_s']:g} s; no writes during the run)"
                )
            lines += _throughput_lines(label, tp, p)
            lines.insert(-1, f"- page cache (warm-up included): {_cache_share(tp)}")
    return lines


def _cached_latency_lines(lat: dict[str, Any] | None) -> list[str]:
    if lat is None:
        return []
    filling, kept = lat["filling"], lat["kept"]
    lines = [
        "Latency, sequential, page cache on, data unchanged (ms, client-side): pass 1 fills "
        f"the cache, p50 {_fmt(filling['p50'])}, p99 {_fmt(filling['p99'])} "
        f"({int(filling['n']):,} requests)"
    ]
    if kept is not None:
        lines[0] += (
            f"; the later passes are served from it, p50 {_fmt(kept['p50'])}, p99 "
            f"{_fmt(kept['p99'])}, max {_fmt(kept['max'])} ({int(kept['n']):,} requests)"
        )
    lines[0] += f"; page cache: {_cache_share(lat)}"
    return [*lines, ""]


def cached_target_lines(doc: dict[str, Any]) -> list[str]:
    """The target lines of the phases with the page cache on (none in older runs)."""
    if "throughput_cached" not in doc:
        return []
    tp, first = doc["throughput_cached"], doc.get("throughput_first_cached")
    kept = (doc.get("latency_cached") or {}).get("kept")
    live = doc.get("throughput_cached_live")
    lagged = doc.get("throughput_cached_lagged")
    return [
        *(
            [
                f"- p99 {_fmt(kept['p99'])} ms, sequential, with the page cache on once it "
                f"holds the pages (target <= 25 ms: {_met(kept['p99'] <= TARGET_P99_MS)})"
            ]
            if kept
            else []
        ),
        f"- {tp['per_s']:,.0f} requests/s over the matrix with the page cache on "
        f"({_met(tp['per_s'] >= TARGET_PER_S)})"
        + (
            f"; {first['per_s']:,.0f} over first pages only "
            f"({_met(first['per_s'] >= TARGET_PER_S)})"
            if first
            else ""
        ),
        *(
            [
                f"- {live['per_s']:,.0f} requests/s over the matrix with the page cache on and "
                f"a commit every {live['commit_every_s']:g} s "
                f"({_met(live['per_s'] >= TARGET_PER_S)})"
            ]
            if live
            else []
        ),
        *(
            [
                f"- {lagged['per_s']:,.0f} requests/s over the matrix with the page cache on, "
                f"a commit every {lagged['commit_every_s']:g} s and a max lag of "
                f"{lagged['max_lag_s']:g} s ({_met(lagged['per_s'] >= TARGET_PER_S)}; the list "
                f"may then trail its data by up to {lagged['max_lag_s']:g} s)"
            ]
            if lagged
            else []
        ),
    ]


def _stat_row(name: str, s: dict[str, float]) -> str:
    return (
        f"| {name} | {int(s['n']):,} | {_fmt(s['p50'])} | {_fmt(s['p99'])} | "
        f"{_fmt(s['mean'])} | {_fmt(s['max'])} |"
    )


def _data_line(data: dict[str, Any], doc: dict[str, Any]) -> str:
    conditions = ", ".join(f"`{k}` {v:,}" for k, v in data["per_condition"].items())
    matches = data["matches_any"]
    built = doc["build"]
    how = (
        f"built in {built['build_s']:.0f} s"
        if doc.get("built_now")
        else f"reused (built in {built['build_s']:.0f} s)"
    )
    return (
        f"- data ({how}; database {data['database_bytes'] / 2**30:.1f} GiB, stream_list "
        f"{data['bytes.stream_list'] / 2**20:.0f} MiB): list rows per condition {conditions}; "
        f"filters under any condition match: search `{doc['filters']['search']}` "
        f"{matches['search']:,}, ip `{doc['filters']['ip']}` {matches['ip']:,}, domain "
        f"`{doc['filters']['domain']}` {matches['domain']:,}"
    )


def _check_line(check: dict[str, Any]) -> str:
    bad = check["problems"]
    return (
        f"- check pass: {check['requests']:,} requests, {check['ok']:,} answered 200 with the "
        f"expected page size and total; {len(bad)} problems"
        + (f" (first: {bad[:3]})" if bad else "")
        + f"; {check['same_page']} combinations have one page only (deep = first); a page "
        f"with items averages {check.get('mean_body_bytes', 0) / 1024:.0f} KiB of JSON"
    )


def _naive_lines(doc: dict[str, Any]) -> list[str]:
    naive = doc.get("naive")
    if not naive:
        return ["Naive baseline: skipped (--skip-naive)."]
    p = doc["parameters"]

    def row(name: str, key: str) -> str:
        n = naive.get(key)
        if n is None:
            return f"| {name} | - | - | - | - | - |"
        d, h = n.get("direct"), n["http"]
        return (
            f"| {name} | {_fmt(h['p50'])} / {_fmt(h['p99'])} | "
            + (f"{_fmt(d['p50'])} / {_fmt(d['p99'])} | " if d else "- | ")
            + f"{_fmt(n['naive']['p50'], at_least=n['naive_p50_cut'])} / "
            f"{_fmt(n['naive']['p99'], at_least=n['naive_p99_cut'])} | "
            f"{_ratio(n.get('ratio_p50'), n['naive_p50_cut'])} / "
            f"{_ratio(n.get('ratio_p99'), n['naive_p99_cut'])} | "
            f"{_ratio(n.get('direct_ratio_p50'), n['naive_p50_cut'])} / "
            f"{_ratio(n.get('direct_ratio_p99'), n['naive_p99_cut'])} |"
        )

    sanity = doc["naive_sanity"]
    return [
        f"Naive baseline (same pages, one run each, {naive['answered']:,} of the "
        f"{doc['requests_count']:,} requests; {naive['timed_out']:,} cut at "
        f"{p['naive_timeout_s']:g} s, {naive['errors']} "
        f"errors; of those answered, {sanity['total_equal']:,}/{sanity['compared']:,} totals "
        f"and {sanity['page_equal']:,}/{sanity['compared']:,} pages equal the api's). "
        "p50 / p99 ms; ratios naive / api:",
        "",
        "| requests | api over HTTP | api read path, SQL only | naive SQL | naive / api "
        "| naive / read path |",
        "|---|---:|---:|---:|---:|---:|",
        row("all", "all"),
        *(row(f"{f}, {pg} page", f"fp:{f}:{pg}") for f in FILTERS for pg in PAGES),
    ]


def _profile_lines(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    top = profile["top"]
    lines = [
        "",
        f"Where the api's time goes (py-spy, {profile['rate']} Hz, {top['samples']:,} samples "
        f"of the api when not idle, over a separate {profile['seconds']:g} s run of the matrix "
        f"load: {profile['per_s']:,.0f} requests/s under the profiler, the api using "
        f"{profile.get('api_cpu_share', math.nan):.0%} of a core. A sample is taken whenever the "
        "api is not waiting on its event loop, so on a saturated machine it also counts time "
        "the api is runnable but waiting for a core, often right after a send or a query "
        "woke another process. Own time by area: "
        + ", ".join(f"{a} {s:.0%}" for a, s in profile["areas"][:10]),
        "",
        "| own | function (own time: the frame on top of the stack) | | inclusive | the "
        "product's functions (inclusive) |",
        "|---:|---|---|---:|---|",
    ]
    for (fo, so), (fi, si) in zip(top["own"][:15], top["inclusive_ours"][:15], strict=False):
        lines.append(f"| {so:.1%} | `{fo}` | | {si:.1%} | `{fi}` |")
    return lines


def has_method(path: Path) -> bool:
    """Whether RESULTS.md already holds this benchmark's heading and method text."""
    return path.exists() and TITLE in path.read_text()


def append(path: Path, section: str) -> None:
    """Append the section to RESULTS.md."""
    with path.open("a") as handle:
        handle.write("\n" + section)


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean (nan when empty)."""
    items = list(values)
    return sum(items) / len(items) if items else math.nan
