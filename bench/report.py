"""Machine facts, the summary of a run, bench/RESULTS.md and the raw JSON."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from bench.kafka_io import Rate
from bench.measure import WorkerRun
from bench.pg import Statement

TARGET_RATE = 50_000.0
TARGET_RATIO = 0.5
TARGET_BYTES_PER_STREAM = 1024.0
MIB = 1024 * 1024

HEADER = """# Benchmarks

## Worker throughput (`make bench`: `python -m bench.worker_throughput`)

Method. One run pre-produces synthetic media-server events (SPEC 2.1; default 3,000,000 over
100,000 streams and 50 servers, ~90% `stream:reconnect`, ~7% `stream:state` of which ~5%
"disabled", ~3% `service:pulse`; deterministic from a seed; timestamps spread over the 30
minutes before production) to a fresh topic with `topic_partitions` partitions, then repeats
a pair of measurements over that same topic:

1. the bare loop: one aiokafka consumer with no group reads every partition from the
   beginning to its end offset and discards the records (5,000 records per `getmany`);
2. the worker: `stream-health worker` as a process with a fresh database (migrated) and a
   fresh consumer group, timed from spawn until the sum of `consumer_offsets.next_offset`
   over the events topic equals the number produced, the `outbox` table (if any) is empty
   and no window is behind its admin-list rows (flagged `list_dirty` up to migration 0016,
   numbered above its partition's list mark from 0017; if the schema records either).
   "after ready" rates start the clock at the first `GET /readyz` 200 instead.

Memory: VmRSS every 0.5 s and VmHWM from `/proc/<pid>/status`. The baseline is a separate
worker started on empty topics, sampled 3 s after `/readyz` (the loaded worker starts
consuming before `/readyz` answers, so its RSS at ready already holds some streams; it is
shown for reference). RSS per stream = (peak RSS - idle baseline) / distinct streams; the
difference also holds the consumer's fetch buffers and the batch being applied, so it
overstates the per-stream cost of a worker that keeps little per stream.

`make bench BENCH_ARGS="--worker-ref HEAD"` measures the worker (and migrations) of a git
revision instead of the working tree; `--help` lists the other flags (`--events`, `--streams`,
`--repeats`, `--timeout`, `--profile`, ...).

Targets: worker >= 50,000 events/s; worker/bare-loop ratio >= 0.5 (ratio of medians);
<= 1 KiB RSS per stream held. The machine is small and noisy: read medians, not single runs.
Raw numbers of every run: `bench/out/<run id>.json` (not committed).
"""


@dataclass(slots=True)
class Repeat:
    """One (bare loop, worker) pair."""

    index: int
    bare: Rate
    worker: WorkerRun
    footprint: dict[str, int] = field(default_factory=dict)
    other_inputs: dict[str, int] = field(default_factory=dict)  # records left on other inputs
    outputs: dict[str, int] = field(default_factory=dict)  # records published (changes, dlq)
    oldest_event_age_s: float = 0.0
    statements: list[Statement] = field(default_factory=list)  # PostgreSQL's busiest
    wal: dict[str, int] = field(default_factory=dict)  # the server's WAL while the worker ran


def _run(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def kafka_version(repo: Path) -> str:
    """The broker version the local stack runs (from its jar), or `unknown`."""
    jars = sorted(repo.glob(".stack/kafka/libs-*/kafka_2.13-*.jar"))
    if not jars:
        return os.environ.get("KAFKA_VERSION", "unknown")
    return jars[-1].name.removeprefix("kafka_2.13-").removesuffix(".jar")


def machine(repo: Path, postgres_version: str) -> dict[str, Any]:
    """What the numbers were measured on, and which code."""
    dirty = bool(_run("git", "-C", str(repo), "status", "--porcelain"))
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": kafka_version(repo),
        "postgres": postgres_version,
        "commit": _run("git", "-C", str(repo), "rev-parse", "--short", "HEAD") or "unknown",
        "uncommitted_changes": dirty,
    }


def summarize(repeats: list[Repeat], *, idle_rss_kb: int, streams: int) -> dict[str, Any]:
    """Medians over the repeats, the ratio of medians, and the memory per stream."""
    bare = median(r.bare.per_s for r in repeats)
    worker = median(r.worker.rate for r in repeats)
    after_ready = [r.worker.rate_from_ready for r in repeats if r.worker.rate_from_ready]
    peak = median(r.worker.peak_rss_kb for r in repeats)
    per_stream = (peak - idle_rss_kb) * 1024 / max(streams, 1)
    return {
        "bare_events_per_s": bare,
        "worker_events_per_s": worker,
        "worker_events_per_s_after_ready": median(after_ready) if after_ready else None,
        "ratio": worker / bare if bare else 0.0,
        "peak_rss_kb": peak,
        "idle_rss_kb": idle_rss_kb,
        "rss_bytes_per_stream": per_stream,
        "cpu_cores": cpu_cores(repeats),
        "cpu_us_per_event": cpu_per_event(repeats),
        "targets_met": {
            "events_per_s": worker >= TARGET_RATE,
            "ratio": bare > 0 and worker / bare >= TARGET_RATIO,
            "rss_per_stream": per_stream <= TARGET_BYTES_PER_STREAM,
        },
    }


def _mib(kb: float | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _row(r: Repeat, idle_kb: int, streams: int) -> str:
    w = r.worker
    per_stream = (w.peak_rss_kb - idle_kb) * 1024 / max(streams, 1)
    cells = [
        str(r.index + 1),
        _num(r.bare.per_s),
        _num(w.rate),
        _num(w.seconds, 1),
        _num(w.ready_s, 1),
        _num(w.rate_from_ready),
        f"{w.rate / r.bare.per_s:.2f}" if r.bare.per_s else "-",
        _mib(w.rss_ready_kb),
        _mib(w.peak_rss_kb),
        _num(per_stream),
    ]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = (
    "| repeat | bare loop ev/s | worker ev/s | worker s | ready s | worker ev/s after ready "
    "| ratio | RSS at ready MiB | peak RSS MiB | RSS B/stream |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def markdown(doc: dict[str, Any], repeats: list[Repeat]) -> str:
    """The dated section appended to bench/RESULTS.md."""
    m, p, s = doc["machine"], doc["parameters"], doc["summary"]
    prod, gen = doc["produce"], doc["generated"]
    streams = gen["distinct_streams"]
    code = m["commit"] + (" + uncommitted changes" if m["uncommitted_changes"] else "")
    code += f"; worker from {m.get('worker_code', 'working tree')}"
    tuning = m.get("worker_tuning") or {}
    code += "; worker settings: " + (
        ", ".join(f"{k}={v}" for k, v in sorted(tuning.items())) or "defaults"
    )
    types = ", ".join(f"{k} {v:,}" for k, v in sorted(gen["types"].items()))
    lines = [
        f"### {doc['started_utc']} UTC, run `{doc['run_id']}`",
        "",
        f"- machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}; Python {m['python']}; Kafka {m['kafka']}; "
        f"PostgreSQL {m['postgres']}; code {code}",
        f"- parameters: {p['events']:,} events ({types}); {p['streams']:,} streams "
        f"({streams:,} touched); {p['servers']} servers; {p['partitions']} partitions; "
        f"seed {p['seed']}; repeats: {p['repeats']}; timestamps over the "
        f"{p['span_s'] / 60:.0f} min before production",
        f"- produced in {prod['seconds']:.1f} s: {prod['events_per_s']:,.0f} events/s, "
        f"{prod['mb_per_s']:.1f} MB/s of values (uncompressed, 512 KiB batches, acks=all)",
        f"- idle worker RSS (empty topics, 3 s after /readyz): {_mib(s['idle_rss_kb'])} MiB",
        "",
        TABLE_HEAD,
        *(_row(r, s["idle_rss_kb"], streams) for r in repeats),
        f"| median | {_num(s['bare_events_per_s'])} | {_num(s['worker_events_per_s'])} | | | "
        f"{_num(s['worker_events_per_s_after_ready'])} | {s['ratio']:.2f} | | "
        f"{_mib(s['peak_rss_kb'])} | {_num(s['rss_bytes_per_stream'])} |",
        "",
        f"- worker: {s['worker_events_per_s']:,.0f} events/s (target >= 50,000: "
        f"{_met(s['targets_met']['events_per_s'])})",
        f"- ratio of medians worker/bare loop: {s['ratio']:.2f} (target >= 0.5: "
        f"{_met(s['targets_met']['ratio'])})",
        f"- RSS per stream: {s['rss_bytes_per_stream']:,.0f} B (target <= 1 KiB: "
        f"{_met(s['targets_met']['rss_per_stream'])})",
        *markdown_cpu(repeats),
        *_notes(doc, repeats),
        "",
    ]
    return "\n".join(lines)


def cpu_cores(repeats: list[Repeat]) -> dict[str, float]:
    """Per CPU account (worker, postgres, kafka, bench, other, busy), the median over the
    repeats of its CPU seconds per wall second of the worker run: cores kept busy."""
    return _per_account(repeats, lambda w: w.seconds)


# The processes of the product's stack: what a run of it needs, whatever else the machine runs.
STACK = ("worker", "postgres", "kafka")


def cpu_per_event(repeats: list[Repeat]) -> dict[str, float]:
    """Per CPU account, the median over the repeats of its CPU µs per event consumed."""
    return _per_account(repeats, lambda w: w.records / 1e6)


def _per_account(repeats: list[Repeat], per: Callable[[WorkerRun], float]) -> dict[str, float]:
    """Per CPU account, the median over the accounted repeats of its CPU s over `per(run)`."""
    runs = [r.worker for r in repeats if r.worker.cpu_s and per(r.worker) > 0]
    keys = sorted({k for w in runs for k in w.cpu_s})
    return {k: median(w.cpu_s.get(k, 0.0) / per(w) for w in runs) for k in keys}


def markdown_cpu(repeats: list[Repeat], *, cpus: int | None = None) -> list[str]:
    """The CPU lines of a RESULTS.md section (none when no run was accounted): cores kept busy,
    then CPU per event and the rates it allows on `cpus` (default: this machine's)."""
    cores = cpu_cores(repeats)
    if not cores:
        return []
    cpus = cpus or os.cpu_count() or 1
    busy = cores.pop("busy", 0.0)
    parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items(), key=lambda kv: -kv[1]))
    per_event = cpu_per_event(repeats)
    per_event.pop("busy", None)
    spent = ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_event.items(), key=lambda kv: -kv[1]))
    stack = sum(per_event.get(k, 0.0) for k in STACK)
    worker = per_event.get("worker", 0.0)
    lines = [
        f"- CPU during the worker runs, in cores (CPU s per wall s, median of repeats): {parts}; "
        f"machine busy {busy:.2f} of {cpus}",
        f"- CPU per event consumed, in µs (median of repeats): {spent}",
    ]
    if stack > 0 and worker > 0:
        lines.append(
            f"- what that CPU allows: the stack ({' + '.join(STACK)}, {stack:.1f} µs an event) "
            f"on {cpus} cores, every core busy all the time: at most "
            f"{cpus * 1e6 / stack:,.0f} events/s; the worker's {worker:.1f} µs on its one "
            f"thread alone: at most {1e6 / worker:,.0f} events/s"
        )
    return lines


def _notes(doc: dict[str, Any], repeats: list[Repeat]) -> list[str]:
    notes = [f"- note: {n}" for n in doc.get("notes", [])]
    footprint = repeats[-1].footprint if repeats else {}
    if footprint:
        rows = ", ".join(
            f"{k.removeprefix('rows.')} {v:,}"
            for k, v in footprint.items()
            if k.startswith("rows.")
        )
        size = footprint.get("database_bytes", 0) / 2**20
        notes.append(f"- database after the last repeat: {size:.0f} MiB; rows: {rows}")
        updated = {
            k.removeprefix("updated."): v for k, v in footprint.items() if k.startswith("updated.")
        }
        if updated:
            shares = ", ".join(
                f"{table} {n:,} ({footprint.get(f'hot_updated.{table}', 0) / n:.0%} HOT)"
                for table, n in sorted(updated.items(), key=lambda kv: -kv[1])
            )
            notes.append(f"- rows updated in the last repeat (HOT: no index entry): {shares}")
    if repeats and repeats[-1].statements:
        last = repeats[-1]
        notes.append(
            f"- PostgreSQL's busiest statements in the last repeat (execution time over its "
            f"{last.worker.seconds:.0f} s; pg_stat_statements):"
        )
        notes += [
            f"  - {s.exec_ms / 1000:.1f} s, {s.calls:,} calls, {s.rows:,} rows, "
            f"WAL {s.wal_bytes / MIB:,.0f} MiB ({s.wal_fpi:,} full pages): `{s.query}`"
            for s in last.statements[:6]
        ]
    if repeats and repeats[-1].wal:
        wal = repeats[-1].wal
        notes.append(
            f"- WAL written while the last repeat's worker ran (the whole server): "
            f"{wal['wal_bytes'] / MIB:,.0f} MiB, {wal['wal_fpi']:,} full-page images; "
            f"checkpoints {wal['checkpoints_timed']} timed, {wal['checkpoints_req']} requested "
            "(a requested one: max_wal_size worth of WAL since the last)"
        )
    if repeats:
        published = ", ".join(f"{k} {v:,}" for k, v in repeats[-1].outputs.items())
        notes.append(f"- published by the last repeat: {published or 'nothing'}")
    return notes


def append_results(path: Path, section: str) -> None:
    """Append `section` to RESULTS.md, writing the method header first if the file is new."""
    if not path.exists():
        path.write_text(HEADER)
    with path.open("a") as handle:
        handle.write("\n" + section)


def utc_now() -> str:
    """`2026-11-21 05:40` in UTC."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())
