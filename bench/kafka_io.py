"""Kafka side of the benchmark: the run's topics, a fast producer, the bare consume loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream_health.config.settings import TopicNames
from stream_health.kafka.topics import ensure_topics, topic_specs

BATCH_BYTES = 512 * 1024  # below the broker's default message.max.bytes (1 MiB)
FETCH_RECORDS = 5_000  # what the worker's subscriber asks for per batch


@dataclass(frozen=True, slots=True)
class Rate:
    """A count of records over a wall-clock duration."""

    records: int
    seconds: float

    @property
    def per_s(self) -> float:
        """Records per second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


def run_topics(run_id: str) -> TopicNames:
    """Every topic of the worker, each name prefixed by `bench.<run_id>.`."""
    defaults = TopicNames().model_dump()
    return TopicNames(**{name: f"bench.{run_id}.{value}" for name, value in defaults.items()})


async def create_topics(bootstrap: str, topics: TopicNames, partitions: int) -> None:
    """Create the run's topics as the worker would (snapshot topics compacted); wait for leaders."""
    specs = topic_specs(topics, partitions=partitions)
    await ensure_topics(bootstrap, specs)
    await _wait_for_leaders(bootstrap, [s.name for s in specs])
    await end_offsets(bootstrap, [s.name for s in specs], partitions)  # answers once leaders serve


async def _wait_for_leaders(bootstrap: str, names: list[str], timeout_s: float = 30.0) -> None:
    """Poll the metadata until every partition of `names` has a leader (no produce retries)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            described = await admin.describe_topics(names)
            partitions = [p for t in described for p in t["partitions"] or [{"leader": -1}]]
            if all(t["error_code"] == 0 for t in described) and all(
                p["error_code"] == 0 and p["leader"] >= 0 for p in partitions
            ):
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Iterable[str]) -> list[str]:
    """Delete those of `names` that exist; return the names deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        present = set(await admin.list_topics())
        doomed = sorted(set(names) & present)
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=60_000)
        return doomed
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, events: Iterable[tuple[int, bytes, bytes]]) -> Rate:
    """Send (partition, key, value) records in large uncompressed batches; time until acked."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-producer",
        acks="all",
        max_batch_size=BATCH_BYTES,
        max_request_size=2 * BATCH_BYTES,
        linger_ms=200,
        request_timeout_ms=120_000,
    )
    started = time.perf_counter()
    await producer.start()
    try:
        count = await _send_batches(producer, topic, events)
    finally:
        await producer.stop()
    return Rate(count, time.perf_counter() - started)


async def _send_batches(
    producer: AIOKafkaProducer, topic: str, events: Iterable[tuple[int, bytes, bytes]]
) -> int:
    """Fill one batch per partition; submit it when full; wait for every acknowledgement."""
    builders: dict[int, Any] = {}
    acks: list[asyncio.Future[Any]] = []
    count = 0
    for partition, key, value in events:
        builder = builders.get(partition) or builders.setdefault(partition, producer.create_batch())
        if builder.append(key=key, value=value, timestamp=None) is None:
            acks.append(await producer.send_batch(builder, topic, partition=partition))
            builder = builders[partition] = producer.create_batch()
            builder.append(key=key, value=value, timestamp=None)
            await asyncio.sleep(0)  # let the sender drain while we generate
        count += 1
    for partition, builder in builders.items():
        if builder.record_count():
            acks.append(await producer.send_batch(builder, topic, partition=partition))
    await asyncio.gather(*acks)
    return count


async def bare_consume(bootstrap: str, topic: str, partitions: int) -> Rate:
    """Read every partition from the beginning to its end offset with no group; discard."""
    started = time.perf_counter()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="bench-bare-consumer",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        count = await _drain(consumer, ends)
    finally:
        await consumer.stop()
    return Rate(count, time.perf_counter() - started)


async def _drain(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> int:
    """Fetch until every partition's position reaches its end offset; count the records."""
    remaining = {tp for tp, end in ends.items() if end > 0}
    count = 0
    while remaining:
        batches = await consumer.getmany(timeout_ms=1_000, max_records=FETCH_RECORDS)
        for tp, records in batches.items():
            count += len(records)
            if records and records[-1].offset + 1 >= ends[tp]:
                remaining.discard(tp)
    return count


async def end_offsets(
    bootstrap: str, topics: Iterable[str], partitions: int
) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset (how many records it holds, on a fresh topic)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()
