"""PostgreSQL side of the benchmark: a fresh database per worker run, and progress queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

from stream_health.db.windows import LIST_BEHIND


@dataclass(frozen=True, slots=True)
class Progress:
    """What the worker has committed: the input topic's next offsets, the outbox backlog."""

    committed: int
    # 1 or 0: whether any row is left (read only once every offset is committed); None: not
    # read, or no such table or flag in this schema
    outbox: int | None
    list_dirty: int | None = None


def _url(database_url: str) -> URL:
    return make_url(database_url)


def database_url_for(base_url: str, name: str) -> str:
    """The base DSN pointed at database `name` (password kept, for the worker's env)."""
    return _url(base_url).set(database=name).render_as_string(hide_password=False)


async def connect(database_url: str, database: str | None = None) -> Any:
    """An asyncpg connection to `database` (default: the DSN's own)."""
    url = _url(database_url)
    return await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=database or url.database,
    )


async def create_database(base_url: str, name: str) -> str:
    """Create database `name` afresh (as tests/conftest.py does); return its DSN."""
    admin = await connect(base_url, "postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url_for(base_url, name)


async def drop_databases(base_url: str, names: list[str]) -> None:
    """Drop the given databases, disconnecting anyone still on them."""
    admin = await connect(base_url, "postgres")
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class ProgressProbe:
    """Reads the worker's committed offsets (and outbox backlog) from its database."""

    def __init__(self, connection: Any, *, group: str, topic: str) -> None:
        self._db = connection
        self._group = group
        self._topic = topic
        self._has_outbox: bool | None = None
        self._list_behind: str | None = None  # the query of windows behind their list rows

    async def read(self, *, expected: int) -> Progress:
        """Sum of next_offset over the topic's partitions; once it reaches `expected`, also
        whether the outbox and the list-dirty flags are empty.

        Before that, only the offsets (a couple dozen rows) are read: the other two are scans
        of tables the worker is writing, and polling them all along took a fifth of a core
        from PostgreSQL (13 s of execution in a 63 s run, by pg_stat_statements).
        """
        committed = int(
            await self._db.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                "WHERE consumer_group = $1 AND topic = $2",
                self._group,
                self._topic,
            )
        )
        if committed < expected:
            return Progress(committed=committed, outbox=None)
        if self._has_outbox is None:
            self._has_outbox = bool(
                await self._db.fetchval("SELECT to_regclass('outbox') IS NOT NULL")
            )
        outbox = (
            await self._db.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM outbox ORDER BY id LIMIT 1) o"
            )
            if self._has_outbox
            else None
        )
        if self._list_behind is None:
            self._list_behind = await self._list_behind_query()
        dirty = (
            await self._db.fetchval(f"SELECT count(*) FROM ({self._list_behind} LIMIT 1) d")
            if self._list_behind and not outbox
            else None
        )
        return Progress(
            committed=committed,
            outbox=None if outbox is None else int(outbox),
            list_dirty=None if dirty is None else int(dirty),
        )

    async def _list_behind_query(self) -> str:
        """The query of the windows whose list rows are behind them, as the worker's schema
        (maybe an older revision's, with --worker-ref) records them; "" when it does not."""
        if await self._db.fetchval("SELECT to_regclass('list_marks') IS NOT NULL"):
            return LIST_BEHIND  # migration 0017: a list mark per partition
        flagged = await self._db.fetchval(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'stream_windows' AND column_name = 'list_dirty'"
        )
        # 0007 to 0016: a flag per window.
        return "SELECT uid FROM stream_windows WHERE list_dirty" if flagged else ""

    async def committed_by_topic(self) -> dict[tuple[str, int], int]:
        """Every stored (topic, partition) -> next_offset of the group."""
        rows = await self._db.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
            self._group,
        )
        return {(r["topic"], int(r["partition"])): int(r["next_offset"]) for r in rows}

    async def footprint(self) -> dict[str, int]:
        """Exact rows per table of the public schema, the database's size in bytes, and the rows
        updated per table (with how many of them HOT)."""
        tables = await self._db.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        sizes = {
            "database_bytes": int(
                await self._db.fetchval("SELECT pg_database_size(current_database())")
            )
        }
        for row in tables:
            name = str(row["tablename"])
            sizes[f"rows.{name}"] = int(await self._db.fetchval(f'SELECT count(*) FROM "{name}"'))
        # Rows updated, and of those HOT (no index entry), as reported by the sessions so far
        # (a session reports when it ends, or idle at most every 10 s): read once the worker
        # has stopped, every update of its run.
        for row in await self._db.fetch(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE n_tup_upd > 0"
        ):
            sizes[f"updated.{row['relname']}"] = int(row["n_tup_upd"])
            sizes[f"hot_updated.{row['relname']}"] = int(row["n_tup_hot_upd"])
        return sizes


@dataclass(frozen=True, slots=True)
class Statement:
    """One normalised statement's share of a run, from pg_stat_statements."""

    query: str
    calls: int
    exec_ms: float
    rows: int
    wal_bytes: int = 0  # WAL the statement wrote
    wal_fpi: int = 0  # of which full-page images (a page's first change after a checkpoint)


async def count_statements(connection: Any) -> bool:
    """Start counting this database's statements afresh; False where the server does not
    load pg_stat_statements (the local stack does: deploy/local/postgres.sh)."""
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await connection.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError:
        return False
    return True


async def top_statements(connection: Any, limit: int = 8, width: int = 100) -> list[Statement]:
    """This database's statements with the most execution time since `count_statements`."""
    # One statement on temporary tables gets one entry per session (their oids differ): the
    # entries are summed by text.
    rows = await connection.fetch(
        "SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, sum(calls) AS calls, "
        "sum(total_exec_time) AS total_exec_time, sum(rows) AS rows, "
        "sum(wal_bytes) AS wal_bytes, sum(wal_fpi) AS wal_fpi "
        "FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "GROUP BY 1 ORDER BY 3 DESC LIMIT $1",
        limit,
    )
    return [
        Statement(
            query=r["query"] if len(r["query"]) <= width else r["query"][: width - 4] + " ...",
            calls=int(r["calls"]),
            exec_ms=float(r["total_exec_time"]),
            rows=int(r["rows"]),
            wal_bytes=int(r["wal_bytes"]),
            wal_fpi=int(r["wal_fpi"]),
        )
        for r in rows
    ]


async def wal_counters(connection: Any) -> dict[str, int]:
    """The server's WAL and checkpoint counters so far (every database's): a run's share is
    the difference of two readings."""
    row = await connection.fetchrow(
        "SELECT w.wal_bytes, w.wal_fpi, b.checkpoints_timed, b.checkpoints_req "
        "FROM pg_stat_wal w, pg_stat_bgwriter b"
    )
    return {key: int(value) for key, value in row.items()}


def counters_moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What each counter moved by between two readings."""
    return {key: after[key] - before[key] for key in after}
