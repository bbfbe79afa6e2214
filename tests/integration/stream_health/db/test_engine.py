import logging
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stream_health.db.engine import (
    driver_connection,
    make_engine,
    make_read_pool,
    make_sessions,
    plain_dsn,
)
from stream_health.logs import JsonFormatter

STREAM_URL = "rtsp://admin:cam3ra-Pa55@10.0.0.7:554/live"


async def test_a_failed_statement_logs_neither_its_parameters_nor_a_password(
    migrated_database_url: str,
) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            with pytest.raises(DBAPIError) as caught:
                await session.execute(text("SELECT CAST(:doc AS int)"), {"doc": STREAM_URL})
    finally:
        await engine.dispose()
    record = logging.makeLogRecord({"msg": "worker.batch_failed", "levelno": logging.ERROR})
    record.exc_info = (caught.type, caught.value, caught.tb)

    line = JsonFormatter().format(record)

    assert "parameters hidden" in str(caught.value)  # SQLAlchemy does not list them
    assert "cam3ra-Pa55" in str(caught.value)  # but the driver's message quotes the value...
    assert "cam3ra-Pa55" not in line  # ...which the log line masks
    assert "rtsp://admin:***@10.0.0.7" in line


class _Batch:
    """Stands for what a caller's context holds while it queries (FastStream: the batch)."""


_HOLDING: ContextVar[_Batch | None] = ContextVar("holding", default=None)


async def _held_after(query: Callable[[str], Awaitable[object]]) -> weakref.ref[_Batch]:
    """Run a statement no connection has prepared yet while the context holds a batch; a
    reference to the batch once the context no longer does."""
    batch = _Batch()
    token = _HOLDING.set(batch)
    try:
        await query(f"SELECT {id(batch)}::bigint AS n")  # a text new to the statement cache
    finally:
        _HOLDING.reset(token)
    return weakref.ref(batch)


async def test_a_prepared_statement_keeps_nothing_of_its_callers_context(
    migrated_database_url: str,
) -> None:
    # Checked while the connection is still held: releasing one to a pool sets the pool's
    # idle timer in the releaser's context (one per pooled connection, not per statement).
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            conn = await driver_connection(session)
            held = await _held_after(conn.fetch)
            assert held() is None  # freed at once, not when a statement timer fires minutes later
    finally:
        await engine.dispose()
    pool = await make_read_pool(migrated_database_url, size=1)
    try:
        async with pool.acquire() as conn:
            read = await _held_after(conn.fetch)
            assert read() is None
    finally:
        await pool.close()


async def test_the_read_pool_returns_a_connection_without_a_reset_round_trip(
    migrated_database_url: str,
) -> None:
    pool = await make_read_pool(migrated_database_url, size=1)
    observer = await asyncpg.connect(plain_dsn(migrated_database_url))
    try:
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
            await conn.fetchval("SELECT 'the last statement of the request'")
        # Released: the backend's latest statement is still the request's, nothing ran after it.
        last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        assert last == "SELECT 'the last statement of the request'"
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")  # a transaction left open is still rolled back
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
    finally:
        await observer.close()
        await pool.close()
