import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from stream_health.config.settings import TopicNames
from stream_health.kafka.topics import ensure_topics, topic_specs
from tests.conftest import base_settings

pytestmark = pytest.mark.kafka


async def _topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for _, _, _, name, entries in response.resources:
                configs[name] = {entry[0]: entry[1] for entry in entries}
        return configs
    finally:
        await admin.close()


async def test_topics_are_created_once_with_snapshots_compacted(topics: TopicNames) -> None:
    bootstrap = base_settings().kafka_bootstrap
    specs = topic_specs(topics, partitions=3)

    created = await ensure_topics(bootstrap, specs)
    again = await ensure_topics(bootstrap, specs)

    assert sorted(created) == sorted(s.name for s in specs)
    assert again == []
    configs = await _topic_configs(bootstrap, [s.name for s in specs])
    for spec in specs:
        expected = "compact" if spec.name in topics.compacted else "delete"
        assert configs[spec.name]["cleanup.policy"] == expected, spec.name


async def test_a_record_produced_to_the_broker_is_consumed_back(topics: TopicNames) -> None:
    bootstrap = base_settings().kafka_bootstrap
    await ensure_topics(bootstrap, topic_specs(topics, partitions=3))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(topics.media_events, f"v{i}".encode(), key=b"stream-1")
            for i in range(5)
        ]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topics.media_events,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{topics.media_events}.reader",
    )
    await consumer.start()
    try:
        received: list[bytes] = []
        async with asyncio.timeout(30):
            while len(received) < 5:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    received.extend(r.value for r in records)
    finally:
        await consumer.stop()

    assert received == [b"v0", b"v1", b"v2", b"v3", b"v4"]  # one key: one partition, in order
    assert len({m.partition for m in sent}) == 1
