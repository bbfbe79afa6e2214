"""Apply migrations; the newest revision as Alembic reads it from the scripts."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the packaged migrations; no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", "stream_health.db:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://")).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database up to `revision` (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """`upgrade` from async code: Alembic's env starts its own loop, so use a thread."""
    await asyncio.to_thread(upgrade, database_url, revision)


async def database_revision(database_url: str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from stream_health.db.engine import make_engine  # noqa: PLC0415  (only `migrate` asks)
    from stream_health.db.revision import current_revision  # noqa: PLC0415

    engine = make_engine(database_url, pool_size=1)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()
