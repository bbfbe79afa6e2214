"""Create the SPEC's topics when absent: inputs, outputs; snapshots compacted."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from stream_health.config.settings import TopicNames


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic as it should exist on the cluster."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(topics: TopicNames, *, partitions: int) -> list[TopicSpec]:
    """Every topic of SPEC section 2, the snapshot ones compacted."""
    compact = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    names = [*topics.inputs, topics.changes, topics.dlq]
    return [
        TopicSpec(name, partitions, dict(compact) if name in topics.compacted else {})
        for name in dict.fromkeys(names)
    ]


async def ensure_topics(
    bootstrap: str, specs: list[TopicSpec], *, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="stream-health-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.config)
                for s in missing
            ]
        )
        created = []
        for topic, code, message in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif not isinstance(for_code(code)(), TopicAlreadyExistsError):
                raise for_code(code)(f"creating topic {topic}: {message}")
        return created
    finally:
        await admin.close()
