"""The list flush (`save_listing`) keeps stream_list_facts' copies of the stream_list values
equal to them, whichever way a row is written (migration 0010), real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from stream_health.db.engine import plain_dsn
from stream_health.db.listing import ListedStream, condition_ids, named, save_listing
from tests.conftest import store_bare_windows

HOT = "reconnect_attempt, reconnect_total, reconnect_ms, disconnections"


@pytest.fixture
async def conn(migrated_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(migrated_database_url))
    try:
        yield connection
    finally:
        await connection.execute(
            "TRUNCATE stream_list, stream_list_facts, inventory_streams, stream_windows"
        )
        await connection.close()


def _stream(
    uid: str,
    conditions: tuple[str, ...],
    counts: tuple[int, ...],
    attempt: int | None,
    *,
    facts: bool = False,
) -> ListedStream:
    return ListedStream(
        uid=uid,
        conditions=conditions,
        counts=counts,
        reconnect_attempt=attempt,
        reconnect_total=None if attempt is None else attempt * 10,
        reconnect_ms=None if attempt is None else 1_700_000_000_000 + attempt,
        facts=facts,
    )


async def _flush(conn: asyncpg.Connection, *streams: ListedStream) -> None:
    await store_bare_windows(conn, [s.uid for s in streams])
    async with conn.transaction():
        await save_listing(conn, streams=streams)


async def _rows(conn: asyncpg.Connection, table: str) -> dict[tuple[str, str], tuple[object, ...]]:
    rows = await conn.fetch(f"SELECT uid, condition, {HOT} FROM {named(table)} AS l")
    return {(r["uid"], r["condition"]): tuple(r.values())[2:] for r in rows}


async def _copies_match(conn: asyncpg.Connection) -> dict[tuple[str, str], tuple[object, ...]]:
    listed = await _rows(conn, "stream_list")
    assert await _rows(conn, "stream_list_facts") == listed
    return listed


async def test_the_facts_rows_copy_the_stream_list_values_through_every_kind_of_flush(
    conn: asyncpg.Connection,
) -> None:
    # A stream no media-server counter reached shows the VMS's own (from inventory).
    await conn.execute(
        "INSERT INTO inventory_streams (id, uuid, is_enabled, updated_at, doc) "
        "VALUES (1, 'c', true, now(), '{\"reconnect_attempt\": 7, \"reconnect_total\": 70}')"
    )
    await _flush(
        conn,
        _stream("a", ("*", "incorrect"), (2, 2), 1),
        _stream("b", ("*", "problematic"), (5, 5), 3),
        _stream("c", ("*", "incorrect"), (1, 1), None),
    )
    first = await _copies_match(conn)
    assert first[("c", "incorrect")][:2] == (7, 70)

    await _flush(
        conn,
        _stream("a", ("*", "incorrect"), (3, 3), 2),  # values moved: rows updated
        _stream("b", ("*", "problematic", "disabled"), (5, 5, 1), 3),  # one row more
        _stream("c", ("*", "incorrect"), (1, 1), None, facts=True),  # inventory changed
    )
    second = await _copies_match(conn)
    assert second[("a", "incorrect")] == (2, 20, 1_700_000_000_002, 3)
    assert ("b", "disabled") in second

    await conn.execute(
        'UPDATE inventory_streams SET doc = \'{"reconnect_attempt": 8, "reconnect_total": 80}\''
    )
    await _flush(
        conn,
        _stream("b", ("*",), (4,), 3),  # rows dropped, one updated
        _stream("c", ("*", "incorrect"), (1, 1), None, facts=True),
    )
    third = await _copies_match(conn)
    assert third[("c", "*")][:2] == (8, 80)
    assert ("b", "problematic") not in third
    assert third[("b", "*")][3] == 4


async def _updates(conn: asyncpg.Connection, *streams: ListedStream) -> tuple[int, int]:
    """Flush `streams`; how many stream_list_facts rows it updated, and how many of those HOT
    (a new version on the row's own page, no index entry)."""
    # This backend's counts not yet reported, earlier transactions' included: the difference
    # across the flush (a transaction reports nothing before it ends).
    counts = (
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
        "WHERE relname = 'stream_list_facts'"
    )
    async with conn.transaction():
        before = await conn.fetchrow(counts)
        await save_listing(conn, streams=streams)
        after = await conn.fetchrow(counts)
    assert before is not None
    assert after is not None
    return after[0] - before[0], after[1] - before[1]


async def test_a_flush_that_moves_every_rows_counts_updates_the_facts_rows_in_place(
    conn: asyncpg.Connection,
) -> None:
    # Enough rows for a few hundred full pages, each with room for its rows' next versions.
    uids = [f"{n:032x}" for n in range(4_000)]
    await _flush(conn, *(_stream(uid, ("*", "incorrect"), (1, 1), 1) for uid in uids))
    for attempt in (2, 3):  # every count moves, twice: the second prunes the first's versions
        moved = [_stream(uid, ("*", "incorrect"), (attempt, attempt), attempt) for uid in uids]
        updated, hot = await _updates(conn, *moved)
        assert updated == 2 * len(uids)
        assert hot >= 0.95 * updated, (hot, updated)
    assert (await _copies_match(conn))[(uids[0], "*")] == (3, 30, 1_700_000_000_003, 3)


async def test_a_flush_refuses_rows_of_a_stream_with_no_stored_window(
    conn: asyncpg.Connection,
) -> None:
    # Its rows would have no list key: the flush says so and writes nothing.
    await store_bare_windows(conn, ["stored"])
    with pytest.raises(ValueError, match="no stored window"):
        async with conn.transaction():
            await save_listing(
                conn,
                streams=[
                    _stream("stored", ("*", "incorrect"), (1, 1), 1),
                    _stream("unstored", ("*",), (1,), 1),
                ],
            )

    assert await conn.fetchval("SELECT count(*) FROM stream_list") == 0


async def test_condition_names_are_numbered_once_and_numbers_are_not_wasted(
    conn: asyncpg.Connection,
) -> None:
    first = await condition_ids(conn, ["num-x", "num-y"])
    again = await condition_ids(conn, ["num-y", "num-x"])
    more = await condition_ids(conn, ["num-z", "num-x"])
    await conn.execute("DELETE FROM list_conditions WHERE name LIKE 'num-%'")

    assert again == first
    assert {k: v for k, v in more.items() if k != "num-z"} == first
    # Asking again for known names drew no numbers: the next name gets the next one.
    assert more["num-z"] == max(first.values()) + 1


async def test_a_stream_flushed_in_no_condition_loses_all_its_rows(
    conn: asyncpg.Connection,
) -> None:
    await _flush(
        conn,
        _stream("gone", ("*", "incorrect"), (2, 2), 1),
        _stream("kept", ("*", "incorrect"), (1, 1), 1),
    )
    async with conn.transaction():
        moved = await save_listing(conn, streams=[_stream("gone", (), (), 1)])

    assert set(await _copies_match(conn)) == {("kept", "*"), ("kept", "incorrect")}
    assert moved == {"*": -1, "incorrect": -1}
