"""The api's listener on the real PostgreSQL: armed while it listens, pages dropped on commit,
disarmed when its connection goes and armed again once a new one listens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from stream_health.db.engine import plain_dsn
from stream_health_api.list_changes import ListChanges
from stream_health_api.page_cache import Page, PageCache
from tests.waiting import until

pytestmark = pytest.mark.integration

APP = "stream-health-test-listen"


@contextlib.asynccontextmanager
async def _listening(database_url: str, cache: PageCache) -> AsyncIterator[ListChanges]:
    changes = ListChanges(
        lambda: asyncpg.connect(plain_dsn(database_url), server_settings={"application_name": APP}),
        cache,
        check_every_s=0.2,
        retry_s=0.1,
    )
    task = asyncio.create_task(changes.run())
    try:
        await asyncio.wait_for(changes.wait_listening(), 5)
        yield changes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Renders:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> Page:
        self.count += 1
        return Page(f"page {self.count}".encode())


async def _write(database_url: str, sql: str) -> Any:
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_a_commit_to_the_lists_data_drops_the_kept_pages(migrated_database_url: str) -> None:
    cache, render = PageCache(ttl_s=60, max_bytes=1 << 20), Renders()
    assert not cache.enabled  # nothing kept before the listener listens
    async with _listening(migrated_database_url, cache):
        first = await cache.get("p", render)
        kept = await cache.get("p", render)
        await _write(migrated_database_url, "DELETE FROM stream_list WHERE false")
        await until(lambda: len(cache) == 0, 5, "the commit's notification")
        fresh = await cache.get("p", render)

    assert (first, kept, fresh) == (b"page 1", b"page 1", b"page 2")
    assert not cache.enabled  # stopped: disarmed


async def test_a_lost_connection_disarms_the_cache_until_a_new_one_listens(
    migrated_database_url: str,
) -> None:
    cache, render = PageCache(ttl_s=60, max_bytes=1 << 20), Renders()
    async with _listening(migrated_database_url, cache) as changes:
        await cache.get("p", render)
        ended = await _write(
            migrated_database_url,
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{APP}'",
        )
        await until(lambda: not changes.listening, 5, "the listener's loss")
        unarmed = (cache.enabled, len(cache))
        await asyncio.wait_for(changes.wait_listening(), 5)
        after = await cache.get("p", render)
        again = await cache.get("p", render)

    assert len(ended) == 1
    assert unarmed == (False, 0)
    assert (after, again) == (b"page 2", b"page 2")  # nothing from before the loss was kept
