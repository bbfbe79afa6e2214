"""Inventory tables, and the worker's writes and reads on them; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSON
from sqlmodel import Field, SQLModel

from stream_health.domain.stream import StreamFacts


class InventoryServer(SQLModel, table=True):
    """A media server as its last snapshot describes it."""

    __tablename__ = "inventory_servers"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    domain: str = Field(sa_column=Column(Text, nullable=False))
    is_stream_condition_management_enabled: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default="true")
    )
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    doc: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class InventoryCamera(SQLModel, table=True):
    """A camera as its last snapshot describes it."""

    __tablename__ = "inventory_cameras"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    is_increased_reconnect: bool = Field(sa_column=Column(Boolean, nullable=False))
    name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    doc: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class InventoryStream(SQLModel, table=True):
    """A stream as its last snapshot describes it; `uuid` is the media server's `data.uid`."""

    __tablename__ = "inventory_streams"
    __table_args__ = (UniqueConstraint("uuid", name="uq_inventory_streams_uuid"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    uuid: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    camera_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    server_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    is_enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ip: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    bitrate: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    output_rate: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    url_masked: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Validated ids, for the list page to read its servers with its rows (migration 0019).
    sub_server_ids: list[int] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(BigInteger), nullable=False, server_default="{}"),
    )
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    doc: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


Index(
    "ix_inventory_servers_domain_lower",
    func.lower(InventoryServer.__table__.c.domain),  # type: ignore[attr-defined]
)


class SnapshotLike(Protocol):
    """A wire snapshot; each kind also has the attributes its table's columns name."""

    @property
    def id(self) -> int: ...
    @property
    def updated_at(self) -> datetime | None: ...
    @property
    def document(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class _Table:
    """How one kind is stored: its own columns (facts first) and which stream column joins it."""

    name: str
    columns: tuple[tuple[str, str, str], ...]  # (column, PostgreSQL type, snapshot attribute)
    # How many leading columns the streams' owners must see change: facts the domain judges
    # by, or values the admin list filters and sorts by (kept on the owner's list rows).
    facts: int
    joined_by: str | None  # the inventory_streams column naming a row of this table

    @property
    def streams(self) -> bool:
        """Whether this is the streams table itself (its rows carry a uuid, first)."""
        return self.joined_by is None

    def values(self, snapshot: SnapshotLike) -> tuple[Any, ...]:
        """The snapshot's values of this table's own columns."""
        return tuple(getattr(snapshot, attribute) for _, _, attribute in self.columns)


def _spec(columns: str) -> tuple[tuple[str, str, str], ...]:
    """(column, type, snapshot attribute) from "column type [attribute], ..."."""
    parts = [column.split() for column in columns.split(",")]
    return tuple((c[0], c[1], c[-1] if len(c) > 2 else c[0]) for c in parts)


_TABLES = {
    "streams": _Table(
        "inventory_streams",
        _spec(
            "uuid text, camera_id bigint, server_id bigint, is_enabled bool, url text, ip text, "
            "bitrate bigint, output_rate bigint, created_at timestamptz, url_masked text, "
            "sub_server_ids bigint[]"
        ),
        10,  # and any new snapshot: the list shows its fields
        None,
    ),
    "cameras": _Table(
        "inventory_cameras", _spec("is_increased_reconnect bool, name text"), 2, "camera_id"
    ),
    "servers": _Table(
        "inventory_servers",
        _spec("is_stream_condition_management_enabled bool manages_conditions, domain text"),
        2,
        "server_id",
    ),
}
_Plan = tuple[bool, SnapshotLike | None, int]  # a tombstone came; what stands after; its position


@dataclass(frozen=True, slots=True)
class _Row:
    """A row as stored before the batch, or as a snapshot of the batch will write it."""

    id: int
    updated_at: datetime | None
    values: tuple[Any, ...]
    snapshot: SnapshotLike | None = None  # None: the row already stored
    position: int = -1  # in the batch; stored rows come before it


def _older(new: datetime | None, old: datetime | None) -> bool:
    # Without a stamp on either side the topic's order decides: the later record wins.
    return new is not None and old is not None and new < old


def _collapse(items: Sequence[tuple[int, SnapshotLike | None]]) -> dict[int, _Plan]:
    """Per id: whether a tombstone came, what stands after it, and that snapshot's position."""
    plans: dict[int, _Plan] = {}
    for position, (object_id, snapshot) in enumerate(items):
        reset, current, _ = plans.get(object_id, (False, None, -1))
        if snapshot is None:
            plans[object_id] = (True, None, -1)
        elif current is None or not _older(snapshot.updated_at, current.updated_at):
            plans[object_id] = (reset, snapshot, position)
    return plans


def _one_per_uuid(rows: dict[int, _Row]) -> dict[int, _Row]:
    """A uuid names one stream: the claim with the newest stamp (then the latest) keeps it."""
    holders: dict[str, _Row] = {}
    for row in rows.values():
        held = holders.get(row.values[0])
        if held is None or _claim(held) < _claim(row):
            holders[row.values[0]] = row
    return {row.id: row for row in holders.values()}


def _claim(row: _Row) -> tuple[datetime, int]:
    return row.updated_at or datetime.min.replace(tzinfo=UTC), row.position


def _settle(
    table: _Table, plans: Mapping[int, _Plan], before: Mapping[int, _Row]
) -> dict[int, _Row]:
    """The rows as they stand after the batch."""
    after = dict(before)
    for object_id, (reset, snapshot, position) in plans.items():
        if reset:
            after.pop(object_id, None)
        stored = after.get(object_id)
        if snapshot is None or (stored and _older(snapshot.updated_at, stored.updated_at)):
            continue
        values = table.values(snapshot)
        after[object_id] = _Row(object_id, snapshot.updated_at, values, snapshot, position)
    return _one_per_uuid(after) if table.streams else after


async def _load_before(conn: Any, table: _Table, plans: Mapping[int, _Plan]) -> dict[int, _Row]:
    """The stored rows of the batch's ids (and, for streams, of the uuids it claims), locked."""
    names = ", ".join(name for name, _, _ in table.columns)
    ids = sorted(plans)
    if table.streams:
        uuids = sorted({table.values(s)[0] for _, s, _ in plans.values() if s is not None})
        where, args = "id = ANY($1::bigint[]) OR uuid = ANY($2::text[])", [ids, uuids]
    else:
        where, args = "id = ANY($1::bigint[])", [ids]
    records = await conn.fetch(
        f"SELECT id, updated_at, {names} FROM {table.name} WHERE {where} ORDER BY id FOR UPDATE",  # noqa: S608
        *args,
    )
    return {
        r["id"]: _Row(r["id"], r["updated_at"], tuple(r[name] for name, _, _ in table.columns))
        for r in records
    }


async def _write(
    conn: Any, table: _Table, before: Mapping[int, _Row], after: Mapping[int, _Row]
) -> None:
    """Delete the rows that go or change, then insert the new ones (a uuid may move between ids)."""
    gone = [i for i, row in before.items() if after.get(i) is not row]
    if gone:
        await conn.execute(f"DELETE FROM {table.name} WHERE id = ANY($1::bigint[])", gone)  # noqa: S608
    new = [(row, row.snapshot) for row in after.values() if row.snapshot is not None]
    if not new:
        return
    names = [name for name, _, _ in table.columns]
    # unnest flattens an array of arrays: an array column travels as its text, cast back.
    texts = {i for i, (_, kind, _) in enumerate(table.columns) if kind.endswith("[]")}
    carried = ["text" if i in texts else kind for i, (_, kind, _) in enumerate(table.columns)]
    types = ["bigint", *carried, "timestamptz", "text"]
    arrays: list[list[Any]] = [[row.id for row, _ in new]]
    arrays += [
        [_array_text(row.values[i]) if i in texts else row.values[i] for row, _ in new]
        for i in range(len(names))
    ]
    arrays.append([row.updated_at for row, _ in new])
    arrays.append([orjson.dumps(dict(snapshot.document)).decode() for _, snapshot in new])
    params = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=1))
    columns = ", ".join(["id", *names, "updated_at"])
    read = [
        f"{name}::{kind}" if i in texts else name for i, (name, kind, _) in enumerate(table.columns)
    ]
    values = ", ".join(["id", *read, "updated_at"])
    await conn.execute(
        f"INSERT INTO {table.name} ({columns}, doc) "  # noqa: S608
        f"SELECT {values}, doc::json FROM unnest({params}) AS n({columns}, doc)",
        *arrays,
    )


def _array_text(ids: Sequence[int]) -> str:
    """A list of ids as PostgreSQL's array text ('{1,2}')."""
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


async def _rechecks(
    conn: Any, table: _Table, before: Mapping[int, _Row], after: Mapping[int, _Row]
) -> list[str]:
    """The uuids of the streams whose facts or listed values the batch may have changed."""
    changed: set[int] = set()
    if table.streams:  # every new snapshot: the list rows carry its updated_at
        changed = {i for i in before.keys() | after.keys() if before.get(i) is not after.get(i)}
    for object_id in before.keys() | after.keys():
        old, new = before.get(object_id), after.get(object_id)
        old_facts = old.values[: table.facts] if old else None
        if old_facts != (new.values[: table.facts] if new else None):
            changed.add(object_id)
    if table.streams:
        rows = [row for i in changed for row in (before.get(i), after.get(i)) if row]
        return sorted({row.values[0] for row in rows})
    if not changed:
        return []
    records = await conn.fetch(
        f"SELECT uuid FROM inventory_streams WHERE {table.joined_by} = ANY($1::bigint[])",  # noqa: S608
        sorted(changed),
    )
    return sorted({r["uuid"] for r in records})


async def apply_snapshots(
    conn: Any, *, kind: str, items: Sequence[tuple[int, SnapshotLike | None]]
) -> list[str]:
    """Apply a batch of one kind's snapshots in order; the uuids of streams to re-check."""
    table = _TABLES[kind]
    plans = _collapse(items)
    if not plans:
        return []
    before = await _load_before(conn, table, plans)
    after = _settle(table, plans, before)
    await _write(conn, table, before, after)
    return await _rechecks(conn, table, before, after)


_FACTS = """
SELECT s.uuid, s.id, s.camera_id, s.server_id, s.is_enabled,
       coalesce(c.is_increased_reconnect, false) AS increased,
       coalesce(v.is_stream_condition_management_enabled, true) AS managed
FROM inventory_streams s
LEFT JOIN inventory_cameras c ON c.id = s.camera_id
LEFT JOIN inventory_servers v ON v.id = s.server_id
WHERE s.uuid = ANY($1::text[])
"""


async def load_facts(conn: Any, *, uuids: Collection[str]) -> dict[str, StreamFacts]:
    """What inventory says about each known stream of `uuids`; unknown uuids are absent."""
    if not uuids:
        return {}
    records = await conn.fetch(_FACTS, list(uuids))
    return {
        r["uuid"]: StreamFacts(
            stream_id=r["id"],
            camera_id=r["camera_id"],
            server_id=r["server_id"],
            enabled=r["is_enabled"],
            increased=r["increased"],
            managed=r["managed"],
        )
        for r in records
    }
