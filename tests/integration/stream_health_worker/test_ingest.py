import asyncio
import itertools
import time
import uuid

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.db import repository
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.domain.stream import Rules
from stream_health_worker.ingest import WorkerContext, apply_batch
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from tests.records import Record

NOW_MS = time.time_ns() // 1_000_000


def _events(topic: str, partition: int, offsets: range) -> list[Record]:
    records = []
    for offset in offsets:
        uid = f"{topic}-{partition}-{offset % 7}"
        body = {
            "event": "stream:reconnect",
            "server": "ms1",
            "pid": partition,
            "seq": offset,
            "timestamp": (NOW_MS - 60_000 + offset) / 1000,
            "data": {"uid": uid},
        }
        records.append(Record(topic, partition, offset, uid.encode(), orjson.dumps(body)))
    return records


def _context(topics: TopicNames, group: str) -> WorkerContext:
    rules = Rules(load_conditions(None))
    return WorkerContext(
        consumer_group=group,
        topics=topics,
        roles=topic_roles(topics),
        owner=WindowOwner(rules=rules, owned_topics=topics.owned_by_stream),
    )


async def _read_back(
    sessions: async_sessionmaker[AsyncSession], group: str, topic: str
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, int], int]]:
    async with sessions() as session:
        counts = await repository.consumed_counts(session)
        offsets = await repository.load_offsets(session, consumer_group=group, topics=[topic])
    return counts, offsets


async def _changes(sessions: async_sessionmaker[AsyncSession], topic: str) -> dict[str, list[int]]:
    """Each stream's change seqs, in outbox order; the rows are then removed.

    These tests run no relay, and their topics do not exist in Kafka: rows left behind
    would hold up the relay of any worker later started on this database.
    """
    async with sessions() as session, session.begin():
        conn = await driver_connection(session)
        rows = await conn.fetch("DELETE FROM outbox WHERE topic = $1 RETURNING id, value", topic)
    rows = sorted(rows, key=lambda row: row["id"])
    seqs: dict[str, list[int]] = {}
    for row in rows:
        change = orjson.loads(row["value"])
        seqs.setdefault(change["stream_uid"], []).append(change["seq"])
    return seqs


def _unique_topics() -> TopicNames:
    tag = uuid.uuid4().hex[:10]
    return TopicNames(media_events=f"ev-{tag}", signals=f"sig-{tag}", changes=f"ch-{tag}")


async def test_a_redelivered_batch_has_no_effect(migrated_database_url: str) -> None:
    topics = _unique_topics()
    engine = make_engine(migrated_database_url)
    sessions = make_sessions(engine)
    group = f"g-{uuid.uuid4().hex}"
    ctx = _context(topics, group)
    try:
        first = await apply_batch(
            sessions, ctx=ctx, records=_events(topics.media_events, 0, range(10)), now_ms=NOW_MS
        )
        # After a crash the consumer re-reads from an older position: offsets 5..14.
        second = await apply_batch(
            sessions,
            ctx=ctx,
            records=_events(topics.media_events, 0, range(5, 15)),
            now_ms=NOW_MS,
        )
        counts, offsets = await _read_back(sessions, group, topics.media_events)
        changes = await _changes(sessions, topics.changes)
    finally:
        await engine.dispose()

    assert first.applied[(topics.media_events, "stream:reconnect")] == 10
    assert second.applied[(topics.media_events, "stream:reconnect")] == 5
    assert second.skipped[topics.media_events] == 5
    assert counts[(topics.media_events, "stream:reconnect")] == 15
    assert offsets == {(topics.media_events, 0): 15}
    # 15 reconnects over 7 streams: each entered incorrect once; 3 reconnects do not reach 5.
    assert changes == {f"{topics.media_events}-0-{i}": [1] for i in range(7)}


async def test_two_owners_of_one_partition_never_double_count(migrated_database_url: str) -> None:
    # A rebalance can leave the old and the new owner reading the same records at once:
    # each owner reads its partitions in order, in batches cut at different places, and
    # each has its own cache of windows, which the offsets fence must keep honest.
    topics = _unique_topics()
    engine = make_engine(migrated_database_url, pool_size=10)
    sessions = make_sessions(engine)
    group = f"g-{uuid.uuid4().hex}"

    async def owner(cuts: list[int]) -> None:
        ctx = _context(topics, group)
        for start, end in itertools.pairwise(cuts):
            records = [
                r for p in (0, 1) for r in _events(topics.media_events, p, range(start, end))
            ]
            await apply_batch(sessions, ctx=ctx, records=records, now_ms=NOW_MS)

    try:
        await asyncio.gather(
            owner([0, 50, 100, 200]), owner([0, 30, 60, 90, 120, 200]), owner([0, 200])
        )
        counts, offsets = await _read_back(sessions, group, topics.media_events)
        changes = await _changes(sessions, topics.changes)
    finally:
        await engine.dispose()

    assert counts[(topics.media_events, "stream:reconnect")] == 400  # 200 offsets x 2 partitions
    assert offsets == {(topics.media_events, 0): 200, (topics.media_events, 1): 200}
    # Every stream got 28 or 29 reconnects: incorrect, then problematic, each exactly once.
    assert changes == {f"{topics.media_events}-{p}-{i}": [1, 2] for p in (0, 1) for i in range(7)}
