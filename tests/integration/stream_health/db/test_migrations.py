import asyncio

import pytest
from alembic import command
from sqlalchemy import text

from stream_health.db.engine import make_engine
from stream_health.db.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade_async,
)


async def test_migrations_bring_a_database_to_the_shipped_head(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as connection:
            tables = set(
                (
                    await connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
        assert {"consumer_offsets", "consumed_counts", "alembic_version"} <= tables
        assert {"inventory_streams", "inventory_cameras", "inventory_servers"} <= tables
    finally:
        await engine.dispose()


async def test_migrations_are_idempotent(migrated_database_url: str) -> None:
    await upgrade_async(migrated_database_url)  # a second run changes nothing and does not fail

    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("revision", ["base"])
async def test_downgrade_then_upgrade_round_trips(
    migrated_database_url: str, revision: str
) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(migrated_database_url), revision)
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        assert await current_revision(engine) is None
        await upgrade_async(migrated_database_url)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
