"""Queries over the worker's bookkeeping tables; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from stream_health.db.tables import ConsumedCount, ConsumerOffset

# Core columns: typed for queries, unlike the model attributes that hold row values.
_OFFSETS = ConsumerOffset.__table__.c  # type: ignore[attr-defined]
_COUNTS = ConsumedCount.__table__.c  # type: ignore[attr-defined]


class Position(NamedTuple):
    """Where a partition's stored state stands: its next offset, and how many writes that
    consumed no record (drains, reclassifications) moved it; a fence compares both."""

    offset: int
    epoch: int


Key = tuple[str, int]  # (topic, partition)


def offsets_of(positions: Mapping[Key, Position]) -> dict[Key, int]:
    """The offsets of `positions`."""
    return {key: position.offset for key, position in positions.items()}


async def load_positions(
    session: AsyncSession, *, consumer_group: str, topics: Iterable[str]
) -> dict[Key, Position]:
    """The stored position of every partition of `topics` for the group."""
    rows = await session.execute(
        select(_OFFSETS.topic, _OFFSETS.partition, _OFFSETS.next_offset, _OFFSETS.epoch).where(
            _OFFSETS.consumer_group == consumer_group, _OFFSETS.topic.in_(list(topics))
        )
    )
    return {(topic, partition): Position(o, e) for topic, partition, o, e in rows.all()}


async def advance_epochs(
    session: AsyncSession, *, consumer_group: str, partitions: Iterable[Key]
) -> dict[Key, Position]:
    """Add one to the epoch of `partitions` (their rows locked by the caller's transaction,
    which writes their windows without consuming a record); their positions after."""
    ordered = sorted(partitions)
    rows = await session.execute(
        text(
            "UPDATE consumer_offsets o SET epoch = o.epoch + 1 "
            "FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[])) AS x(t, p) "
            "WHERE o.consumer_group = :g AND o.topic = x.t AND o.partition = x.p "
            "RETURNING o.topic, o.partition, o.next_offset, o.epoch"
        ),
        {"g": consumer_group, "topics": [t for t, _ in ordered], "parts": [p for _, p in ordered]},
    )
    return {(topic, partition): Position(o, e) for topic, partition, o, e in rows.all()}


async def load_offsets(
    session: AsyncSession, *, consumer_group: str, topics: Iterable[str]
) -> dict[Key, int]:
    """The stored next offset of every partition of `topics` for the group."""
    return offsets_of(await load_positions(session, consumer_group=consumer_group, topics=topics))


async def save_offsets(
    session: AsyncSession, *, consumer_group: str, offsets: Mapping[tuple[str, int], int]
) -> None:
    """Upsert the next offset of each consumed partition."""
    if not offsets:
        return
    stmt = insert(ConsumerOffset).values(
        [
            {"consumer_group": consumer_group, "topic": t, "partition": p, "next_offset": o}
            for (t, p), o in offsets.items()
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["consumer_group", "topic", "partition"],
            set_={"next_offset": stmt.excluded.next_offset, "updated_at": stmt.excluded.updated_at},
        )
    )


async def add_consumed(session: AsyncSession, *, counts: Mapping[tuple[str, str], int]) -> None:
    """Add to the per-topic, per-type record counters."""
    if not counts:
        return
    stmt = insert(ConsumedCount).values(
        [{"topic": t, "record_type": r, "records": n} for (t, r), n in counts.items()]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["topic", "record_type"],
            set_={"records": _COUNTS.records + stmt.excluded.records},
        )
    )


async def consumed_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Every counter, keyed by (topic, record type)."""
    rows = await session.execute(select(_COUNTS.topic, _COUNTS.record_type, _COUNTS.records))
    return {(topic, kind): n for topic, kind, n in rows.all()}


async def consumer_groups(session: AsyncSession) -> set[str]:
    """The consumer groups that have stored offsets in this database."""
    rows = await session.execute(select(_OFFSETS.consumer_group).distinct())
    return set(rows.scalars().all())
