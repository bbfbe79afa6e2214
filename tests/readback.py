"""Read the product's outputs back for assertions: a topic from the real broker, whole;
the admin-list rows that stored windows call for."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_health.domain.classify import listed_counts
from stream_health.domain.stream import Rules, StreamWindow
from tests.conftest import base_settings


async def read_all(topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) on `topic` now, partition by partition, in offset order."""
    consumer = AIOKafkaConsumer(
        topic,  # no group: every partition is assigned to this consumer
        bootstrap_servers=base_settings().kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = sorted(consumer.assignment())
        while not partitions:
            await asyncio.sleep(0.1)
            partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = {}
        while True:
            behind = [tp for tp, end in ends.items() if await consumer.position(tp) < end]
            if not behind:
                break
            batches = await consumer.getmany(*behind, timeout_ms=500)
            for tp, batch in batches.items():
                records.setdefault(tp, []).extend((r.key, r.value) for r in batch)
        return [item for tp in sorted(records) for item in records[tp]]
    finally:
        await consumer.stop()


def listed_rows(
    windows: Mapping[str, StreamWindow], rules: Rules, at_ms: int
) -> dict[tuple[str, str], int]:
    """(uid, condition) -> disconnections: the list rows the windows call for at `at_ms`."""
    return {
        (uid, name): count
        for uid, window in windows.items()
        for name, count in listed_counts(window, rules, at_ms=at_ms).items()
    }
