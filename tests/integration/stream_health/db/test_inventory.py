import uuid
import warnings
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from stream_health.db.engine import make_engine
from stream_health.db.inventory import apply_snapshots, load_facts
from stream_health.domain.stream import StreamFacts
from stream_health_worker.schemas.inventory import (
    CameraSnapshot,
    InventoryKind,
    ServerSnapshot,
    StreamSnapshot,
)

STREAMS, CAMERAS, SERVERS = InventoryKind.STREAMS, InventoryKind.CAMERAS, InventoryKind.SERVERS
INVENTORY_TABLES = {"inventory_streams", "inventory_cameras", "inventory_servers"}


@pytest.fixture
async def conn(migrated_database_url: str) -> AsyncIterator[Any]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = await asyncpg.connect(
        migrated_database_url.replace("postgresql+asyncpg://", "postgresql://")
    )
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


def _at(hour: int) -> str:
    return f"2026-11-20 {hour:02d}:00:00"


def uid() -> str:
    return str(uuid.uuid4())


def stream(id: int, uuid: str, *, hour: int = 10, **fields: Any) -> StreamSnapshot:
    return StreamSnapshot.model_validate({"id": id, "uuid": uuid, "updated_at": _at(hour)} | fields)


def camera(id: int, *, hour: int | None = 10, **fields: Any) -> CameraSnapshot:
    stamp = {} if hour is None else {"updated_at": _at(hour)}
    return CameraSnapshot.model_validate({"id": id} | stamp | fields)


def server(id: int, *, hour: int = 10, **fields: Any) -> ServerSnapshot:
    document = {"id": id, "domain": f"ms{id}.vms.local", "updated_at": _at(hour)}
    return ServerSnapshot.model_validate(document | fields)


async def _row(conn: Any, table: str, id: int) -> dict[str, Any] | None:
    record = await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", id)
    return None if record is None else dict(record)


async def test_a_new_stream_is_stored_with_its_document_as_sent(conn: Any) -> None:
    u = uid()
    snapshot = stream(
        1, u.upper(), camera_id=7, server_id=3, url="rtsp://a:b@h/", ip="10.0.0.1", bitrate=1486
    )

    rechecks = await apply_snapshots(conn, kind=STREAMS, items=[(1, snapshot)])

    row = await _row(conn, "inventory_streams", 1)
    assert rechecks == [u]
    assert row is not None
    assert (row["uuid"], row["camera_id"], row["server_id"], row["is_enabled"]) == (u, 7, 3, True)
    assert (row["url"], row["ip"]) == ("rtsp://a:b@h/", "10.0.0.1")
    assert row["updated_at"] == snapshot.updated_at
    assert orjson.loads(row["doc"]) == snapshot.document  # "updated_at": "2026-11-20 10:00:00"


async def test_a_streams_sub_server_ids_are_stored_beside_its_document(conn: Any) -> None:
    # The list page reads the servers it shows from this column (migration 0019).
    named, unnamed = stream(1, uid(), sub_server_ids=[4, 2]), stream(2, uid())

    await apply_snapshots(conn, kind=STREAMS, items=[(1, named), (2, unnamed)])

    rows = [await _row(conn, "inventory_streams", i) for i in (1, 2)]
    assert [row and row["sub_server_ids"] for row in rows] == [[4, 2], []]


async def test_a_snapshot_older_than_the_stored_one_loses(conn: Any) -> None:
    u = uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, u, hour=10, camera_id=7))])

    rechecks = await apply_snapshots(
        conn, kind=STREAMS, items=[(1, stream(1, u, hour=9, camera_id=8))]
    )

    row = await _row(conn, "inventory_streams", 1)
    assert rechecks == []
    assert row is not None
    assert row["camera_id"] == 7


@pytest.mark.parametrize("hour", [10, 11])  # equal, newer
async def test_an_equal_or_newer_snapshot_replaces_the_stored_one(conn: Any, hour: int) -> None:
    u = uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, u, url="rtsp://old"))])

    rechecks = await apply_snapshots(
        conn, kind=STREAMS, items=[(1, stream(1, u, hour=hour, url="rtsp://new"))]
    )

    row = await _row(conn, "inventory_streams", 1)
    assert rechecks == [u]  # the admin list shows (and searches) the url: its rows are redone
    assert row is not None
    assert row["url"] == "rtsp://new"
    assert orjson.loads(row["doc"])["url"] == "rtsp://new"


async def test_a_tombstone_deletes_and_an_unknown_tombstone_does_nothing(conn: Any) -> None:
    u = uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, u))])

    rechecks = await apply_snapshots(conn, kind=STREAMS, items=[(1, None), (2, None)])

    assert rechecks == [u]
    assert await _row(conn, "inventory_streams", 1) is None


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ([(11, 1), (13, 3), (12, 2)], (13, 3)),  # a later but older snapshot loses within the batch
        ([(11, 1), (11, 2)], (11, 2)),  # equal: the later one wins
        ([(10, 1)], (11, 100)),  # older than the stored one
        ([(12, 1), None, (9, 2)], (9, 2)),  # after a tombstone anything goes, however old
        ([(12, 1), None], None),
        ([None, (8, 5)], (8, 5)),  # the stored row was deleted first
    ],
)
async def test_a_batch_for_one_id_acts_as_if_applied_in_order(
    conn: Any, batch: list[tuple[int, int] | None], expected: tuple[int, int] | None
) -> None:
    u = uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, u, hour=11, camera_id=100))])
    items = [(1, None if b is None else stream(1, u, hour=b[0], camera_id=b[1])) for b in batch]

    await apply_snapshots(conn, kind=STREAMS, items=items)

    row = await _row(conn, "inventory_streams", 1)
    assert (row and (row["updated_at"].hour, row["camera_id"])) == expected


@pytest.mark.parametrize(
    ("change", "rechecked"),
    [
        ({"camera_id": 8}, True),
        ({"server_id": 4}, True),
        ({"is_enabled": False}, True),
        ({"url": "rtsp://elsewhere", "ip": "10.0.0.9", "bitrate": 1}, True),  # listed values
        ({}, True),  # only updated_at: the list sorts by it
    ],
)
async def test_a_stream_is_rechecked_by_every_newer_snapshot(
    conn: Any, change: dict[str, Any], rechecked: bool
) -> None:
    u = uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, u, camera_id=7, server_id=3))])
    fields = {"camera_id": 7, "server_id": 3} | change

    rechecks = await apply_snapshots(
        conn, kind=STREAMS, items=[(1, stream(1, u, hour=11, **fields))]
    )

    assert rechecks == ([u] if rechecked else [])


async def test_a_stream_whose_uuid_changes_rechecks_both_uuids_sorted_once(conn: Any) -> None:
    old, new, other = uid(), uid(), uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, old))])

    rechecks = await apply_snapshots(
        conn,
        kind=STREAMS,
        items=[(2, stream(2, other)), (1, stream(1, new, hour=11)), (2, stream(2, other))],
    )

    assert rechecks == sorted({old, new, other})
    assert await load_facts(conn, uuids=[old]) == {}


async def test_a_uuid_moves_to_the_stream_with_the_newer_snapshot(conn: Any) -> None:
    u, v = uid(), uid()
    await apply_snapshots(conn, kind=STREAMS, items=[(1, stream(1, u, hour=10)), (2, stream(2, v))])

    lost = await apply_snapshots(conn, kind=STREAMS, items=[(3, stream(3, u, hour=9))])
    moved = await apply_snapshots(conn, kind=STREAMS, items=[(3, stream(3, u, hour=11))])
    swapped = await apply_snapshots(
        conn, kind=STREAMS, items=[(2, stream(2, u, hour=12)), (3, stream(3, v, hour=12))]
    )

    assert lost == []  # an older claim on a uuid that another stream holds is dropped
    assert moved == [u]
    assert await _row(conn, "inventory_streams", 1) is None
    assert swapped == sorted({u, v})
    facts = await load_facts(conn, uuids=[u, v])
    assert (facts[u].stream_id, facts[v].stream_id) == (2, 3)


async def _streams_on(conn: Any, column: str, owner: int) -> list[str]:
    uuids = [uid(), uid()]
    items = [(i, stream(i, u, **{column: owner})) for i, u in enumerate(uuids, start=owner * 10)]
    await apply_snapshots(
        conn, kind=STREAMS, items=[*items, (owner * 10 + 5, stream(owner * 10 + 5, uid()))]
    )
    return sorted(uuids)


async def test_camera_changes_recheck_its_streams_when_created_deleted_or_flag_changes(
    conn: Any,
) -> None:
    mine = await _streams_on(conn, "camera_id", 7)

    created = await apply_snapshots(conn, kind=CAMERAS, items=[(7, camera(7)), (8, camera(8))])
    renamed = await apply_snapshots(
        conn, kind=CAMERAS, items=[(7, camera(7, hour=11, name="Gate"))]
    )
    increased = await apply_snapshots(
        conn, kind=CAMERAS, items=[(7, camera(7, hour=12, is_increased_reconnect=1))]
    )
    older = await apply_snapshots(conn, kind=CAMERAS, items=[(7, camera(7, hour=9))])
    deleted = await apply_snapshots(conn, kind=CAMERAS, items=[(7, None), (8, None)])

    # A rename rechecks too: the admin list searches camera names.
    assert (created, renamed, increased, older, deleted) == (mine, mine, mine, [], mine)


async def test_a_camera_without_updated_at_is_replaced_by_the_next_record(conn: Any) -> None:
    await apply_snapshots(conn, kind=CAMERAS, items=[(7, camera(7, hour=12, name="A"))])

    await apply_snapshots(conn, kind=CAMERAS, items=[(7, camera(7, hour=None, name="B"))])
    await apply_snapshots(conn, kind=CAMERAS, items=[(7, camera(7, hour=1, name="C"))])

    row = await _row(conn, "inventory_cameras", 7)
    assert row is not None
    assert row["name"] == "C"


async def test_server_changes_recheck_its_streams_when_created_deleted_or_flag_changes(
    conn: Any,
) -> None:
    mine = await _streams_on(conn, "server_id", 3)

    created = await apply_snapshots(conn, kind=SERVERS, items=[(3, server(3))])
    moved = await apply_snapshots(
        conn, kind=SERVERS, items=[(3, server(3, hour=11, domain="MS.vms"))]
    )
    off = await apply_snapshots(
        conn,
        kind=SERVERS,
        items=[(3, server(3, hour=12, is_stream_condition_management_enabled=False))],
    )
    still_off = await apply_snapshots(
        conn,
        kind=SERVERS,
        items=[(3, server(3, hour=13, is_stream_condition_management_enabled=0))],
    )
    deleted = await apply_snapshots(conn, kind=SERVERS, items=[(3, None)])

    # A new domain rechecks too: the admin list filters by it.
    assert (created, moved, off, still_off, deleted) == (mine, mine, mine, [], mine)


async def test_facts_default_for_an_unknown_camera_and_server(conn: Any) -> None:
    known, unknown, missing = uid(), uid(), uid()
    await apply_snapshots(
        conn,
        kind=STREAMS,
        items=[
            (1, stream(1, known, camera_id=7, server_id=3, is_enabled=False)),
            (2, stream(2, unknown, camera_id=8, server_id=4)),
        ],
    )
    await apply_snapshots(conn, kind=CAMERAS, items=[(7, camera(7, is_increased_reconnect=True))])
    await apply_snapshots(
        conn, kind=SERVERS, items=[(3, server(3, is_stream_condition_management_enabled=False))]
    )

    facts = await load_facts(conn, uuids={known, unknown, missing})

    assert facts == {
        known: StreamFacts(
            stream_id=1, camera_id=7, server_id=3, enabled=False, increased=True, managed=False
        ),
        unknown: StreamFacts(
            stream_id=2, camera_id=8, server_id=4, enabled=True, increased=False, managed=True
        ),
    }
    assert await load_facts(conn, uuids=[]) == {}


async def test_the_table_models_mirror_the_migration(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            diffs = await connection.run_sync(
                lambda sync: _quiet_compare(
                    MigrationContext.configure(sync, opts={"compare_type": True})
                )
            )
    finally:
        await engine.dispose()

    assert [d for d in diffs if _table_of(d) in INVENTORY_TABLES] == []


def _quiet_compare(context: MigrationContext) -> Any:
    with warnings.catch_warnings():  # expression indexes are not reflected: not compared here
        warnings.simplefilter("ignore")
        return compare_metadata(context, SQLModel.metadata)


def _table_of(diff: Any) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        table = getattr(part, "table", None)
        name = getattr(part, "name", None) if table is None else table.name
        if isinstance(name, str):
            return name
        if isinstance(part, str):
            return part
    return None
