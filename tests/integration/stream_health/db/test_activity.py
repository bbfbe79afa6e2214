"""Server activity (`is_actual`) and statistics (`server.extra`): newest wins, each on its own
time, whatever order batches of different partitions commit in; real PostgreSQL."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from stream_health.db.activity import ServerSeen, record_activity
from stream_health.db.engine import plain_dsn


@pytest.fixture
async def conn(migrated_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(migrated_database_url))
    yield connection
    await connection.close()


async def _row(conn: asyncpg.Connection, domain: str) -> tuple[Any, ...]:
    row = await conn.fetchrow(
        "SELECT last_event_ms, last_event_type, extra::text AS extra, extra_ms "
        "FROM server_activity WHERE domain = $1",
        domain,
    )
    assert row is not None
    return row["last_event_ms"], row["last_event_type"], row["extra"], row["extra_ms"]


async def test_the_latest_event_and_the_latest_statistics_each_win_on_their_own_time(
    conn: asyncpg.Connection,
) -> None:
    domain = f"ms-{uuid.uuid4().hex[:8]}.vms.local"
    # Batches of different partitions commit in any order: a later commit may hold an older
    # pulse than the one stored, behind a newer event of another kind.
    batches = [
        ServerSeen(200, "service:pulse", {"cpu": 2}, 200),
        ServerSeen(300, "stream:reconnect", {"cpu": 1}, 100),
        ServerSeen(250, "service:up"),
        ServerSeen(280, "service:pulse", {"cpu": 3}, 280),
        ServerSeen(280, "service:pulse", {"cpu": 3}, 280),  # a repeat
        ServerSeen(310, "stream:state"),  # no statistics: the stored ones stay
    ]
    rows = []
    for seen in batches:
        async with conn.transaction():
            await record_activity(conn, seen={domain: seen})
        rows.append(await _row(conn, domain))
    await conn.execute("DELETE FROM server_activity WHERE domain = $1", domain)

    assert rows == [
        (200, "service:pulse", '{"cpu":2}', 200),
        (300, "stream:reconnect", '{"cpu":2}', 200),
        (300, "stream:reconnect", '{"cpu":2}', 200),
        (300, "stream:reconnect", '{"cpu":3}', 280),
        (300, "stream:reconnect", '{"cpu":3}', 280),
        (310, "stream:state", '{"cpu":3}', 280),
    ]
