"""Apply a batch of input records in one PostgreSQL transaction, exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.db import repository
from stream_health_worker.records import TopicRole, record_type


class RawRecord(Protocol):
    """The fields of a Kafka consumer record the worker reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did: records applied by (topic, type), and stale records skipped."""

    applied: Counter[tuple[str, str]]
    skipped: Counter[str]
    next_offsets: dict[tuple[str, int], int]


async def _lock_offsets(
    session: AsyncSession, *, consumer_group: str, partitions: set[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    # Rows exist before they are locked, so two owners of one partition serialise here.
    ordered = sorted(partitions)
    params = {
        "g": consumer_group,
        "topics": [t for t, _ in ordered],
        "parts": [p for _, p in ordered],
    }
    await session.execute(
        text(
            "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
            "SELECT :g, t, p, 0 "
            "FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[])) AS x(t, p) "
            "ON CONFLICT DO NOTHING"
        ),
        params,
    )
    rows = await session.execute(
        text(
            "SELECT o.topic, o.partition, o.next_offset FROM consumer_offsets o "
            "JOIN unnest(CAST(:topics AS text[]), CAST(:parts AS int[])) AS x(t, p) "
            "ON o.topic = x.t AND o.partition = x.p "
            "WHERE o.consumer_group = :g ORDER BY o.topic, o.partition FOR UPDATE OF o"
        ),
        params,
    )
    return {(t, p): o for t, p, o in rows.all()}


async def apply_batch(
    sessions: async_sessionmaker[AsyncSession],
    *,
    consumer_group: str,
    roles: dict[str, TopicRole],
    records: Sequence[RawRecord],
) -> BatchResult:
    """Count the batch's new records and advance the stored offsets, in one transaction.

    A record whose offset is below the stored next offset was applied by an earlier batch
    (a redelivery after a crash or a rebalance): it is skipped, so the effect is exactly once.
    """
    applied: Counter[tuple[str, str]] = Counter()
    skipped: Counter[str] = Counter()
    next_offsets: dict[tuple[str, int], int] = {}
    partitions = {(r.topic, r.partition) for r in records}
    async with sessions() as session, session.begin():
        stored = await _lock_offsets(session, consumer_group=consumer_group, partitions=partitions)
        for record in records:
            key = (record.topic, record.partition)
            if record.offset < max(stored[key], next_offsets.get(key, 0)):
                skipped[record.topic] += 1
                continue
            applied[(record.topic, record_type(roles[record.topic], record.value))] += 1
            next_offsets[key] = record.offset + 1
        await repository.add_consumed(session, counts=applied)
        await repository.save_offsets(session, consumer_group=consumer_group, offsets=next_offsets)
    return BatchResult(applied=applied, skipped=skipped, next_offsets=next_offsets)
