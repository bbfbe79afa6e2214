import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from stream_health.db.engine import make_engine
from stream_health.db.listing import named
from stream_health.db.migrate import alembic_config, head_revision, upgrade_async
from stream_health.db.revision import current_revision
from stream_health.db.windows import LIST_BEHIND


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


async def test_upgrading_to_list_flushes_counts_the_list_rows(
    migrated_database_url: str,
) -> None:
    # From 0007 on, condition_counts moves with the list rows: the upgrade starts it there.
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        await _upgrade_from(
            migrated_database_url,
            "0006",
            "INSERT INTO stream_list (condition, uid, disconnections) VALUES "
            "('incorrect', 'mig-a', 1), ('problematic', 'mig-a', 5), ('*', 'mig-a', 5), "
            "('incorrect', 'mig-b', 1), ('*', 'mig-b', 1)",
            "UPDATE condition_counts SET streams = streams + 7",
            _WINDOWS_OF_THE_LIST,
        )
        async with engine.connect() as connection:
            counted = await connection.execute(
                text("SELECT condition, streams FROM condition_counts")
            )
            counts: dict[str, int] = dict(counted.all())
            grouped = await connection.execute(
                text(f"SELECT condition, count(*) FROM {named('stream_list')} l GROUP BY condition")
            )
            listed: dict[str, int] = dict(grouped.all())
            flagged = await connection.execute(text(f"SELECT count(*) FROM ({LIST_BEHIND}) b"))
            dirty = flagged.scalar_one()
        async with engine.begin() as connection:  # leave the session database as it was
            await connection.execute(text("DELETE FROM stream_list WHERE uid LIKE 'mig-%'"))
            await connection.execute(text("DELETE FROM stream_windows WHERE uid LIKE 'mig-%'"))
            await connection.execute(
                text(
                    "UPDATE condition_counts SET streams = streams - CASE condition "
                    "WHEN 'incorrect' THEN 2 WHEN 'problematic' THEN 1 WHEN '*' THEN 2 ELSE 0 END"
                )
            )
    finally:
        await engine.dispose()

    assert counts == listed
    assert dirty == 0  # rows written before the upgrade are current
    assert counts["problematic"] >= 1


async def test_the_list_and_window_keys_compare_bytewise(migrated_database_url: str) -> None:
    # Migration 0012: every index over these keys compares them with memcmp, not strcoll.
    # Since 0018 the list rows are keyed by numbers; the names they stand for are still text.
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                text(
                    "SELECT c.relname, a.attname, co.collname FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid "
                    "JOIN pg_collation co ON co.oid = a.attcollation "
                    f"WHERE c.relname IN {_KEYED} AND a.attname IN ('uid', 'condition', 'name')"
                )
            )
            collations = {(table, column): name for table, column, name in found.all()}
            # An index rebuilt on a key takes its collation: the pkey of each table, here.
            indexed = await connection.execute(
                text(
                    "SELECT i.indexrelid::regclass::text, co.collname FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indrelid "
                    "JOIN pg_collation co ON co.oid = ANY(i.indcollation::oid[]) "
                    f"WHERE c.relname IN {_KEYED} AND (i.indisprimary OR i.indisunique)"
                )
            )
            keys = set(indexed.all())
    finally:
        await engine.dispose()

    assert collations == {
        ("stream_list", "uid"): "C",
        ("stream_windows", "uid"): "C",
        ("list_conditions", "name"): "C",
    }
    assert keys == {("stream_windows_pkey", "C"), ("list_conditions_name_key", "C")}


async def test_an_upgrade_through_the_collation_changes_leaves_the_keys_analyzed(
    migrated_database_url: str,
) -> None:
    # A collation change drops the column's statistics; without them the api's generic plans
    # of unfiltered pages sort a whole condition instead of walking its index.
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        await _upgrade_from(
            migrated_database_url,
            "0011",
            "INSERT INTO stream_list (condition, uid, disconnections) "
            "SELECT CASE WHEN n % 3 = 0 THEN 'problematic' ELSE 'incorrect' END, "
            "'stat-' || n, 1 FROM generate_series(1, 300) AS n",
            _WINDOWS_OF_THE_LIST,
            "ANALYZE stream_list",
        )
        async with engine.connect() as connection:
            analyzed = await connection.execute(
                text(
                    "SELECT attname FROM pg_stats "
                    "WHERE tablename = 'stream_list' AND attname IN ('condition_id', 'stream_key')"
                )
            )
            columns = set(analyzed.scalars())
        async with engine.begin() as connection:  # leave the session database as it was
            await connection.execute(text("DELETE FROM stream_list WHERE uid LIKE 'stat-%'"))
            await connection.execute(text("DELETE FROM stream_windows WHERE uid LIKE 'stat-%'"))
            await connection.execute(text("ANALYZE stream_list"))
    finally:
        await engine.dispose()

    assert columns == {"condition_id", "stream_key"}


async def test_list_marks_take_over_the_list_flags_and_give_them_back(
    migrated_database_url: str,
) -> None:
    # Migration 0017: a window flagged list-dirty is behind its list rows after the upgrade,
    # an unflagged one is not, every window stored later numbers above them both, and a
    # downgrade flags exactly the windows behind.
    url = migrated_database_url
    engine = make_engine(url, pool_size=1)
    try:
        await _upgrade_from(
            url,
            "0016",
            "INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, present, "
            "deleted_ms, versions, enabled, increased, managed, list_dirty) "
            "SELECT uid, 3, '', '{}', 0, true, 0, '', true, false, false, dirty "
            "FROM (VALUES ('mark-flagged', true), ('mark-listed', false)) AS v(uid, dirty)",
        )
        async with engine.connect() as connection:
            behind = set(await connection.execute(text(f"{LIST_BEHIND} AND w.uid LIKE 'mark-%'")))
            later = await connection.execute(text("SELECT nextval('stream_windows_written')"))
            next_number = later.scalar_one()
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0016")
        async with engine.connect() as connection:
            flagged = await connection.execute(
                text("SELECT uid FROM stream_windows WHERE uid LIKE 'mark-%' AND list_dirty")
            )
            flagged_again = set(flagged.scalars())
        await upgrade_async(url)
        async with engine.begin() as connection:  # leave the session database as it was
            await connection.execute(text("DELETE FROM stream_windows WHERE uid LIKE 'mark-%'"))
    finally:
        await engine.dispose()

    assert behind == {(3, "mark-flagged")}
    assert next_number > 1  # the number the flagged window carries over
    assert flagged_again == {"mark-flagged"}


async def test_numbered_list_keys_carry_the_rows_over_and_give_them_back(
    migrated_database_url: str,
) -> None:
    # Migration 0018: the list rows keyed by a condition's number and the stream's list key
    # are the rows that were keyed by names, every value kept; a row of no stored window
    # (which no flush writes) is dropped; the downgrade gives the names back.
    url = migrated_database_url
    hot = "l.condition, l.uid, l.reconnect_attempt, l.disconnections"
    facts = "f.condition, f.uid, f.stream_id, f.search, f.ip, f.disconnections"
    rows = (
        "('*', 'num-a', 4, 2), ('incorrect', 'num-a', 4, 2), ('*', 'num-b', NULL, 1), "
        "('problematic', 'num-b', NULL, 1), ('*', 'num-orphan', 1, 1)"
    )
    engine = make_engine(url, pool_size=1)
    try:
        await _upgrade_from(
            url,
            "0017",
            "INSERT INTO stream_list (condition, uid, reconnect_attempt, disconnections) "
            f"VALUES {rows}",
            "INSERT INTO stream_list_facts (condition, uid, stream_id, search, ip, "
            "disconnections) SELECT condition, uid, length(uid), 'cam ' || uid, '10.0.0.1', "
            "disconnections FROM stream_list WHERE uid LIKE 'num-%'",
            _WINDOWS_OF_THE_LIST.replace(
                "FROM stream_list", "FROM stream_list WHERE uid IN ('num-a', 'num-b')"
            ),
        )

        async def read_rows(hot_rows: str, facts_rows: str) -> tuple[set[Any], set[Any]]:
            async with engine.connect() as connection:
                found = [
                    set(
                        await connection.execute(
                            text(f"SELECT {columns} FROM {source} WHERE {alias}.uid LIKE 'num-%'")
                        )
                    )
                    for columns, source, alias in (
                        (hot, f"{hot_rows} l", "l"),
                        (facts, f"{facts_rows} f", "f"),
                    )
                ]
            return found[0], found[1]

        numbered = await read_rows(named("stream_list"), named("stream_list_facts"))
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0017")
        named_again = await read_rows("stream_list", "stream_list_facts")
        await upgrade_async(url)
        async with engine.begin() as connection:  # leave the session database as it was
            await connection.execute(
                text(
                    "DELETE FROM stream_list_facts f USING stream_windows w "
                    "WHERE w.list_key = f.stream_key AND w.uid LIKE 'num-%'"
                )
            )
            for table in ("stream_list", "stream_windows"):
                await connection.execute(text(f"DELETE FROM {table} WHERE uid LIKE 'num-%'"))
    finally:
        await engine.dispose()

    expected_hot = {
        ("*", "num-a", 4, 2),
        ("incorrect", "num-a", 4, 2),
        ("*", "num-b", None, 1),
        ("problematic", "num-b", None, 1),
    }
    expected_facts = {
        (c, uid, len(uid), f"cam {uid}", "10.0.0.1", d) for c, uid, _, d in expected_hot
    }
    assert numbered == (expected_hot, expected_facts)
    assert named_again == numbered


_KEYED = "('stream_list', 'stream_list_facts', 'stream_windows', 'list_conditions')"
# List rows are of streams with a stored window (0018 keys them by the window's list key).
_WINDOWS_OF_THE_LIST = (
    "INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, present, "
    "deleted_ms, versions, enabled, increased, managed) "
    "SELECT DISTINCT uid, 0, ''::bytea, '{}'::text[], 0, true, 0, ''::bytea, true, false, true "
    "FROM stream_list ON CONFLICT (uid) DO NOTHING"
)


async def _upgrade_from(url: str, revision: str, *statements: str) -> None:
    """Take the database down to `revision`, run `statements` there in one transaction, and
    bring it back up to head."""
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()
    await upgrade_async(url)


async def test_sub_server_ids_are_read_from_the_stored_snapshots_and_dropped_on_downgrade(
    migrated_database_url: str,
) -> None:
    # Migration 0019: the ids a stored snapshot names, as the api read them (whole numbers
    # only, in their order); none for a snapshot naming none or something else.
    url = migrated_database_url
    docs = {
        901: '{"sub_server_ids": [3, 5]}',
        902: '{"sub_server_ids": [1.5, "2", true, 4, null, {"id": 6}]}',
        903: '{"sub_server_ids": "7"}',
        904: '{"sub_server_ids": []}',
        905: '{"id": 905}',
    }
    values = ", ".join(f"({i}, 'sub-{i}', true, now(), '{doc}')" for i, doc in docs.items())
    engine = make_engine(url, pool_size=1)
    try:
        await _upgrade_from(
            url,
            "0018",
            f"INSERT INTO inventory_streams (id, uuid, is_enabled, updated_at, doc) VALUES {values}",
        )
        read = (
            "SELECT id, sub_server_ids FROM inventory_streams WHERE uuid LIKE 'sub-%' ORDER BY id"
        )
        async with engine.connect() as connection:
            upgraded = {row.id: row.sub_server_ids for row in await connection.execute(text(read))}
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0018")
        async with engine.connect() as connection:
            columns = await connection.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'inventory_streams'"
                )
            )
            downgraded = set(columns.scalars())
        await upgrade_async(url)
        async with engine.begin() as connection:  # leave the session database as it was
            await connection.execute(text("DELETE FROM inventory_streams WHERE uuid LIKE 'sub-%'"))
    finally:
        await engine.dispose()

    assert upgraded == {901: [3, 5], 902: [4], 903: [], 904: [], 905: []}
    assert "sub_server_ids" not in downgraded
    assert "doc" in downgraded
