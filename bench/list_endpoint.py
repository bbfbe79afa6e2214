"""List endpoint: latency and requests/s of `GET /api/admin/v1/streams/inactive` at 1M streams.

Builds the data set in a fresh database (bench/list_data.py), runs `stream-health api` on it,
drives it from a separate load-generator process (bench/list_load.py) over the matrix
condition x sort x dir x filter x page, then answers the same pages the naive way in SQL.
Run from the repository root: `.venv/bin/python -m bench.list_endpoint --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import httpx
import orjson

from bench import cpu, list_data, list_report, pg, profiling, report, source
from bench.list_queries import Combo, deep_page, indexed, matrix, naive, read_path, windows_ms
from bench.measure import WorkerError, WorkerProcess, WorkerSpec, wait_ready
from bench.worker_throughput import CLI, REPO, free_port, say
from stream_health.config.settings import Settings, load_settings
from stream_health.db.engine import make_read_pool
from stream_health.db.migrate import upgrade_async

PY_SPY_PATHS = ("/tmp/pyspy/bin/py-spy",)  # where this machine keeps it


@dataclass(frozen=True, slots=True)
class Options:
    """The command line."""

    streams: int
    in_conditions: int
    servers: int
    seed: int
    per_page: int
    repeats: int
    duration_s: float
    warmup_s: float
    concurrency: int
    naive_timeout_s: float
    skip_naive: bool
    naive_sample: float
    max_lag_s: float
    profile: bool
    py_spy: str | None
    reuse_db: bool
    keep_db: bool
    api_ref: str | None  # run the api of this revision (the bench re-runs itself on it)
    ready_timeout_s: float
    out_dir: Path
    results: Path | None
    database_url: str


@dataclass(slots=True)
class Run:
    """One run: its id, the api's token, what it must clean up."""

    options: Options
    run_id: str
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    database: str = ""
    database_url: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        """Logs, plans and profiles of this run."""
        return self.options.out_dir / self.run_id

    @property
    def spec(self) -> list_data.DataSpec:
        """The data set's sizes."""
        o = self.options
        return list_data.DataSpec(o.streams, o.in_conditions, o.servers, o.seed)


def parse_args(argv: list[str] | None) -> Options:
    """Flags; defaults are the issue's sizes."""
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bench.list_endpoint", description=__doc__)
    parser.add_argument("--streams", type=int, default=1_000_000, help="inventory streams")
    parser.add_argument("--in-conditions", type=int, default=100_000, help="streams listed")
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-page", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3, help="sequential passes (latency)")
    parser.add_argument("--duration", type=float, default=30.0, help="throughput phase, s")
    parser.add_argument("--warmup", type=float, default=5.0, help="before the throughput window")
    parser.add_argument("--concurrency", type=int, default=16, help="throughput connections")
    parser.add_argument("--naive-timeout", type=float, default=5.0, help="statement_timeout, s")
    parser.add_argument("--skip-naive", action="store_true", help="no naive baseline")
    parser.add_argument(
        "--naive-sample",
        type=float,
        default=1.0,
        help="share of the requests answered the naive way too (seeded; default all)",
    )
    parser.add_argument(
        "--max-lag",
        type=float,
        default=5.0,
        help="the live phase again on an api with STREAM_HEALTH_LIST_CACHE_MAX_LAG at this "
        "many seconds (0: not run)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the api in an extra run")
    parser.add_argument("--py-spy", help="py-spy binary (default: on PATH or /tmp/pyspy/bin)")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="reuse the database an earlier run kept for the same sizes and seed (build it "
        "if absent) and keep it; migrations are applied to head first",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--api-ref",
        help="run the api (and the migrations, and the data build) of this git revision, "
        "e.g. a session's start, beside the working tree's bench",
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    if not CLI.exists():
        parser.error(f"{CLI} not found: run with the venv's python (.venv/bin/python -m ...)")
    if min(args.streams, args.in_conditions, args.servers, args.repeats, args.concurrency) < 1:
        parser.error("sizes, --repeats and --concurrency must be >= 1")
    if args.in_conditions > args.streams:
        parser.error("--in-conditions must not exceed --streams")
    if not 0 < args.naive_sample <= 1:
        parser.error("--naive-sample must be within (0, 1]")
    if args.max_lag < 0:
        parser.error("--max-lag must be >= 0")
    if not 1 <= args.per_page <= 100:
        parser.error("--per-page must be within 1..100")
    py_spy = args.py_spy or shutil.which("py-spy")
    py_spy = py_spy or next((p for p in PY_SPY_PATHS if Path(p).exists()), None)
    if args.profile and not py_spy:
        parser.error("--profile needs py-spy (--py-spy PATH)")
    return Options(
        streams=args.streams,
        in_conditions=args.in_conditions,
        servers=args.servers,
        seed=args.seed,
        per_page=args.per_page,
        repeats=args.repeats,
        duration_s=args.duration,
        warmup_s=args.warmup,
        concurrency=args.concurrency,
        naive_timeout_s=args.naive_timeout,
        skip_naive=args.skip_naive,
        naive_sample=args.naive_sample,
        max_lag_s=args.max_lag,
        profile=args.profile,
        py_spy=py_spy,
        reuse_db=args.reuse_db,
        keep_db=args.keep_db or args.reuse_db,
        api_ref=args.api_ref,
        ready_timeout_s=args.ready_timeout,
        out_dir=args.out,
        results=None if args.no_results else args.results,
        database_url=settings.database_url,
    )


# --- the database ----------------------------------------------------------------------------


async def _exists(base_url: str, name: str) -> bool:
    admin = await pg.connect(base_url, "postgres")
    try:
        return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


async def prepare_database(run: Run) -> tuple[dict[str, Any], bool]:
    """The bench database, built afresh or reused: (what bench_meta says, built now)."""
    o, spec = run.options, run.spec
    run.database = f"stream_health_bench_list_{spec.database_suffix}"
    run.database_url = pg.database_url_for(o.database_url, run.database)
    if o.reuse_db and await _exists(o.database_url, run.database):
        await upgrade_async(run.database_url)
        conn = await pg.connect(run.database_url)
        try:
            meta = await list_data.stored_meta(conn)
        finally:
            await conn.close()
        fits = meta is not None and meta.get("format") == list_data.BUILD_FORMAT
        if meta is not None and fits and meta.get("spec") == asdict(spec):
            say(f"reusing database {run.database} (built in {meta['build_s']} s)")
            return meta, False
        say(f"database {run.database} holds no finished build of these sizes: rebuilding")
    say(
        f"building database {run.database}: {spec.streams:,} streams, {spec.in_conditions:,} "
        "in conditions"
    )
    await pg.create_database(o.database_url, run.database)
    await upgrade_async(run.database_url)
    conn = await pg.connect(run.database_url)
    try:
        meta = await list_data.build(conn, spec)
    finally:
        await conn.close()
    say(f"built in {meta['build_s']} s")
    return meta, True


async def server_facts(database_url: str) -> dict[str, str]:
    """PostgreSQL's version and the settings that matter here."""
    conn = await pg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1)",
            [
                "server_version",
                "shared_buffers",
                "work_mem",
                "jit",
                "max_parallel_workers_per_gather",
            ],
        )
        return {r["name"]: r["value"] for r in rows}
    finally:
        await conn.close()


# --- the api and the load generator ------------------------------------------------------------


CACHE_TTL = "STREAM_HEALTH_LIST_CACHE_TTL"
CACHE_MAX_LAG = "STREAM_HEALTH_LIST_CACHE_MAX_LAG"
CACHE_OFF = "0"
CACHE_OUTCOMES = ("hit", "miss", "shared")


def default_cache_ttl_s() -> float:
    """The api's page cache TTL when the setting is not given."""
    default = Settings.model_fields["list_cache_ttl"].default
    return float(default.total_seconds())


def api_spec(
    run: Run, *, cache_ttl: str | None, name: str, max_lag: str | None = None
) -> WorkerSpec:
    """`stream-health api` on the bench database, a free port, the run's service token.

    `cache_ttl`: its list page cache TTL (None: the api's default, whatever the environment
    says); `max_lag` likewise its cache's max lag; the log goes to `<name>.log`.
    """
    hidden = ("STREAM_HEALTH_CONDITIONS", CACHE_TTL, CACHE_MAX_LAG)
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    port = free_port()
    env.update(
        STREAM_HEALTH_DATABASE_URL=run.database_url,
        STREAM_HEALTH_API_HOST="127.0.0.1",
        STREAM_HEALTH_API_PORT=str(port),
        STREAM_HEALTH_SERVICE_TOKENS=hashlib.sha256(run.token.encode()).hexdigest(),
    )
    if cache_ttl is not None:
        env[CACHE_TTL] = cache_ttl
    if max_lag is not None:
        env[CACHE_MAX_LAG] = max_lag
    argv = [str(CLI), "api"]
    return WorkerSpec(argv=argv, env=env, port=port, log_path=run.log_dir / f"{name}.log")


@asynccontextmanager
async def running_api(
    run: Run, *, cache_ttl: str | None, name: str, max_lag: str | None = None
) -> AsyncIterator[WorkerProcess]:
    """An api process, ready; stopped on exit."""
    spec = api_spec(run, cache_ttl=cache_ttl, name=name, max_lag=max_lag)
    api = WorkerProcess(spec)
    try:
        ready = await wait_ready(api, run.options.ready_timeout_s)
        if ready is None:
            raise api.died(f"no /readyz 200 within {run.options.ready_timeout_s:.0f} s")
        say(f"{name} pid {api.pid} ready on :{spec.port} after {ready[0]:.1f} s")
        yield api
    finally:
        code = await api.stop()
        say(f"{name} stopped (exit {code})")


def parse_cache_counts(metrics: str) -> dict[str, float]:
    """The page cache outcomes in the api's /metrics text (0 for a series not there)."""
    counts = dict.fromkeys(CACHE_OUTCOMES, 0.0)
    for line in metrics.splitlines():
        for outcome in CACHE_OUTCOMES:
            series = f'stream_health_api_list_cache_requests_total{{outcome="{outcome}"}} '
            if line.startswith(series):
                counts[outcome] = float(line.removeprefix(series))
    return counts


async def cache_counts(port: int) -> dict[str, float]:
    """The api's page cache outcomes so far."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        return parse_cache_counts((await client.get(f"http://127.0.0.1:{port}/metrics")).text)


async def cached_throughput(
    run: Run, api: WorkerProcess, targets: list[str], name: str
) -> dict[str, Any]:
    """The throughput phase on an api with its page cache on, with the cache's outcomes."""
    before = await cache_counts(api.spec.port)
    result = await throughput(run, api.spec.port, targets, api.pid, name)
    after = await cache_counts(api.spec.port)
    result["cache"] = {k: after[k] - before[k] for k in CACHE_OUTCOMES}  # warm-up included
    result["cache_ttl_s"] = default_cache_ttl_s()
    return result


# A live worker commits a batch (to `stream_windows`, a table pages read) every fraction of a
# second under load, and each commit drops the api's kept pages; one a second is the list
# flush's own cadence.
LIVE_COMMIT_EVERY_S = 1.0


@asynccontextmanager
async def committing(run: Run, every_s: float) -> AsyncIterator[list[int]]:
    """A stand-in for a live worker: a commit to a table the list reads every `every_s`. It
    changes no row; the statement trigger notifies the api all the same. Yields the count."""
    conn = await pg.connect(run.database_url)
    commits = [0]

    async def commit_every() -> None:
        while True:
            await conn.execute("UPDATE stream_windows SET uid = uid WHERE false")
            commits[0] += 1
            await asyncio.sleep(every_s)

    task = asyncio.create_task(commit_every())
    try:
        yield commits
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()


async def live_throughput(
    run: Run, api: WorkerProcess, targets: list[str], name: str
) -> dict[str, Any]:
    """The cached throughput phase while a stand-in for a live worker commits."""
    async with committing(run, LIVE_COMMIT_EVERY_S) as commits:
        result = await cached_throughput(run, api, targets, name)
    return result | {"commit_every_s": LIVE_COMMIT_EVERY_S, "commits": commits[0]}


async def wait_listening(port: int, timeout_s: float = 10.0) -> None:
    """Until the api listens for changes to the list (its page cache keeps pages from then)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            if "stream_health_api_list_cache_listening 1.0" in text:
                return
            await asyncio.sleep(0.1)
    raise WorkerError(f"the api did not listen for list changes within {timeout_s:g} s")


async def cached_latency(
    run: Run, api: WorkerProcess, requests: list[dict[str, Any]], repeats: int
) -> dict[str, Any]:
    """The latency phase on an api with its page cache on and the data unchanged: the first
    pass fills the cache (every page a miss), the later passes are served from it."""
    targets = [r["target"] for r in requests]
    before = await cache_counts(api.spec.port)
    lat = await load(
        run, api.spec.port, "latency-cached", mode="latency", targets=targets, repeats=repeats
    )
    after = await cache_counts(api.spec.port)
    samples = lat["samples"]
    filling, kept = samples[: len(targets)], samples[len(targets) :]
    return {
        "filling": list_report.latency_summary(requests, filling)["groups"]["all"],
        "kept": list_report.latency_summary(requests, kept)["groups"]["all"] if kept else None,
        "cache": {k: after[k] - before[k] for k in CACHE_OUTCOMES},
    }


async def load(run: Run, port: int, name: str, **plan: Any) -> dict[str, Any]:
    """Run bench.list_load in its own process with this plan; its JSON result."""
    plan = {"host": "127.0.0.1", "port": port, "token": run.token, "seed": run.options.seed, **plan}
    run.log_dir.mkdir(parents=True, exist_ok=True)
    plan_path, out_path = run.log_dir / f"{name}.plan.json", run.log_dir / f"{name}.out.json"
    plan_path.write_text(json.dumps(plan))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.list_load",
        str(plan_path),
        str(out_path),
        cwd=str(REPO),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"load generator {name} failed: {stderr.decode(errors='replace')}")
    result: dict[str, Any] = orjson.loads(out_path.read_bytes())
    out_path.unlink()
    return result


async def throughput(
    run: Run, port: int, targets: list[str], api_pid: int, name: str
) -> dict[str, Any]:
    """The closed-loop phase, with the machine's CPU split over its measured window."""
    o = run.options
    task = asyncio.create_task(
        load(
            run,
            port,
            name,
            mode="throughput",
            targets=targets,
            concurrency=o.concurrency,
            duration_s=o.duration_s,
            warmup_s=o.warmup_s,
        )
    )
    await asyncio.sleep(o.warmup_s + 0.5)  # the client starts its clock after its own startup
    pids = {"api": api_pid, "self": os.getpid()}
    before, t0 = cpu.snapshot(pids), time.monotonic()
    await asyncio.sleep(max(o.duration_s - 1.0, 1.0))
    after, t1 = cpu.snapshot(pids), time.monotonic()
    result = await task
    seconds = t1 - t0
    spent = cpu.split(before, after)
    client = result["client_cpu_s"] / result["seconds"] * seconds
    spent["load generator"] = client
    spent["other"] = max(spent["other"] - client, 0.0)
    spent.pop("self")
    spent["seconds"] = seconds
    spent["cores"] = os.cpu_count() or 1
    latencies = result.pop("latencies_ms")
    result.update(list_report.stats(latencies))
    result["cpu"] = spent
    served = result["per_s"] * seconds  # requests in the CPU window (same rate)
    result["cpu_ms_per_request"] = {
        k: spent[k] * 1000 / served for k in ("api", "postgres") if served
    }
    say(
        f"{name}: {result['per_s']:,.0f} requests/s, p50 {result['p50']:.1f} ms, "
        f"p99 {result['p99']:.1f} ms, statuses {result['statuses']}, errors "
        f"{result['error_count']}; CPU ms per request: "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["cpu_ms_per_request"].items())
    )
    return result


async def profiled(run: Run, port: int, targets: list[str], api_pid: int) -> dict[str, Any]:
    """The throughput load again with py-spy sampling the api (not counted)."""
    o = run.options
    assert o.py_spy is not None
    path = run.log_dir / "api.pyspy.txt"
    rate = 100
    seconds = o.duration_s
    spy = await asyncio.create_subprocess_exec(
        o.py_spy,
        "record",
        "--pid",
        str(api_pid),
        "--rate",
        str(rate),
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    cpu_before, wall_before = cpu.process_seconds(api_pid), time.monotonic()
    try:
        result = await load(
            run,
            port,
            "profiled",
            mode="throughput",
            targets=targets,
            concurrency=o.concurrency,
            duration_s=seconds,
            warmup_s=1.0,
        )
        cpu_share = (cpu.process_seconds(api_pid) - cpu_before) / (time.monotonic() - wall_before)
        _, stderr = await asyncio.wait_for(spy.communicate(), timeout=seconds + 30)
    finally:
        if spy.returncode is None:
            spy.kill()
            await spy.wait()
    if spy.returncode != 0:
        run.notes.append(
            f"py-spy exited {spy.returncode}: {stderr.decode(errors='replace')[-300:]}"
        )
    top = profiling.pyspy_top(path)
    areas = list_report.own_by_area(path)
    lines = [f"{top['samples']} samples", "inclusive:"]
    lines += [f"{s:7.1%}  {f}" for f, s in top["inclusive"]]
    lines += ["own:"] + [f"{s:7.1%}  {f}" for f, s in top["own"]]
    lines += ["the product's (inclusive):"]
    lines += [f"{s:7.1%}  {f}" for f, s in top["inclusive_ours"]]
    lines += ["own by area:"] + [f"{s:7.1%}  {a}" for a, s in areas]
    (run.log_dir / "api-profile-top.txt").write_text("\n".join(lines) + "\n")
    say(f"profile: {path} (digest: {run.log_dir / 'api-profile-top.txt'})")
    return {
        "rate": rate,
        "api_cpu_share": cpu_share,
        "seconds": seconds,
        "per_s": result["per_s"],
        "top": top,
        "areas": areas,
        "path": str(path),
    }


# --- the phases --------------------------------------------------------------------------------


def _request(combo: Combo, page_type: str, page: int, total: int, per_page: int) -> dict[str, Any]:
    return {
        "label": combo.label,
        "condition": combo.condition,
        "sort": combo.sort,
        "dir": combo.direction,
        "filter": combo.filter,
        "page_type": page_type,
        "page": page,
        "total": total,
        "target": combo.target(page=page, per_page=per_page),
    }


def _expected_size(total: int, page: int, per_page: int) -> int:
    return max(0, min(per_page, total - (page - 1) * per_page))


async def check_pass(
    run: Run, port: int, combos: list[Combo]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """First pages (for totals), then deep pages: (requests, their answers, the check)."""
    per_page = run.options.per_page
    firsts = await load(
        run,
        port,
        "check-first",
        mode="check",
        targets=[c.target(page=1, per_page=per_page) for c in combos],
    )
    requests: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    problems: list[str] = []
    deep: list[dict[str, Any]] = []
    for combo, row in zip(combos, firsts["rows"], strict=True):
        if row["status"] != 200:
            problems.append(f"{combo.label} first: HTTP {row['status']}")
            total = 0
        else:
            total = int(row["total"])
        requests.append(_request(combo, "first", 1, total, per_page))
        answers.append(row)
        deep.append(_request(combo, "deep", deep_page(total, per_page), total, per_page))
    deeps = await load(run, port, "check-deep", mode="check", targets=[r["target"] for r in deep])
    requests += deep
    answers += deeps["rows"]
    ok = 0
    for r, a in zip(requests, answers, strict=True):
        if a["status"] != 200:
            problems.append(f"{r['label']} {r['page_type']}: HTTP {a['status']}")
        elif a["total"] != r["total"]:
            problems.append(f"{r['label']} deep: total {a['total']} != first page's {r['total']}")
        elif len(a["uuids"]) != _expected_size(r["total"], r["page"], run.options.per_page):
            problems.append(f"{r['label']} {r['page_type']}: {len(a['uuids'])} items")
        else:
            ok += 1
    same = sum(1 for r in deep if r["page"] == 1)
    check: dict[str, Any] = {"requests": len(requests), "ok": ok, "problems": problems}
    check["same_page"] = same
    check["is_actual_items"] = sum(int(a.get("is_actual", 0)) for a in answers)
    check["items"] = sum(len(a.get("uuids", [])) for a in answers)
    sizes = [int(a["bytes"]) for a in answers if a["status"] == 200 and a.get("uuids")]
    check["mean_body_bytes"] = sum(sizes) / len(sizes) if sizes else 0
    check["mean_items"] = check["items"] / len(sizes) if sizes else 0
    say(f"check: {ok:,}/{len(requests):,} ok, {len(problems)} problems, {same} single-page")
    return requests, answers, check


async def api_phases(run: Run, combos: list[Combo]) -> dict[str, Any]:
    """Check, latency, throughput (and profile) on an api with its page cache off, then the
    latency and throughput phases again on an api with the cache at its default."""
    o = run.options
    conn = await pg.connect(run.database_url)
    try:
        await list_data.refresh_activity(conn, time.time_ns() // 1_000_000)
    finally:
        await conn.close()
    out: dict[str, Any] = {}
    # The latency phase's repeats of a page are seconds apart: cached or not, they would
    # miss; with the cache off every request is measured the same way.
    async with running_api(run, cache_ttl=CACHE_OFF, name="api") as api:
        port = api.spec.port
        requests, answers, check = await check_pass(run, port, combos)
        out.update(requests=requests, answers=answers, check=check)
        targets = [r["target"] for r in requests]
        say(f"latency: {o.repeats} x {len(targets):,} sequential requests (page cache off)")
        lat = await load(run, port, "latency", mode="latency", targets=targets, repeats=o.repeats)
        out["latency"] = list_report.latency_summary(requests, lat["samples"])
        out["latency"]["client_cpu_share"] = lat["client_total_cpu_s"] / lat["client_wall_s"]
        out["latency_samples"] = lat["samples"]
        overall = out["latency"]["groups"]["all"]
        say(f"latency: p50 {overall['p50']:.1f} ms, p99 {overall['p99']:.1f} ms")
        say(f"throughput: {o.concurrency} connections, {o.warmup_s:g} + {o.duration_s:g} s")
        out["throughput"] = await throughput(run, port, targets, api.pid, "throughput")
        firsts = [r["target"] for r in requests if r["page_type"] == "first"]
        out["throughput_first"] = await throughput(
            run, port, firsts, api.pid, "throughput-first-pages"
        )
        if o.profile:
            out["profile"] = await profiled(run, port, targets, api.pid)
        api.sample()
        out["api_peak_rss_kb"] = api.peak_kb
    ttl = default_cache_ttl_s()
    async with running_api(run, cache_ttl=None, name="api-cached") as api:
        await wait_listening(api.spec.port)
        say(f"latency: {o.repeats} x {len(targets):,} sequential requests (page cache on)")
        out["latency_cached"] = await cached_latency(run, api, requests, o.repeats)
        say(f"throughput with the page cache at its default (at most {ttl:g} s)")
        out["throughput_cached"] = await cached_throughput(run, api, targets, "throughput-cached")
        out["throughput_first_cached"] = await cached_throughput(
            run, api, firsts, "throughput-first-pages-cached"
        )
        say(f"throughput with the page cache on and a commit every {LIVE_COMMIT_EVERY_S:g} s")
        out["throughput_cached_live"] = await live_throughput(
            run, api, targets, "throughput-cached-live"
        )
        api.sample()
        out["api_cached_peak_rss_kb"] = api.peak_kb
    if o.max_lag_s > 0:
        lag = f"{o.max_lag_s:g}"
        async with running_api(run, cache_ttl=None, max_lag=lag, name="api-lagged") as api:
            await wait_listening(api.spec.port)
            say(f"throughput with a commit every {LIVE_COMMIT_EVERY_S:g} s, max lag {lag} s")
            lagged = await live_throughput(run, api, targets, "throughput-cached-lagged")
            out["throughput_cached_lagged"] = lagged | {"max_lag_s": o.max_lag_s}
    return out


# Filters that pass every row of a condition in the built data (each url holds `rtsp`, each ip
# starts `10.`). Outside the matrix and its targets: measured to show what such a page costs
# (every passing row is read for the exact total, then sorted for the page).
BROAD = (("search", "rtsp"), ("ip", "10."))


async def broad_pass(run: Run, conditions: list[str]) -> list[dict[str, Any]]:
    """The first page of each condition under each broad filter, on a connection of the api's
    read pool, `repeats` times after one warm-up: its total and median ms."""
    o = run.options
    pool = await make_read_pool(run.database_url, size=1)
    conn = await pool.acquire()
    out: list[dict[str, Any]] = []
    try:
        for condition in conditions:
            for filter_, value in BROAD:
                combo = Combo(condition, "disconnections_count", "desc", filter_, value)
                timed = [
                    await indexed(conn, combo, page=1, per_page=o.per_page)
                    for _ in range(o.repeats + 1)
                ]
                out.append(
                    {
                        "condition": condition,
                        "filter": f"{filter_}={value}",
                        "total": timed[-1].total,
                        "p50_ms": list_report.stats([t.ms for t in timed[1:]])["p50"],
                    }
                )
    except Exception as exc:  # the read path may have changed under us: report, go on
        run.notes.append(f"broad-filter pass skipped: {exc!r}")
        return []
    finally:
        await pool.release(conn)
        await pool.close()
    return out


async def direct_pass(run: Run, requests: list[dict[str, Any]], combos: dict[str, Combo]) -> Any:
    """The api's read path without HTTP, `repeats` times per request; None if it fails.
    On a connection of the api's own read pool (its planner settings)."""
    pool = await make_read_pool(run.database_url, size=1)
    conn = await pool.acquire()
    out: list[dict[str, Any]] = [{"ms": []} for _ in requests]
    try:
        for _ in range(run.options.repeats):
            for r, row in zip(requests, out, strict=True):
                timed = await indexed(
                    conn, combos[r["label"]], page=r["page"], per_page=run.options.per_page
                )
                row["ms"].append(timed.ms)
                row["total"], row["uuids"] = timed.total, timed.uuids
    except Exception as exc:  # the read path may have changed under us: report, go on
        run.notes.append(f"direct read-path pass skipped: {exc!r}")
        return None
    finally:
        await pool.release(conn)
        await pool.close()
    return out


async def naive_pass(
    run: Run, requests: list[dict[str, Any]], combos: dict[str, Combo], built_ms: int
) -> list[dict[str, Any] | None]:
    """The requests (all, or a seeded sample) answered the naive way, once each."""
    o = run.options
    windows = windows_ms()
    rng = random.Random(o.seed)
    chosen = [rng.random() < o.naive_sample for _ in requests]
    conn = await pg.connect(run.database_url)
    out: list[dict[str, Any] | None] = []
    started = time.monotonic()
    done = cut = 0
    try:
        await conn.execute(f"SET statement_timeout = {int(o.naive_timeout_s * 1000)}")
        for r, pick in zip(requests, chosen, strict=True):
            if not pick:
                out.append(None)
                continue
            timed = await naive(
                conn,
                combos[r["label"]],
                page=r["page"],
                per_page=o.per_page,
                built_ms=built_ms,
                windows=windows,
            )
            out.append(asdict(timed))
            done += 1
            cut += timed.timed_out
            if done % 100 == 0:
                say(
                    f"naive: {done:,}/{sum(chosen):,} in {time.monotonic() - started:.0f} s "
                    f"({cut} cut at {o.naive_timeout_s:g} s)"
                )
    finally:
        await conn.close()
    return out


def naive_sanity(
    requests: list[dict[str, Any]],
    answers: list[dict[str, Any]],
    naive: list[dict[str, Any] | None],
) -> dict[str, Any]:
    """The naive totals and pages against the api's, where the naive query finished."""
    compared = total_equal = page_equal = 0
    mismatches: list[str] = []
    for r, a, n in zip(requests, answers, naive, strict=True):
        if n is None or n["timed_out"] or n["error"] or a["status"] != 200:
            continue
        compared += 1
        total_equal += n["total"] == a["total"]
        page_equal += n["uuids"] == a["uuids"]
        if (n["total"] != a["total"] or n["uuids"] != a["uuids"]) and len(mismatches) < 10:
            mismatches.append(f"{r['label']} {r['page_type']} p{r['page']}")
    return {
        "compared": compared,
        "total_equal": total_equal,
        "page_equal": page_equal,
        "mismatches": mismatches,
    }


def direct_sanity(
    requests: list[dict[str, Any]], answers: list[dict[str, Any]], direct: list[dict[str, Any]]
) -> int:
    """How many direct read-path answers differ from the api's (total or page)."""
    return sum(
        1
        for a, d in zip(answers, direct, strict=True)
        if a["status"] == 200 and (a["total"] != d["total"] or a["uuids"] != d["uuids"])
    )


def uncommitted_digest() -> str:
    """sha256 (12 hex) of `git diff HEAD -- services shared`: which uncommitted code ran."""
    diff = subprocess.run(
        ["git", "-C", str(REPO), "diff", "HEAD", "--", "services", "shared"],
        capture_output=True,
        check=False,
    ).stdout
    return hashlib.sha256(diff).hexdigest()[:12] if diff else "none"


def _versions() -> dict[str, str]:
    out = {}
    for name in ("uvicorn", "fastapi", "starlette", "sqlalchemy", "asyncpg"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    for name, what in (("uvloop", "loop"), ("httptools", "http")):
        try:
            metadata.version(name)
            out[what] = name
        except metadata.PackageNotFoundError:
            out[what] = "asyncio" if what == "loop" else "h11"
    return out


async def benchmark(run: Run) -> dict[str, Any]:
    """All phases; the raw document."""
    o = run.options
    started_utc = report.utc_now()
    load_at_start = os.getloadavg()
    list_data.check_words()
    build, built_now = await prepare_database(run)
    conn = await pg.connect(run.database_url)
    try:
        data = await list_data.facts(conn, run.spec)
    finally:
        await conn.close()
    combos = matrix(run.spec.filters())
    by_label = {c.label: c for c in combos}
    diff_digest = uncommitted_digest()  # as the api starts
    api = await api_phases(run, combos)
    (run.log_dir / "api-phases.json").write_bytes(
        orjson.dumps(api, default=str, option=orjson.OPT_NON_STR_KEYS)
    )
    requests, answers = api["requests"], api["answers"]
    say(f"direct read path: {o.repeats} x {len(requests):,} (no HTTP)")
    direct = await direct_pass(run, requests, by_label)
    conditions = sorted({c.condition for c in combos}, key=lambda c: (c != "*", c))
    say(f"broad filters: {len(conditions) * len(BROAD)} first pages (no HTTP)")
    broad = await broad_pass(run, conditions)
    naive_rows: list[dict[str, Any] | None] | None = None
    if not o.skip_naive:
        say(
            f"naive: {o.naive_sample:.0%} of {len(requests):,} requests, statement_timeout "
            f"{o.naive_timeout_s:g} s"
        )
        naive_rows = await naive_pass(run, requests, by_label, int(build["built_ms"]))
    pgs = await server_facts(run.database_url)
    machine = report.machine(REPO, pgs.get("server_version", "unknown"))
    machine.update({k: v for k, v in pgs.items() if k != "server_version"}, **_versions())
    machine["uncommitted_diff_sha256"] = diff_digest
    if API_REF in os.environ:  # the bench re-ran itself on --api-ref's code: that revision's
        machine.update(commit=os.environ[API_REF], uncommitted_changes=False)
        machine["uncommitted_diff_sha256"] = None
    elif uncommitted_digest() != diff_digest:
        run.notes.append(
            "services/ or shared/ had other uncommitted changes by the end of the run than when "
            "the api started: the api ran the code named above"
        )
    hidden = ("out_dir", "results", "database_url", "py_spy")
    doc: dict[str, Any] = {
        "run_id": run.run_id,
        "started_utc": started_utc,
        "machine": machine,
        "parameters": {k: v for k, v in asdict(o).items() if k not in hidden},
        "database": run.database,
        "read_path": read_path(),
        "load_average_at_start": load_at_start,
        "build": build,
        "built_now": built_now,
        "data": data,
        "filters": run.spec.filters(),
        "requests_count": len(requests),
        "check": api["check"],
        "latency": api["latency"],
        "throughput": api["throughput"],
        "throughput_first": api["throughput_first"],
        "throughput_cached": api["throughput_cached"],
        "latency_cached": api["latency_cached"],
        "throughput_first_cached": api["throughput_first_cached"],
        "throughput_cached_live": api["throughput_cached_live"],
        "throughput_cached_lagged": api.get("throughput_cached_lagged"),
        "api_peak_rss_kb": api.get("api_peak_rss_kb"),
        "api_cached_peak_rss_kb": api.get("api_cached_peak_rss_kb"),
        "requests": [dict(r) for r in requests],
        "latency_samples": api["latency_samples"],
    }
    if "profile" in api:
        doc["profile"] = api["profile"]
    if direct is not None:
        doc["direct_ms"] = [d["ms"] for d in direct]
        differ = direct_sanity(requests, answers, direct)
        if differ:
            run.notes.append(f"{differ} direct read-path answers differ from the api's")
    if naive_rows is not None:
        doc["naive"] = list_report.naive_summary(
            requests, naive_rows, api["latency_samples"], direct, o.naive_timeout_s * 1000
        )
        doc["naive_sanity"] = naive_sanity(requests, answers, naive_rows)
        doc["naive_rows"] = [
            None if n is None else {k: v for k, v in n.items() if k != "uuids"} for n in naive_rows
        ]
        s = doc["naive_sanity"]
        if s["mismatches"]:
            run.notes.append(f"naive answers that differ from the api's: {s['mismatches']}")
    check = api["check"]
    run.notes.append(
        f"{check['is_actual_items']:,} of {check['items']:,} items served in the check pass "
        "had is_actual true (every tenth server is an hour stale)"
    )
    if direct is not None:
        d_all = list_report.stats([ms for d in direct for ms in d["ms"]])
        h_all = api["latency"]["groups"]["all"]
        run.notes.append(
            f"the read path's SQL alone (one connection of the api's read pool, no HTTP): p50 "
            f"{d_all['p50']:.1f} ms, p99 {d_all['p99']:.1f} ms, i.e. "
            f"{d_all['p50'] / h_all['p50']:.0%} of the api's p50 (the rest: HTTP, routing, JSON "
            "and the pool in the api process, and the client)"
        )
    if broad:
        run.notes.append(list_report.broad_line(broad))
    rss, cached_rss = api.get("api_peak_rss_kb"), api.get("api_cached_peak_rss_kb")
    if rss:
        run.notes.append(
            f"api peak RSS {rss / 1024:.0f} MiB"
            + (f" (with the page cache on: {cached_rss / 1024:.0f} MiB)" if cached_rss else "")
        )
    doc["notes"] = run.notes
    return doc


def write_outputs(run: Run, doc: dict[str, Any]) -> None:
    """Raw JSON to bench/out/, the section to RESULTS.md and stdout."""
    o = run.options
    o.out_dir.mkdir(parents=True, exist_ok=True)
    raw = o.out_dir / f"{run.run_id}.json"
    raw.write_bytes(
        orjson.dumps(doc, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    with_method = o.results is None or not list_report.has_method(o.results)
    section = list_report.markdown(doc, with_method=with_method)
    print("\n" + section)
    if o.results is not None:
        list_report.append(o.results, section)
        say(f"appended to {o.results}")
    say(f"raw numbers: {raw}")


async def cleanup(run: Run) -> None:
    """Drop the database unless it is to be kept."""
    if not run.database:
        return
    if run.options.keep_db:
        say(f"kept database {run.database} (--reuse-db reuses it; drop it with DROP DATABASE)")
        return
    try:
        await pg.drop_databases(run.options.database_url, [run.database])
        say(f"cleanup: dropped database {run.database}")
    except Exception as exc:
        say(f"cleanup: could not drop database {run.database}: {exc!r}")


async def amain(options: Options) -> int:
    """Run the benchmark; clean up on any exit, SIGTERM included."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    run_id = time.strftime("%Y%m%dt%H%M%S", time.gmtime()) + secrets.token_hex(2)
    run = Run(options=options, run_id=run_id)
    say(f"run {run_id}: logs in {run.log_dir}")
    try:
        doc = await benchmark(run)
    finally:
        await cleanup(run)
    write_outputs(run, doc)
    return 0


# Set when the bench re-runs itself on another revision's code (--api-ref): its commit.
API_REF = "STREAM_HEALTH_BENCH_API_REF"


def _on_revision(ref: str, argv: list[str]) -> NoReturn:
    """Run this bench again with the revision's packages first on PYTHONPATH: the api, its
    migrations, the data build and the product code the bench calls are then that
    revision's; the bench's own modules stay the working tree's."""
    export = Path(tempfile.mkdtemp(prefix="bench-api-ref-"))
    commit, roots = source.export_revision(REPO, ref, export)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*roots, str(REPO), env.get("PYTHONPATH", "")])
    env[API_REF] = f"{commit[:7]} (--api-ref {ref})"
    say(f"running the api of {commit[:7]} from {export}")
    os.execve(sys.executable, [sys.executable, "-m", "bench.list_endpoint", *argv], env)


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit 1 with the api's log tail when it fails."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    if options.api_ref is not None and API_REF not in os.environ:
        _on_revision(options.api_ref, argv)  # the same arguments: the rerun sees API_REF set
    try:
        return asyncio.run(amain(options))
    except (WorkerError, RuntimeError) as exc:
        print(f"bench: failed: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
