"""The outbox: records to publish, written in the batch transaction, relayed to Kafka after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary, Text, func
from sqlmodel import Field, SQLModel


class OutboxRow(SQLModel, table=True):
    """A record waiting to be published; deleted once Kafka has acknowledged it."""

    __tablename__ = "outbox"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    topic: str = Field(sa_column=Column(Text, nullable=False))
    key: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record for Kafka: topic, key, value (bytes)."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Pending:
    """An outbox row read by the relay."""

    id: int
    topic: str
    key: bytes | None
    value: bytes


async def enqueue(conn: Any, *, records: Sequence[Outgoing]) -> None:
    """Add records, in order, to the outbox (ids rise in that order)."""
    if not records:
        return
    await conn.copy_records_to_table(
        "outbox",
        records=[(r.topic, r.key, r.value) for r in records],
        columns=("topic", "key", "value"),
    )


async def take(conn: Any, *, limit: int) -> list[Pending]:
    """The oldest committed rows, in id order (per stream, the order they were written)."""
    rows = await conn.fetch("SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1", limit)
    return [Pending(r["id"], r["topic"], r["key"], r["value"]) for r in rows]


async def remove(conn: Any, *, ids: Sequence[int]) -> None:
    """Forget rows Kafka has acknowledged."""
    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", list(ids))


async def newest_id(conn: Any) -> int:
    """The id of the newest row waiting (0 when none)."""
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))


async def waiting(conn: Any, *, up_to_id: int) -> int:
    """How many rows with ids up to `up_to_id` still wait for the relay."""
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE id <= $1", up_to_id))


# Rows counted one by one, at most: beyond, the backlog is estimated from the id range, so
# a relay outage (millions of rows) never turns the gauge refresh into a full scan.
EXACT_BACKLOG_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows waiting for the relay, and the age of the one next in line (0 when none)."""

    rows: int
    oldest_age_s: float


def backlog_rows(*, counted: int, cap: int, first_id: int | None, last_id: int | None) -> int:
    """`counted` when under `cap`; else the id range, an upper bound (ids rise by one per row
    written, and only rows of rolled-back batches leave holes)."""
    if counted < cap or first_id is None or last_id is None:
        return counted
    return max(counted, last_id - first_id + 1)


async def backlog(conn: Any, *, exact_up_to: int = EXACT_BACKLOG_ROWS) -> Backlog:
    """The outbox's backlog: primary-key index reads only, however long the outbox."""
    row = await conn.fetchrow(
        "WITH first AS (SELECT id, created_at FROM outbox ORDER BY id LIMIT 1) "
        "SELECT (SELECT count(*) FROM (SELECT FROM outbox ORDER BY id LIMIT $1) AS capped) "
        "AS counted, (SELECT id FROM first) AS first_id, "
        "(SELECT id FROM outbox ORDER BY id DESC LIMIT 1) AS last_id, "
        "extract(epoch FROM clock_timestamp() - (SELECT created_at FROM first))::float8 "
        "AS oldest_age_s",
        exact_up_to,
    )
    rows = backlog_rows(
        counted=row["counted"], cap=exact_up_to, first_id=row["first_id"], last_id=row["last_id"]
    )
    return Backlog(rows=rows, oldest_age_s=max(0.0, row["oldest_age_s"] or 0.0))
