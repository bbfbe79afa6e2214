import asyncio
import itertools
import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.settings import TopicNames
from stream_health.db import repository
from stream_health.db.engine import make_engine, make_sessions
from stream_health_worker.ingest import apply_batch
from stream_health_worker.records import topic_roles


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None


def _events(topic: str, partition: int, offsets: range) -> list[Record]:
    body = orjson.dumps({"event": "stream:reconnect", "data": {"uid": "u"}})
    return [Record(topic, partition, o, body) for o in offsets]


async def _read_back(
    sessions: async_sessionmaker[AsyncSession], group: str, topic: str
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, int], int]]:
    async with sessions() as session:
        counts = await repository.consumed_counts(session)
        offsets = await repository.load_offsets(session, consumer_group=group, topics=[topic])
    return counts, offsets


async def test_a_redelivered_batch_has_no_effect(migrated_database_url: str) -> None:
    topics = TopicNames(media_events=f"ev-{uuid.uuid4().hex}")
    engine = make_engine(migrated_database_url)
    sessions = make_sessions(engine)
    group = f"g-{uuid.uuid4().hex}"
    roles = topic_roles(topics)
    try:
        first = await apply_batch(
            sessions,
            consumer_group=group,
            roles=roles,
            records=_events(topics.media_events, 0, range(10)),
        )
        # After a crash the consumer re-reads from an older position: offsets 5..14.
        second = await apply_batch(
            sessions,
            consumer_group=group,
            roles=roles,
            records=_events(topics.media_events, 0, range(5, 15)),
        )
        counts, offsets = await _read_back(sessions, group, topics.media_events)
    finally:
        await engine.dispose()

    assert first.applied[(topics.media_events, "stream:reconnect")] == 10
    assert second.applied[(topics.media_events, "stream:reconnect")] == 5
    assert second.skipped[topics.media_events] == 5
    assert counts[(topics.media_events, "stream:reconnect")] == 15
    assert offsets == {(topics.media_events, 0): 15}


async def test_two_owners_of_one_partition_never_double_count(migrated_database_url: str) -> None:
    # A rebalance can leave the old and the new owner reading the same records at once:
    # each owner reads its partitions in order, in batches cut at different places.
    topics = TopicNames(media_events=f"ev-{uuid.uuid4().hex}")
    engine = make_engine(migrated_database_url, pool_size=10)
    sessions = make_sessions(engine)
    group = f"g-{uuid.uuid4().hex}"
    roles = topic_roles(topics)

    async def owner(cuts: list[int]) -> None:
        for start, end in itertools.pairwise(cuts):
            records = [
                r for p in (0, 1) for r in _events(topics.media_events, p, range(start, end))
            ]
            await apply_batch(sessions, consumer_group=group, roles=roles, records=records)

    try:
        await asyncio.gather(
            owner([0, 50, 100, 200]), owner([0, 30, 60, 90, 120, 200]), owner([0, 200])
        )
        counts, offsets = await _read_back(sessions, group, topics.media_events)
    finally:
        await engine.dispose()

    assert counts[(topics.media_events, "stream:reconnect")] == 400  # 200 offsets x 2 partitions
    assert offsets == {(topics.media_events, 0): 200, (topics.media_events, 1): 200}
