"""The schema revision this code ships and the one a database is at, without Alembic.

Both services check them on every readiness probe. Asking Alembic meant importing it and
reading every migration script in each process at start-up (about a third of a second of
the worker's start); `migrate` keeps Alembic for changing the schema.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# The newest migration in migrations/versions: a test keeps it equal to Alembic's head.
SHIPPED_REVISION = "0019"


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration, or after a
    downgrade to the base)."""
    async with engine.connect() as connection:
        table = await connection.execute(text("SELECT to_regclass('alembic_version')"))
        if table.scalar() is None:
            return None
        version = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return version.scalar()
