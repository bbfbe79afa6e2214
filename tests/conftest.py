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

from stream_health.config.settings import Settings, TopicNames
from stream_health.db.migrate import upgrade_async

ROOT = Path(__file__).resolve().parent.parent

_LAYER_MARKERS = {
    "integration": ("integration",),
    "e2e": ("integration", "e2e"),
    "deploy": ("deploy",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the folder they live in, so `-m 'not integration'` needs no stack."""
    for item in items:
        layer = Path(str(item.path)).relative_to(ROOT / "tests").parts[0]
        for marker in _LAYER_MARKERS.get(layer, ()):
            item.add_marker(marker)


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
async def fresh_database(tag: str) -> AsyncIterator[str]:
    """A database of its own, migrated to head, dropped on exit; yields its URL."""
    url = make_url(base_settings().database_url)
    name = f"stream_health_{tag}_{os.getpid()}"
    admin = await _admin_connection(str(url.render_as_string(hide_password=False)))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        test_url = url.set(database=name).render_as_string(hide_password=False)
        await upgrade_async(test_url)
        yield test_url
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def migrated_database_url() -> AsyncIterator[str]:
    """A database created for this test session and migrated to head; dropped afterwards."""
    async with fresh_database("test") as url:
        yield url


@pytest.fixture
def topics() -> TopicNames:
    """Fresh topic names for one test."""
    return unique_topics()
