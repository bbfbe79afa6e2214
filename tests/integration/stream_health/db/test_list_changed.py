"""Migration 0009: every commit to a table the list reads notifies the list's channel once."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

from stream_health.db.engine import plain_dsn
from stream_health.db.listing import (
    CHANGED_CHANNEL,
    ListQuery,
    page_statement,
)

pytestmark = pytest.mark.integration

_CTES = {"passing", "page", "counted", "span", "listed", "shown"}


async def _tables_the_list_reads() -> set[str]:
    statements = []
    for column in ("stream_id", "disconnections"):  # a facts column, a hot one
        for filtered in ({}, {"search": "lobby"}, {"ip": "10.1."}, {"domain": "a.vms.local"}):
            query = ListQuery(
                condition="*", sort_column=column, descending=False, limit=25, offset=0, **filtered
            )
            statements.append(page_statement(query)[0])
    named = {t for sql in statements for t in re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", sql)}
    return named - _CTES


async def test_every_table_the_list_reads_notifies_and_no_other(
    migrated_database_url: str,
) -> None:
    read = await _tables_the_list_reads()
    conn = await asyncpg.connect(plain_dsn(migrated_database_url))
    try:
        triggered = {
            row["table"]
            for row in await conn.fetch(
                "SELECT t.tgrelid::regclass::text AS table FROM pg_trigger t "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'stream_health_list_changed'"
            )
        }
    finally:
        await conn.close()

    assert "stream_windows" in read  # the extraction works
    assert "server_activity" in read
    assert triggered == read


async def _heard(listener: asyncpg.Connection, heard: list[str], settle_s: float = 0.3) -> None:
    # A notification travels on commit; a trivial round trip after the wait flushes any.
    await asyncio.sleep(settle_s)
    await listener.fetchval("SELECT 1")


@pytest.mark.parametrize("table", ["stream_windows", "inventory_servers", "condition_counts"])
async def test_a_commit_notifies_once_and_a_rollback_not_at_all(
    migrated_database_url: str, table: str
) -> None:
    dsn = plain_dsn(migrated_database_url)
    listener, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    heard: list[str] = []
    try:
        await listener.add_listener(CHANGED_CHANNEL, lambda *args: heard.append(args[2]))
        async with writer.transaction():
            await writer.execute(f"DELETE FROM {table} WHERE false")  # no row: still a write
            column = await _column(writer, table)
            await writer.execute(f"UPDATE {table} SET {column} = {column} WHERE false")
            await _heard(listener, heard)
            assert heard == []  # nothing before the commit
        await _heard(listener, heard)
        committed = list(heard)
        try:
            async with writer.transaction():
                await writer.execute(f"DELETE FROM {table} WHERE false")
                raise LookupError("roll back")
        except LookupError:
            pass
        await _heard(listener, heard)
    finally:
        await listener.close()
        await writer.close()

    assert committed == [CHANGED_CHANNEL]
    assert heard == committed


async def _column(conn: asyncpg.Connection, table: str) -> str:
    name: str = await conn.fetchval(
        "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum = 1",
        table,
    )
    return name
