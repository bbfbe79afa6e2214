"""Windows stored through the compiled COPY writer are what the driver stores from `to_row`.

`window_copy` (shared/native/src/rows.rs) writes PostgreSQL's binary COPY format itself; the
reference is `to_row`'s tuple encoded by asyncpg. Both load into the batch table of a real
database, and every column read back must be equal.
"""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from stream_health.db.windows import COLUMNS, save_rows, save_windows, to_row
from stream_health.domain.stream import StreamFacts, StreamWindow
from stream_health_core import window_copy

_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=20)
_int8 = st.integers(-(2**63), 2**63 - 1)
# A window's optional integers stand above -2**63, which its storage takes for None
# (shared/native/src/window.rs): the domain's are instants and counts, never negative.
_optional = st.none() | st.integers(-(2**63) + 1, 2**63 - 1)
_version = st.one_of(st.just(-1), st.integers(0, 2**127 - 2))
_windows = st.builds(
    StreamWindow,
    uid=st.uuids().map(str) | _text.filter(bool),
    stamps=st.binary(max_size=16 * 15),
    last_reconnect_ms=_optional,
    server_state=st.none() | _text,
    server_state_version=_version,
    present=st.booleans(),
    presence_version=_version,
    deleted_ms=_int8,
    reconnect_attempt=_optional,
    reconnect_total=_optional,
    counters_version=_version,
    facts=st.builds(
        StreamFacts,
        stream_id=st.none() | _int8,
        camera_id=st.none() | _int8,
        server_id=st.none() | _int8,
        enabled=st.booleans(),
        increased=st.booleans(),
        managed=st.booleans(),
    ),
    conditions=st.frozensets(_text, max_size=4),
    seq=st.integers(0, 2**63 - 1),
)
_items = st.lists(
    st.tuples(st.integers(0, 2**31 - 1), _windows, st.none() | _int8),
    max_size=8,
    unique_by=lambda item: item[1].uid,
)


@pytest.fixture(scope="module")
async def conn(migrated_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    url = make_url(migrated_database_url)
    connection = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    yield connection
    await connection.close()


async def _stored(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM stream_windows ORDER BY uid")
    return [dict(row) for row in rows]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=_items)
async def test_the_compiled_copy_stores_what_the_driver_stores_from_to_row(
    conn: asyncpg.Connection, items: list[tuple[int, StreamWindow, int | None]]
) -> None:
    async with conn.transaction():  # a batch's transaction each
        await save_windows(conn, items=items)
        compiled = await _stored(conn)
        await conn.execute("DELETE FROM stream_windows")
    async with conn.transaction():
        rows = [to_row(window, partition=p, drain_at_ms=drain) for p, window, drain in items]
        await save_rows(conn, rows=rows)
        model = await _stored(conn)
        await conn.execute("DELETE FROM stream_windows")

    assert compiled == model
    assert len(compiled) == len(items)


def test_an_unstorable_version_is_refused_not_wrapped() -> None:
    window = StreamWindow("u", counters_version=-2)

    with pytest.raises(ValueError, match="cannot be stored"):
        window_copy([(0, window, None)])
