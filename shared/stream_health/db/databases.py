"""Databases as a whole: create one beside another, tell two apart, show one safely."""

from __future__ import annotations

import re

import asyncpg
from sqlalchemy.engine import make_url

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def shown(database_url: str) -> str:
    """The URL with its password masked."""
    return make_url(database_url).render_as_string(hide_password=True)


def same_database(a: str, b: str) -> bool:
    """Whether two URLs name the same database on the same server."""
    first, second = make_url(a), make_url(b)
    return (first.host, first.port or 5432, first.database) == (
        second.host,
        second.port or 5432,
        second.database,
    )


def beside(database_url: str, name: str) -> str:
    """The URL of database `name` on the server (and as the user) of `database_url`."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: a database name is letters, digits and _ (63 at most)")
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


async def create_database(database_url: str) -> bool:
    """Create the database `database_url` names, unless it exists; whether it was created."""
    url = make_url(database_url)
    name = url.database or ""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: a database name is letters, digits and _ (63 at most)")
    admin = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database="postgres"
    )
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await admin.execute(f'CREATE DATABASE "{name}"')  # a checked identifier
        return True
    finally:
        await admin.close()
