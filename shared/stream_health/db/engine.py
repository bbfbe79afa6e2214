"""Engine construction: one per process, built from settings and passed in."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# asyncpg expires each cached prepared statement with a timer set when it is prepared, and a
# timer keeps the context it was set in: whatever the caller's context variables held then
# (FastStream's current message: a whole batch of records) stayed alive for the lifetime,
# 300 s by default. The LRU bound alone keeps the cache small; no timers.
NO_STATEMENT_EXPIRY = 0


def make_engine(database_url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An asyncpg engine that checks connections before use (PostgreSQL may have restarted)."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,  # error messages would quote inventory (stream urls, passwords)
        connect_args={
            "server_settings": {"application_name": "stream-health"},
            "max_cached_statement_lifetime": NO_STATEMENT_EXPIRY,
        },
    )


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside its transaction (for COPY and arrays)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("the session's connection is closed")
    if not driver.is_in_transaction():
        # SQLAlchemy sends its BEGIN with the session's first statement: until one has run,
        # the driver would autocommit what is sent to it directly.
        await connection.exec_driver_sql("SELECT 1")
    return driver


def plain_dsn(database_url: str) -> str:
    """The settings' SQLAlchemy URL as asyncpg's own connection string."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


# The api's reads are many small index walks over a working set PostgreSQL keeps cached,
# run a dozen at once. Parallel workers pay for a page read with two more processes' CPU
# (throughput falls under concurrency), and the default random_page_cost (4, spinning disks)
# makes a filtered page sorted by a list counter hash-join every listed row instead of
# looking up the few hundred that pass. Each statement is planned once per connection (its
# generic plan, kept with asyncpg's prepared statement): planning a list page took ~1 ms,
# more than most pages take to run; its statements are written for it (`MAX_PAGE_ROWS`).
READ_PLANNER = {
    "max_parallel_workers_per_gather": "0",
    "random_page_cost": "1.1",
    "plan_cache_mode": "force_generic_plan",
}
READ_STATEMENTS = 512  # prepared statements kept per connection: a shape per sort, dir, filters


async def _keep_session(connection: Any) -> None:
    """The read pool's reset: nothing to undo. Its users run single statements, outside any
    transaction (asyncpg rolls back one left open), and never SET, LISTEN, take advisory locks
    or open cursors, so asyncpg's default reset (`RESET ALL`, `UNLISTEN *`, `CLOSE ALL` and
    `pg_advisory_unlock_all()`) would be one more round trip per request for nothing: about a
    tenth of a millisecond of the api's CPU and as much of PostgreSQL's, on every page."""


async def make_read_pool(database_url: str, *, size: int = 10) -> Any:
    """A plain asyncpg pool for the api's reads: one round trip per query, no ORM layer."""
    return await asyncpg.create_pool(
        plain_dsn(database_url),
        min_size=1,
        max_size=size,
        statement_cache_size=READ_STATEMENTS,
        max_cached_statement_lifetime=NO_STATEMENT_EXPIRY,
        server_settings={"application_name": "stream-health-api", **READ_PLANNER},
        reset=_keep_session,
    )
