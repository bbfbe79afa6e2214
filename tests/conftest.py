"""Fixtures shared by every layer: the real stack's settings, a fresh database, fresh topics."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.settings import Settings, TopicNames
from stream_health.db.engine import make_engine, make_sessions
from stream_health.db.migrate import upgrade_async

ROOT = Path(__file__).resolve().parent.parent

_LAYER_MARKERS = {
    "integration": ("integration",),
    "e2e": ("integration", "e2e"),
    "faults": ("integration", "e2e", "faults", "kafka", "slow"),
    "deploy": ("deploy",),
}


def _layer(item: pytest.Item) -> str:
    return Path(str(item.path)).relative_to(ROOT / "tests").parts[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the folder they live in, so `-m 'not integration'` needs no stack.

    The fault suite runs last: it is the slowest, and everything else reports first.
    """
    for item in items:
        for marker in _LAYER_MARKERS.get(_layer(item), ()):
            item.add_marker(marker)
    items.sort(key=lambda item: _layer(item) == "faults")


def base_settings(**overrides: object) -> Settings:
    """Settings from this environment (the local stack by default), with overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]


def unique_topics(prefix: str | None = None) -> TopicNames:
    """Topic names no other test (or earlier run) uses."""
    tag = prefix or f"t{uuid.uuid4().hex[:10]}"
    defaults = TopicNames()
    return TopicNames(**{name: f"{tag}.{value}" for name, value in defaults.model_dump().items()})


async def _admin_connection(database_url: str) -> asyncpg.Connection:
    url = make_url(database_url)
    return await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database="postgres"
    )


@asynccontextmanager
async def fresh_database(tag: str, *, server_url: str | None = None) -> AsyncIterator[str]:
    """A database of its own, migrated to head, dropped on exit; yields its URL.

    On the local stack's server unless `server_url` names another (any database on it).
    """
    url = make_url(server_url or base_settings().database_url)
    server = str(url.render_as_string(hide_password=False))
    name = f"stream_health_{tag}_{os.getpid()}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    admin = await _admin_connection(server)
    try:
        await admin.execute(drop)
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    test_url = url.set(database=name).render_as_string(hide_password=False)
    await upgrade_async(test_url)
    yield test_url
    # A new connection: the server may have restarted meanwhile (the fault suite's does).
    admin = await _admin_connection(server)
    try:
        await admin.execute(drop)
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_sessions(tag: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a `fresh_database` of their own (for tests that count every row)."""
    async with fresh_database(tag) as url:
        engine = make_engine(url)
        try:
            yield make_sessions(engine)
        finally:
            await engine.dispose()


@pytest.fixture(scope="session")
async def migrated_database_url() -> AsyncIterator[str]:
    """A database created for this test session and migrated to head; dropped afterwards."""
    async with fresh_database("test") as url:
        yield url


@pytest.fixture
def topics() -> TopicNames:
    """Fresh topic names for one test."""
    return unique_topics()


async def store_bare_windows(conn: asyncpg.Connection, uids: list[str]) -> None:
    """Stored windows (empty, partition 0) for `uids` that have none: list rows are written
    only for streams with a stored window, whose list key they carry (migration 0018)."""
    await conn.execute(
        "INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, present, "
        "deleted_ms, versions, enabled, increased, managed) "
        "SELECT u, 0, '', '{}', 0, true, 0, '', true, false, true "
        "FROM unnest($1::text[]) AS u ON CONFLICT (uid) DO NOTHING",
        uids,
    )
