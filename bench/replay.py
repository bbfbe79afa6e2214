"""The worker's per-batch Python, in process: no Kafka, no PostgreSQL.

Replays the benchmark's synthetic events through what a batch does between its SQL
statements (route and parse each record, run the domain, write the window rows' COPY data
and build the outgoing records), batch by batch as the worker would get them, and reports
microseconds per event. The baseline, in the same process and run, is decoding every value
with orjson (the least any consumer of these records does). This isolates the interpreter's
share of a batch from the broker's and the database's, which `bench.worker_throughput`
measures whole.

    python -m bench.replay --events 300000 --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeAlias

import orjson
from aiokafka.structs import ConsumerRecord

from bench.events import Fleet, Generator, build_fleet
from stream_health.config.settings import Settings
from stream_health_core import window_copy
from stream_health_worker.app import build_rules
from stream_health_worker.apply import Work
from stream_health_worker.ingest import route
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from stream_health_worker.tuning import tune_collector

BATCH = 10_000
Rec: TypeAlias = ConsumerRecord[bytes, bytes]
SPAN_MS = 30 * 60 * 1000


class NoDatabase:
    """Answers the reads a batch makes as for a fresh database: no stored window, no facts."""

    async def fetch(self, _statement: str, *_args: Any) -> list[Any]:
        return []


def make_records(events: int, *, streams: int, partitions: int, seed: int, topic: str) -> list[Rec]:
    """The benchmark's events, as aiokafka hands them to the worker, in production order."""
    rng = random.Random(seed)
    fleet: Fleet = build_fleet(rng, streams=streams, servers=50, partitions=partitions)
    end_ms = time.time_ns() // 1_000_000
    offsets = [0] * partitions
    records = []
    for partition, key, value in Generator(fleet, seed=seed).events(
        events, start_ms=end_ms - SPAN_MS, end_ms=end_ms
    ):
        offset = offsets[partition]
        records.append(
            ConsumerRecord(topic, partition, offset, end_ms, 0, key, value, None, -1, -1, ())
        )
        offsets[partition] += 1
    return records


def replay(records: Sequence[Rec], settings: Settings) -> tuple[float, int, int]:
    """Seconds for every batch's Python; the changes, and the records and rows to write."""
    rules = build_rules(settings)
    topics = settings.topics
    owner = WindowOwner(rules=rules, owned_topics=topics.owned_by_stream)
    roles = topic_roles(topics)
    conn = NoDatabase()
    now_ms = time.time_ns() // 1_000_000
    changes = outgoing = 0
    loop = asyncio.new_event_loop()
    started = time.perf_counter()
    for first in range(0, len(records), BATCH):
        work = Work(owner, topics=topics, now_ms=now_ms)
        route(roles, list(records[first : first + BATCH]), work, Counter())
        loop.run_until_complete(work.apply(conn))
        rows = owner.rows(work.dirty, now_ms=now_ms)
        window_copy(rows)  # the COPY data save_windows sends
        owner.stored(work.dirty)
        changes += len(work.changes)
        outgoing += len(work.outgoing) + len(rows)
    took = time.perf_counter() - started
    loop.close()
    return took, changes, outgoing


def decode_only(records: Sequence[Rec]) -> float:
    """Seconds to decode every value: the baseline."""
    started = time.perf_counter()
    for record in records:
        orjson.loads(record.value or b"null")
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args(argv)
    settings = Settings()
    records = make_records(
        options.events,
        streams=options.streams,
        partitions=options.partitions,
        seed=options.seed,
        topic=settings.topics.media_events,
    )
    tune_collector()  # the worker's collector: start-up frozen, its thresholds
    worker_s, baseline_s = [], []
    produced: set[tuple[int, int]] = set()
    for _ in range(options.repeats):
        baseline_s.append(decode_only(records))
        took, changes, outgoing = replay(records, settings)
        worker_s.append(took)
        produced.add((changes, outgoing))
        gc.collect()
    per_event = statistics.median(worker_s) / len(records) * 1e6
    base = statistics.median(baseline_s) / len(records) * 1e6
    print(f"events {len(records):,}; repeats {options.repeats}")
    print(f"worker Python: median {per_event:.2f} µs/event ({1e6 / per_event:,.0f} events/s)")
    print(f"decode only:   median {base:.2f} µs/event; ratio {per_event / base:.1f}x")
    print(f"outputs per repeat (changes, outgoing): {sorted(produced)}")
    return 0 if len(produced) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
