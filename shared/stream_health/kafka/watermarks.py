"""Where each partition of some topics begins and ends now (low and high watermarks)."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Partition = tuple[str, int]


async def partitions(bootstrap: str, topics: Iterable[str]) -> dict[str, list[int]]:
    """Each topic's partition numbers (LookupError naming a topic that does not exist)."""
    names = list(dict.fromkeys(topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="stream-health-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    found = {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described}
    for name in names:
        if not found.get(name):
            raise LookupError(f"topic {name} does not exist")
    return {name: found[name] for name in names}


async def watermarks(bootstrap: str, topics: Iterable[str]) -> dict[Partition, tuple[int, int]]:
    """(first offset still held, next offset to be written) of every partition of `topics`."""
    tps = [
        TopicPartition(topic, p)
        for topic, numbers in (await partitions(bootstrap, topics)).items()
        for p in numbers
    ]
    if not tps:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): (starts[tp], ends[tp]) for tp in tps}
