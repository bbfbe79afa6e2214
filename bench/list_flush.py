"""The list flush in PostgreSQL: what `save_listing` costs to add rows, and to move the counts
of rows already there.

The worker writes the admin-list rows of the streams whose windows moved, many batches' worth
at a time: the rows of a stream that entered a condition are inserted, and those of a stream
that reconnected again get its new counts. This runs `save_listing` as the worker's list
flush does (each partition's streams in one transaction, two lanes of partitions at once on
two connections) over synthetic streams, with no Kafka and no worker process:

- round 0 lists every stream in an empty list (about 2.5 rows a stream: `*`, `incorrect`,
  and some `problematic` and `disabled`), as the worker benchmark's final flush does;
- each later round moves the counts of a share of the streams (`--moved`, default all), as a
  flush after a busy interval or a caught-up backlog does.

The baseline, in the same run: the same schema with stream_list_facts at another fillfactor
(`--baseline-fillfactor`, default 85: the setting before migration 0016). Each repeat runs
both, on their own databases, the order alternating. Reported per round kind: wall seconds
(median of repeats), PostgreSQL CPU seconds, the facts rows updated and how many of them HOT
(a new version on the row's own page, no index entry), and the tables' sizes at the end.

    python -m bench.list_flush --streams 100000 --rounds 3 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import cpu, pg, report
from bench.worker_throughput import REPO
from stream_health.config.settings import load_settings
from stream_health.db.listing import ListedStream, save_listing
from stream_health.db.migrate import upgrade_async

LANES = 2
SHIPPED = "shipped"
BASELINE = "baseline"
TITLE = "## List flush (`python -m bench.list_flush`)"
_XACT = (  # a (condition, stream) row is one row of each table: stream_list counts them
    "SELECT coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'stream_list'), 0), "
    "coalesce(sum(n_tup_upd) FILTER (WHERE relname = 'stream_list'), 0), "
    "coalesce(sum(n_tup_upd) FILTER (WHERE relname = 'stream_list_facts'), 0), "
    "coalesce(sum(n_tup_hot_upd) FILTER (WHERE relname = 'stream_list_facts'), 0) "
    "FROM pg_stat_xact_user_tables WHERE relname IN ('stream_list', 'stream_list_facts')"
)
_SIZES = (
    "SELECT relname, pg_relation_size(relid) AS heap, pg_indexes_size(relid) AS indexes "
    "FROM pg_stat_user_tables WHERE relname IN ('stream_list', 'stream_list_facts')"
)


def make_streams(streams: int, *, partitions: int, seed: int) -> list[list[ListedStream]]:
    """Per partition, its streams as a list flush holds them: every one listed."""
    rng = random.Random(seed)
    parts: list[list[ListedStream]] = [[] for _ in range(partitions)]
    for n in range(streams):
        conditions = ["*", "incorrect"]
        if rng.random() < 0.4:
            conditions.append("problematic")
        if rng.random() < 0.12:
            conditions.append("disabled")
        attempt = rng.randrange(1, 99)
        parts[n % partitions].append(
            ListedStream(
                uid=f"{rng.getrandbits(128):032x}",
                conditions=tuple(sorted(conditions)),
                counts=tuple(rng.randrange(1, 50) for _ in conditions),
                reconnect_attempt=attempt,
                reconnect_total=attempt * 10,
                reconnect_ms=1_700_000_000_000 + rng.randrange(10**9),
                facts=True,  # a stream's first flush writes its facts rows
            )
        )
    return parts


def moved(
    parts: list[list[ListedStream]], *, round_: int, share: float, seed: int
) -> list[list[ListedStream]]:
    """The streams whose counts moved in round `round_` (a `share` of them), with the counts
    as that round has them; the others are not flushed (their windows did not move)."""
    rng = random.Random(seed * 1_000 + round_)
    return [
        [
            replace(
                s,
                counts=tuple(c + round_ for c in s.counts),
                reconnect_attempt=(s.reconnect_attempt or 0) + round_,
                reconnect_total=(s.reconnect_total or 0) + round_,
                reconnect_ms=(s.reconnect_ms or 0) + round_,
                facts=False,
            )
            for s in part
            if rng.random() < share
        ]
        for part in parts
    ]


@dataclass(slots=True)
class Round:
    """One flush of every partition."""

    kind: str  # "insert" or "update"
    seconds: float
    postgres_cpu_s: float
    streams: int
    inserted: int  # (condition, stream) rows
    updated: int
    facts_updated: int
    facts_hot: int
    wal: dict[str, int] = field(default_factory=dict)  # the server's, moved during the round


@dataclass(slots=True)
class Repeat:
    """One variant's rounds, and its tables' sizes after them."""

    variant: str
    rounds: list[Round] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)


async def _flush_partition(conn: Any, streams: list[ListedStream]) -> tuple[int, int, int, int]:
    # This backend's counts not reported yet (earlier transactions' too): the difference.
    async with conn.transaction():
        before = await conn.fetchrow(_XACT)
        await save_listing(conn, streams=streams)
        after = await conn.fetchrow(_XACT)
    inserted, updated, facts_updated, facts_hot = (int(after[i]) - int(before[i]) for i in range(4))
    return inserted, updated, facts_updated, facts_hot


async def flush_round(url: str, parts: list[list[ListedStream]], kind: str) -> Round:
    """Flush every partition, two lanes of partitions at once, and measure it."""
    lanes = [list(range(len(parts)))[i::LANES] for i in range(LANES)]
    conns = [await pg.connect(url) for _ in lanes]
    try:
        totals = [0, 0, 0, 0]

        async def lane(conn: Any, partitions: list[int]) -> None:
            for p in partitions:
                if parts[p]:
                    for i, n in enumerate(await _flush_partition(conn, parts[p])):
                        totals[i] += n

        wal_before = await pg.wal_counters(conns[0])
        before, started = cpu.snapshot({}), time.perf_counter()
        await asyncio.gather(*(lane(c, ps) for c, ps in zip(conns, lanes, strict=True)))
        seconds = time.perf_counter() - started
        spent = cpu.split(before, cpu.snapshot({}))
        wal = pg.counters_moved(wal_before, await pg.wal_counters(conns[0]))
    finally:
        for conn in conns:
            await conn.close()
    inserted, updated, facts_updated, facts_hot = totals
    return Round(
        kind,
        seconds,
        spent["postgres"],
        sum(map(len, parts)),
        inserted,
        updated,
        facts_updated,
        facts_hot,
        wal,
    )


async def store_windows(conn: Any, parts: list[list[ListedStream]]) -> None:
    """A stored window per stream (list rows are of stored windows, keyed by their list key),
    numbered in the order streams were made: unrelated to their uids' order, as in a worker."""
    await conn.execute(
        "INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, present, "
        "deleted_ms, versions, enabled, increased, managed) "
        "SELECT u.uid, u.partition, '', '{}', 0, true, 0, '', true, false, true "
        "FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS u(uid, partition, n) ORDER BY n",
        [s.uid for part in parts for s in part],
        [p for p, part in enumerate(parts) for _ in part],
    )


async def run_variant(
    base_url: str, name: str, fillfactor: int | None, o: Options, parts: list[list[ListedStream]]
) -> Repeat:
    """A fresh database at head (the baseline with its fillfactor), then every round."""
    url = await pg.create_database(base_url, name)
    try:
        await upgrade_async(url)
        conn = await pg.connect(url)
        try:
            if fillfactor is not None:
                await conn.execute(f"ALTER TABLE stream_list_facts SET (fillfactor = {fillfactor})")
            await store_windows(conn, parts)
            await conn.execute("CHECKPOINT")
            repeat = Repeat(SHIPPED if fillfactor is None else BASELINE)
            repeat.rounds.append(await flush_round(url, parts, "insert"))
            for r in range(1, o.rounds + 1):
                round_parts = moved(parts, round_=r, share=o.moved, seed=o.seed)
                repeat.rounds.append(await flush_round(url, round_parts, "update"))
            for row in await conn.fetch(_SIZES):
                repeat.sizes[f"{row['relname']}.heap"] = int(row["heap"])
                repeat.sizes[f"{row['relname']}.indexes"] = int(row["indexes"])
        finally:
            await conn.close()
    finally:
        await pg.drop_databases(base_url, [name])
    return repeat


@dataclass(frozen=True, slots=True)
class Options:
    """The command line."""

    streams: int
    partitions: int
    rounds: int
    moved: float
    repeats: int
    seed: int
    baseline_fillfactor: int
    results: Path | None
    out_dir: Path


def summarize(repeats: list[Repeat]) -> dict[str, dict[str, Any]]:
    """Per variant and round kind: medians over repeats (update rounds pooled)."""
    out: dict[str, dict[str, Any]] = {}
    for variant in (SHIPPED, BASELINE):
        mine = [r for r in repeats if r.variant == variant]
        if not mine:
            continue
        per: dict[str, Any] = {}
        for kind in ("insert", "update"):
            rounds = [x for r in mine for x in r.rounds if x.kind == kind]
            if not rounds:
                continue
            rows = statistics.median(x.inserted + x.updated for x in rounds)
            updated = sum(x.facts_updated for x in rounds)
            per[kind] = {
                "rounds": len(rounds),
                "seconds": statistics.median(x.seconds for x in rounds),
                "postgres_cpu_s": statistics.median(x.postgres_cpu_s for x in rounds),
                "rows_written": rows,
                "facts_hot_share": sum(x.facts_hot for x in rounds) / updated if updated else None,
                "wal_bytes": statistics.median(x.wal.get("wal_bytes", 0) for x in rounds),
                "wal_fpi": statistics.median(x.wal.get("wal_fpi", 0) for x in rounds),
                "checkpoints": statistics.median(
                    x.wal.get("checkpoints_timed", 0) + x.wal.get("checkpoints_req", 0)
                    for x in rounds
                ),
            }
        per["sizes"] = {k: statistics.median(r.sizes[k] for r in mine) for k in mine[-1].sizes}
        out[variant] = per
    return out


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def markdown(doc: dict[str, Any]) -> str:
    """The dated section for RESULTS.md."""
    o, m, s = doc["options"], doc["machine"], doc["summary"]
    lines = [
        f"### {doc['started']} UTC, list flush",
        "",
        f"- machine: {m['cpus']} CPUs, PostgreSQL {m['postgres']}; code {m['commit']}"
        + (" (uncommitted changes)" if m["uncommitted_changes"] else ""),
        f"- {o['streams']:,} streams over {o['partitions']} partitions, {LANES} lanes; "
        f"{o['rounds']} update rounds moving {o['moved']:.0%} of the streams each; "
        f"{o['repeats']} repeats; baseline: stream_list_facts at fillfactor "
        f"{o['baseline_fillfactor']}",
        "",
        "| variant | round | rounds | wall s (median) | PostgreSQL CPU s | rows written "
        "| facts updates HOT | WAL (full pages) | checkpoints |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, per in s.items():
        for kind in ("insert", "update"):
            if kind not in per:
                continue
            k = per[kind]
            hot = "" if k["facts_hot_share"] is None else f"{k['facts_hot_share']:.0%}"
            lines.append(
                f"| {variant} | {kind} | {k['rounds']} | {k['seconds']:.2f} | "
                f"{k['postgres_cpu_s']:.1f} | {k['rows_written']:,.0f} | {hot} | "
                f"{_mb(k['wal_bytes'])} ({k['wal_fpi']:,.0f}) | {k['checkpoints']:.0f} |"
            )
    lines.append("")
    for variant, per in s.items():
        sizes = ", ".join(f"{k} {_mb(v)}" for k, v in per["sizes"].items())
        lines.append(f"- sizes after the rounds, {variant}: {sizes}")
    if SHIPPED in s and BASELINE in s:
        for kind in ("insert", "update"):
            if kind in s[SHIPPED] and kind in s[BASELINE]:
                ratio = s[SHIPPED][kind]["seconds"] / s[BASELINE][kind]["seconds"]
                lines.append(f"- {kind} rounds, shipped / baseline wall time: {ratio:.2f}")
    return "\n".join(lines) + "\n"


def parse(argv: Sequence[str] | None) -> Options:
    """The command line, as Options."""
    parser = argparse.ArgumentParser(prog="python -m bench.list_flush", description=__doc__)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3, help="update rounds after the insert")
    parser.add_argument("--moved", type=float, default=1.0, help="share of streams each moves")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-fillfactor", type=int, default=85)
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    a = parser.parse_args(argv)
    if not 0 < a.moved <= 1:
        parser.error("--moved is a share: more than 0, at most 1")
    if not 10 <= a.baseline_fillfactor <= 100:
        parser.error("--baseline-fillfactor is a fillfactor: 10 to 100")
    return Options(
        streams=a.streams,
        partitions=a.partitions,
        rounds=a.rounds,
        moved=a.moved,
        repeats=a.repeats,
        seed=a.seed,
        baseline_fillfactor=a.baseline_fillfactor,
        results=None if a.no_results else REPO / "bench" / "RESULTS.md",
        out_dir=a.out,
    )


async def amain(o: Options) -> dict[str, Any]:
    """Every repeat of both variants; the document the report is made from."""
    base_url = load_settings().database_url
    started = report.utc_now()
    conn = await pg.connect(base_url, "postgres")
    try:
        version = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    parts = make_streams(o.streams, partitions=o.partitions, seed=o.seed)
    repeats: list[Repeat] = []
    for n in range(o.repeats):
        order = [None, o.baseline_fillfactor]
        for fillfactor in order if n % 2 == 0 else order[::-1]:
            name = f"stream_health_bench_flush_{'shipped' if fillfactor is None else 'baseline'}"
            repeat = await run_variant(base_url, name, fillfactor, o, parts)
            repeats.append(repeat)
            walls = ", ".join(f"{x.kind} {x.seconds:.2f}s" for x in repeat.rounds)
            print(f"bench: repeat {n + 1}/{o.repeats} {repeat.variant}: {walls}", flush=True)
    return {
        "started": started,
        "options": {k: v for k, v in asdict(o).items() if k not in ("results", "out_dir")},
        "machine": report.machine(REPO, version),
        "repeats": [asdict(r) for r in repeats],
        "summary": summarize(repeats),
    }


def main(argv: Sequence[str] | None = None) -> int:
    o = parse(argv)
    doc = asyncio.run(amain(o))
    o.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["started"].replace(" ", "t").replace("-", "").replace(":", "")
    (o.out_dir / f"list_flush_{stamp}.json").write_text(json.dumps(doc, indent=2))
    section = markdown(doc)
    if o.results is not None:
        method = TITLE not in o.results.read_text()
        with o.results.open("a") as handle:
            if method:
                handle.write("\n" + TITLE + "\n\n" + __doc__.split("\n\n", 1)[1])
            handle.write("\n" + section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
