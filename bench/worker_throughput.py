"""Worker throughput: pre-produce media-server events, then time a bare consume loop and the worker.

Run from the repository root: `.venv/bin/python -m bench.worker_throughput --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import kafka_io, pg, report
from bench.events import Generator, Tally, build_fleet
from bench.measure import WorkerError, WorkerSpec, idle_rss, run_worker
from bench.profiling import profiled, top_cumulative
from bench.source import compile_bytecode, export_revision, package_roots
from stream_health.config.settings import TopicNames, load_settings

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "stream-health"  # the venv's command, beside its python
PROBLEMATIC_PERIOD_S = 3600  # the default `problematic` window: events older than this drop out
# The worker's tuning variables (never secrets): a run records those it was given.
TUNING = ("STREAM_HEALTH_BATCH_RECORDS", "STREAM_HEALTH_FETCH_PARTITION_BYTES")


@dataclass(frozen=True, slots=True)
class Options:
    """The command line."""

    events: int
    streams: int
    servers: int
    partitions: int
    seed: int
    repeats: int
    timeout_s: float
    span_s: float
    settle_s: float
    profile: bool
    out_dir: Path
    results: Path | None
    bootstrap: str
    database_url: str
    worker_ref: str | None


@dataclass(slots=True)
class Run:
    """One benchmark run: its id, its topics, and the databases it must drop."""

    options: Options
    run_id: str
    topics: TopicNames
    idle_topics: TopicNames
    databases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pythonpath: list[str] = field(default_factory=list)  # import roots of --worker-ref
    worker_code: str = "working tree"

    @property
    def log_dir(self) -> Path:
        """Where the worker logs of this run go."""
        return self.options.out_dir / self.run_id


def parse_args(argv: Sequence[str] | None) -> Options:
    """Flags, with defaults from the issue and from the environment's settings."""
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bench.worker_throughput", description=__doc__)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--partitions", type=int, default=settings.topic_partitions)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per worker run")
    parser.add_argument("--span-minutes", type=float, default=30.0, help="event timestamps span")
    parser.add_argument("--settle", type=float, default=3.0, help="idle baseline: s after ready")
    parser.add_argument("--profile", action="store_true", help="one extra, profiled worker run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument(
        "--worker-ref", help="run the worker (and migrations) of this git revision, e.g. HEAD"
    )
    args = parser.parse_args(argv)
    if not CLI.exists():
        parser.error(f"{CLI} not found: run with the venv's python (.venv/bin/python -m ...)")
    if min(args.events, args.streams, args.servers, args.partitions, args.repeats) < 1:
        parser.error("--events, --streams, --servers, --partitions and --repeats must be >= 1")
    return Options(
        events=args.events,
        streams=args.streams,
        servers=args.servers,
        partitions=args.partitions,
        seed=args.seed,
        repeats=args.repeats,
        timeout_s=args.timeout,
        span_s=args.span_minutes * 60,
        settle_s=args.settle,
        profile=args.profile,
        out_dir=args.out,
        results=None if args.no_results else args.results,
        bootstrap=settings.kafka_bootstrap,
        database_url=settings.database_url,
        worker_ref=args.worker_ref,
    )


def say(message: str) -> None:
    """One progress line."""
    print(f"bench: {message}", flush=True)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_run(options: Options) -> Run:
    """A run id that is a valid topic and database name fragment, and the run's topics."""
    run_id = time.strftime("%Y%m%dt%H%M%S", time.gmtime()) + secrets.token_hex(2)
    return Run(
        options=options,
        run_id=run_id,
        topics=kafka_io.run_topics(run_id),
        idle_topics=kafka_io.run_topics(f"{run_id}.idle"),
    )


async def produce_events(run: Run) -> tuple[dict[str, Any], Tally, float]:
    """Generate and send the events; (produce numbers, what was generated, production time)."""
    o = run.options
    fleet = build_fleet(
        random.Random(o.seed), streams=o.streams, servers=o.servers, partitions=o.partitions
    )
    generator = Generator(fleet, seed=o.seed)
    now = time.time()
    end_ms = int(now * 1000)
    events = generator.events(o.events, start_ms=end_ms - int(o.span_s * 1000), end_ms=end_ms)
    rate = await kafka_io.produce(o.bootstrap, run.topics.media_events, events)
    ends = await kafka_io.end_offsets(o.bootstrap, [run.topics.media_events], o.partitions)
    if sum(ends.values()) != o.events:
        raise RuntimeError(f"topic holds {sum(ends.values())} records, expected {o.events}")
    mb = generator.tally.value_bytes / 1e6
    say(
        f"produced {rate.records:,} events ({mb:,.0f} MB) in {rate.seconds:.1f} s = "
        f"{rate.per_s:,.0f} events/s, {mb / rate.seconds:.1f} MB/s (generation included)"
    )
    numbers = {"seconds": rate.seconds, "events_per_s": rate.per_s, "mb": mb}
    numbers["mb_per_s"] = mb / rate.seconds
    return numbers, generator.tally, now


def worker_env(
    run: Run, *, topics: TopicNames, database_url: str, group: str, port: int
) -> dict[str, str]:
    """This environment, pointed at the run's database, topics, group and a free port."""
    env = dict(os.environ)
    env.update(
        STREAM_HEALTH_KAFKA_BOOTSTRAP=run.options.bootstrap,
        STREAM_HEALTH_DATABASE_URL=database_url,
        STREAM_HEALTH_CONSUMER_GROUP=group,
        STREAM_HEALTH_WORKER_HOST="127.0.0.1",
        STREAM_HEALTH_WORKER_PORT=str(port),
        STREAM_HEALTH_TOPIC_PARTITIONS=str(run.options.partitions),
    )
    for name, value in topics.model_dump().items():
        env[f"STREAM_HEALTH_TOPICS__{name.upper()}"] = value
    if run.pythonpath:
        parts = [*run.pythonpath, env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(part for part in parts if part)
    return env


async def migrate(env: dict[str, str]) -> None:
    """`stream-health migrate` against the env's database; fail with its output."""
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "migrate",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        tail = "\n".join(output.decode(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"stream-health migrate failed ({process.returncode}):\n{tail}")


async def worker_setup(run: Run, label: str, topics: TopicNames) -> tuple[WorkerSpec, str, str]:
    """A fresh, migrated database and a spec for a worker on it: (spec, database url, group)."""
    name = f"stream_health_bench_{run.run_id}_{label}"
    run.databases.append(name)
    database_url = await pg.create_database(run.options.database_url, name)
    group = f"bench-{run.run_id}-{label}"
    port = free_port()
    env = worker_env(run, topics=topics, database_url=database_url, group=group, port=port)
    await migrate(env)
    argv = [str(CLI), "worker"]
    spec = WorkerSpec(argv=argv, env=env, port=port, log_path=run.log_dir / f"worker-{label}.log")
    return spec, database_url, group


async def idle_baseline(run: Run) -> int:
    """RSS (KiB) of a worker on empty topics, `settle` seconds after it is ready."""
    await kafka_io.create_topics(run.options.bootstrap, run.idle_topics, run.options.partitions)
    spec, _, _ = await worker_setup(run, "idle", run.idle_topics)
    ready_s, rss = await idle_rss(
        spec, settle_s=run.options.settle_s, timeout_s=run.options.timeout_s
    )
    say(f"idle worker: ready {ready_s:.1f} s after spawn, RSS {rss / 1024:.1f} MiB")
    return rss


async def bare_loop(run: Run, index: int) -> kafka_io.Rate:
    """The bare consume-and-discard loop over the events topic."""
    o = run.options
    rate = await kafka_io.bare_consume(o.bootstrap, run.topics.media_events, o.partitions)
    if rate.records != o.events:
        raise RuntimeError(f"bare loop read {rate.records} records, expected {o.events}")
    say(
        f"repeat {index + 1}/{o.repeats}: bare loop {rate.records:,} in {rate.seconds:.1f} s "
        f"= {rate.per_s:,.0f} events/s"
    )
    return rate


async def other_inputs_left(run: Run, probe: pg.ProgressProbe) -> dict[str, int]:
    """Records on the worker's other input topics (e.g. internal ones) not yet committed."""
    others = [t for t in run.topics.inputs if t != run.topics.media_events]
    ends = await kafka_io.end_offsets(run.options.bootstrap, others, run.options.partitions)
    committed = await probe.committed_by_topic()
    left: dict[str, int] = {}
    for (topic, partition), end in ends.items():
        if end:
            left[topic] = left.get(topic, 0) + max(0, end - committed.get((topic, partition), 0))
    return left


async def output_counts(run: Run) -> dict[str, int]:
    """Records on the worker's output topics (state changes, dead letters) so far."""
    outputs = [run.topics.changes, run.topics.dlq]
    ends = await kafka_io.end_offsets(run.options.bootstrap, outputs, run.options.partitions)
    return {topic: sum(n for (t, _), n in ends.items() if t == topic) for topic in outputs}


async def worker_repeat(run: Run, index: int, produced_at: float) -> report.Repeat:
    """One worker run over the events topic; with the bare loop run just before it."""
    o = run.options
    bare = await bare_loop(run, index)
    spec, database_url, group = await worker_setup(run, f"r{index + 1}", run.topics)
    age = time.time() - produced_at + o.span_s
    outputs_before = await output_counts(run)
    connection = await pg.connect(database_url)
    try:
        probe = pg.ProgressProbe(connection, group=group, topic=run.topics.media_events)
        counting = await pg.count_statements(connection)
        wal_before = await pg.wal_counters(connection)
        worker = await run_worker(spec, probe, expected=o.events, timeout_s=o.timeout_s)
        wal = pg.counters_moved(wal_before, await pg.wal_counters(connection))
        repeat = report.Repeat(
            index, bare, worker, await probe.footprint(), oldest_event_age_s=age, wal=wal
        )
        repeat.other_inputs = await other_inputs_left(run, probe)
        if counting:
            repeat.statements = await pg.top_statements(connection)
    finally:
        await connection.close()
    after = await output_counts(run)
    repeat.outputs = {t.rsplit(".", 1)[-1]: n - outputs_before[t] for t, n in after.items()}
    _say_worker(run, repeat)
    return repeat


def _say_worker(run: Run, r: report.Repeat) -> None:
    w = r.worker
    after = f"{w.rate_from_ready:,.0f}/s after ready" if w.rate_from_ready else "never ready"
    ready = f"ready at {w.ready_s:.1f} s" if w.ready_s is not None else "no /readyz 200"
    say(
        f"repeat {r.index + 1}/{run.options.repeats}: worker {w.records:,} in {w.seconds:.1f} s "
        f"= {w.rate:,.0f} events/s ({ready}; {after}; offsets done at {w.offsets_s:.1f} s); "
        f"peak RSS {w.peak_rss_kb / 1024:.1f} MiB; ratio {w.rate / r.bare.per_s:.2f}"
    )
    say(f"  published by this worker run: {r.outputs}")
    for s in r.statements:
        say(
            f"  postgres {s.exec_ms / 1000:6.2f} s {s.calls:7,} calls "
            f"{s.wal_bytes / report.MIB:6,.0f} MiB WAL: {s.query}"
        )
    if r.wal:
        say(f"  server WAL while the worker ran: {r.wal}")
    if r.other_inputs:
        say(f"  other inputs not committed at completion: {r.other_inputs}")


async def profile_run(run: Run) -> str:
    """One more worker run under a profiler (not part of the medians); its top functions."""
    spec, database_url, group = await worker_setup(run, "profile", run.topics)
    spec, path = profiled(spec, python=sys.executable, out_dir=run.log_dir)
    connection = await pg.connect(database_url)
    try:
        probe = pg.ProgressProbe(connection, group=group, topic=run.topics.media_events)
        o = run.options
        worker = await run_worker(spec, probe, expected=o.events, timeout_s=o.timeout_s * 3)
    finally:
        await connection.close()
    say(f"profiled worker: {worker.rate:,.0f} events/s under the profiler; profile: {path}")
    top = top_cumulative(path)
    (run.log_dir / "profile-top.txt").write_text(top)
    return top


async def postgres_version(database_url: str) -> str:
    """The server's version string (short form)."""
    connection = await pg.connect(database_url)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


async def benchmark(run: Run) -> tuple[dict[str, Any], list[report.Repeat]]:
    """Produce once, measure the idle baseline, then the (bare loop, worker) repeats."""
    o = run.options
    say(
        f"run {run.run_id}: {o.events:,} events, {o.streams:,} streams, {o.servers} servers, "
        f"{o.partitions} partitions, repeats: {o.repeats}; topics bench.{run.run_id}.*"
    )
    await kafka_io.create_topics(o.bootstrap, run.topics, o.partitions)
    produced, tally, produced_at = await produce_events(run)
    idle_kb = await idle_baseline(run)
    repeats = [await worker_repeat(run, i, produced_at) for i in range(o.repeats)]
    doc = _document(run, produced, tally, repeats, idle_kb)
    doc["machine"] = report.machine(REPO, await postgres_version(o.database_url))
    doc["machine"]["worker_code"] = run.worker_code
    doc["machine"]["worker_tuning"] = {v: os.environ[v] for v in TUNING if v in os.environ}
    if o.profile:
        doc["profile_top"] = await profile_run(run)
        print(doc["profile_top"])
    return doc, repeats


def _document(
    run: Run, produced: dict[str, Any], tally: Tally, repeats: list[report.Repeat], idle_kb: int
) -> dict[str, Any]:
    """Everything measured, as the raw JSON."""
    o = run.options
    oldest = max(r.oldest_event_age_s for r in repeats)
    if oldest > PROBLEMATIC_PERIOD_S:
        run.notes.append(
            f"by the last repeat the oldest events were {oldest / 60:.0f} min old, older than "
            "the default 1 h problematic period, so later repeats saw a slightly lighter window"
        )
    hidden = ("out_dir", "results", "database_url")
    params = {k: v for k, v in asdict(o).items() if k not in hidden}
    generated = {"types": dict(tally.types), "distinct_streams": len(tally.streams)}
    summary = report.summarize(repeats, idle_rss_kb=idle_kb, streams=len(tally.streams))
    return {
        "run_id": run.run_id,
        "started_utc": report.utc_now(),
        "parameters": params,
        "generated": generated,
        "produce": produced,
        "repeats": [_repeat_json(r) for r in repeats],
        "summary": summary,
        "notes": run.notes,
    }


def _repeat_json(r: report.Repeat) -> dict[str, Any]:
    worker = asdict(r.worker) | {"rate": r.worker.rate, "rate_from_ready": r.worker.rate_from_ready}
    return {
        "bare": {"records": r.bare.records, "seconds": r.bare.seconds, "rate": r.bare.per_s},
        "worker": worker,
        "database": r.footprint,
        "other_inputs_left": r.other_inputs,
        "published": r.outputs,
        "oldest_event_age_s": r.oldest_event_age_s,
        "statements": [asdict(s) for s in r.statements],
        "wal": r.wal,
    }


async def cleanup(run: Run) -> None:
    """Delete the run's topics and drop its databases, whatever happened before."""
    o = run.options
    names = [*run.topics.model_dump().values(), *run.idle_topics.model_dump().values()]
    try:
        deleted = await kafka_io.delete_topics(o.bootstrap, names)
        say(f"cleanup: deleted {len(deleted)} topics")
    except Exception as exc:
        say(f"cleanup: could not delete topics bench.{run.run_id}.*: {exc!r}")
    try:
        await pg.drop_databases(o.database_url, run.databases)
        say(f"cleanup: dropped {len(run.databases)} databases")
    except Exception as exc:
        say(f"cleanup: could not drop databases {run.databases}: {exc!r}")


def write_outputs(run: Run, doc: dict[str, Any], repeats: list[report.Repeat]) -> None:
    """Raw JSON to bench/out/, a dated section to RESULTS.md, and the section to stdout."""
    run.options.out_dir.mkdir(parents=True, exist_ok=True)
    raw = run.options.out_dir / f"{run.run_id}.json"
    raw.write_text(json.dumps(doc, indent=2, default=str))
    section = report.markdown(doc, repeats)
    print("\n" + section)
    if run.options.results is not None:
        report.append_results(run.options.results, section)
        say(f"appended to {run.options.results}")
    say(f"raw numbers: {raw}")


async def amain(options: Options) -> int:
    """Run the benchmark; clean up on any exit, SIGTERM included."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    run = new_run(options)
    with tempfile.TemporaryDirectory(prefix=f"stream-health-bench-{run.run_id}-") as src:
        if options.worker_ref:
            commit, run.pythonpath = export_revision(REPO, options.worker_ref, Path(src))
            run.worker_code = f"git {options.worker_ref} = {commit[:10]}"
        say(f"worker code: {run.worker_code}")
        compile_bytecode(run.pythonpath or package_roots(REPO))
        try:
            doc, repeats = await benchmark(run)
        finally:
            await cleanup(run)
    write_outputs(run, doc, repeats)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit 1 with the worker's log tail when it fails."""
    options = parse_args(argv)
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
