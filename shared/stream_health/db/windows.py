"""Stream windows in PostgreSQL: the owner's state per stream, loaded and saved per batch."""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import BigInteger, Boolean, Column, Integer, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from stream_health.domain.stream import StreamFacts, StreamWindow
from stream_health_core import window_copy

_VERSION_BYTES = 16
K = TypeVar("K")
V = TypeVar("V")


class StreamWindowRow(SQLModel, table=True):
    """One stream's window, conditions and registers; columns the views read are plain."""

    __tablename__ = "stream_windows"

    uid: str = Field(sa_column=Column(Text(collation="C"), primary_key=True))
    partition: int = Field(sa_column=Column(Integer, nullable=False))
    stamps: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    conditions: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    # When the owner next looks: a condition drains or a count the admin list shows falls.
    drain_at_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_reconnect_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    server_state: str | None = Field(default=None, sa_column=Column(Text))
    present: bool = Field(sa_column=Column(Boolean, nullable=False))
    deleted_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    reconnect_attempt: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_total: int | None = Field(default=None, sa_column=Column(BigInteger))
    versions: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stream_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    camera_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    server_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    increased: bool = Field(sa_column=Column(Boolean, nullable=False))
    managed: bool = Field(sa_column=Column(Boolean, nullable=False))
    # When it was last stored: a number from WRITTEN, one per statement that stores windows.
    # Its admin-list rows are behind it while this is above its partition's list mark.
    written: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # The stream's number in the admin-list tables (migration 0018): drawn from a sequence
    # when the window is first stored, never changed (windows are never deleted).
    list_key: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger, nullable=False, server_default=text("nextval('stream_windows_list_key')")
        ),
    )


COLUMNS = (
    "uid",
    "partition",
    "stamps",
    "conditions",
    "seq",
    "drain_at_ms",
    "last_reconnect_ms",
    "server_state",
    "present",
    "deleted_ms",
    "reconnect_attempt",
    "reconnect_total",
    "versions",
    "stream_id",
    "camera_id",
    "server_id",
    "enabled",
    "increased",
    "managed",
)


# Built once from the constant column names above: no input reaches these strings.
_COLUMN_LIST = ", ".join(COLUMNS)
_SELECT = f"SELECT {_COLUMN_LIST} FROM stream_windows WHERE uid = ANY($1::text[])"  # noqa: S608
# Every statement that stores windows numbers them with the next WRITTEN (an InitPlan: one
# number per statement), later than any list mark taken before it (migration 0017).
WRITTEN = "stream_windows_written"
_UPSERT = (
    f"INSERT INTO stream_windows ({_COLUMN_LIST}, written) "  # noqa: S608
    f"SELECT {_COLUMN_LIST}, (SELECT nextval('{WRITTEN}')) FROM stream_windows_batch "
    "ON CONFLICT (uid) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*COLUMNS[1:], "written"))
)


def _pack_versions(state: int, presence: int, counters: int) -> bytes:
    # -1 (never written) is stored as 0: every real version is >= 0.
    return (
        (state + 1).to_bytes(_VERSION_BYTES, "big")
        + (presence + 1).to_bytes(_VERSION_BYTES, "big")
        + (counters + 1).to_bytes(_VERSION_BYTES, "big")
    )


def _unpack_versions(packed: bytes) -> list[int]:
    return [
        int.from_bytes(packed[i : i + _VERSION_BYTES], "big") - 1
        for i in range(0, len(packed), _VERSION_BYTES)
    ]


class _Shared(Generic[K, V]):
    """One value made per distinct key and shared by every caller; the table is emptied
    when full (streams share a few sets of conditions, so it hardly ever is)."""

    def __init__(self, make: Callable[[K], V], *, limit: int = 1024) -> None:
        self._make, self._limit = make, limit
        self._made: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        found = self._made.get(key)
        if found is None:
            if len(self._made) >= self._limit:
                self._made.clear()
            found = self._made[key] = self._make(key)
        return found


# The stored (sorted) form of each set of conditions.
_sorted = _Shared[frozenset[str], list[str]](sorted)
# A loaded window's set of conditions: a frozenset takes ~200 B (a worker that restarts loads
# every window it touches).
_conditions = _Shared[tuple[str, ...], frozenset[str]](frozenset)


# What a batch stores per window: (partition, the window, its next wake-up or None).
WindowItem = tuple[int, StreamWindow, int | None]


def to_row(stream: StreamWindow, *, partition: int, drain_at_ms: int | None) -> tuple[Any, ...]:
    """The row for `stream`, in COLUMNS order: the reference model of `window_copy`'s rows
    (shared/native/src/rows.rs), which a batch stores."""
    facts = stream.facts
    return (
        stream.uid,
        partition,
        stream.stamps,
        _sorted(stream.conditions),
        stream.seq,
        drain_at_ms,
        stream.last_reconnect_ms,
        stream.server_state,
        stream.present,
        stream.deleted_ms,
        stream.reconnect_attempt,
        stream.reconnect_total,
        _pack_versions(
            stream.server_state_version, stream.presence_version, stream.counters_version
        ),
        facts.stream_id,
        facts.camera_id,
        facts.server_id,
        facts.enabled,
        facts.increased,
        facts.managed,
    )


def from_row(row: Any) -> StreamWindow:
    """The stream a stored row describes."""
    state_version, presence_version, counters_version = _unpack_versions(row["versions"])
    return StreamWindow(
        uid=row["uid"],
        stamps=bytes(row["stamps"]),
        last_reconnect_ms=row["last_reconnect_ms"],
        server_state=None if row["server_state"] is None else sys.intern(row["server_state"]),
        server_state_version=state_version,
        present=row["present"],
        presence_version=presence_version,
        deleted_ms=row["deleted_ms"],
        reconnect_attempt=row["reconnect_attempt"],
        reconnect_total=row["reconnect_total"],
        counters_version=counters_version,
        facts=StreamFacts(
            stream_id=row["stream_id"],
            camera_id=row["camera_id"],
            server_id=row["server_id"],
            enabled=row["enabled"],
            increased=row["increased"],
            managed=row["managed"],
        ),
        conditions=_conditions(tuple(row["conditions"])),
        seq=row["seq"],
    )


async def load_windows(conn: Any, *, uids: Collection[str]) -> dict[str, StreamWindow]:
    """The stored windows of `uids` (absent ones are new streams)."""
    if not uids:
        return {}
    rows = await conn.fetch(_SELECT, list(uids))
    return {row["uid"]: from_row(row) for row in rows}


# The stored columns only: no defaults, so loading a batch draws no list key per row.
_BATCH_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS stream_windows_batch ON COMMIT DELETE ROWS AS "  # noqa: S608
    f"SELECT {_COLUMN_LIST} FROM stream_windows WITH NO DATA"
)


def encode_windows(items: list[WindowItem]) -> bytes | None:
    """The binary COPY data of `items` (written by the compiled `window_copy`, straight from
    the windows): an immutable copy of them as they are now. None: nothing to save."""
    return window_copy(items) if items else None


async def save_windows(conn: Any, *, items: list[WindowItem]) -> None:
    """Upsert windows with one binary COPY and one INSERT ... ON CONFLICT."""
    await save_encoded(conn, data=encode_windows(items))


async def save_encoded(conn: Any, *, data: bytes | None) -> None:
    """Upsert the windows `encode_windows` wrote."""
    if data is None:
        return
    await conn.execute(_BATCH_TABLE)
    # A memoryview: asyncpg would take bytes for a file name.
    await conn.copy_to_table(
        "stream_windows_batch", source=memoryview(data), columns=COLUMNS, format="binary"
    )
    await conn.execute(_UPSERT)


async def save_rows(conn: Any, *, rows: Iterable[tuple[Any, ...]]) -> None:
    """`save_windows` from `to_row`'s rows, encoded by the driver: the reference path."""
    records = list(rows)
    if not records:
        return
    await conn.execute(_BATCH_TABLE)
    await conn.copy_records_to_table("stream_windows_batch", records=records, columns=COLUMNS)
    await conn.execute(_UPSERT)


# The windows whose list rows are behind them: stored after their partition's list mark, the
# WRITTEN number its owner's last list flush of the partition took (migration 0017). Callers
# may add conditions on `w` with AND.
LIST_BEHIND = (
    "SELECT w.partition, w.uid FROM stream_windows w "
    "LEFT JOIN list_marks m ON m.partition = w.partition "
    "WHERE w.written > coalesce(m.listed_through, 0)"
)


async def list_dirty_uids(conn: Any, *, partitions: Collection[int]) -> dict[int, set[str]]:
    """Per partition of `partitions`, the streams whose list rows are behind their window."""
    if not partitions:
        return {}
    rows = await conn.fetch(f"{LIST_BEHIND} AND w.partition = ANY($1::int[])", list(partitions))
    dirty: dict[int, set[str]] = {}
    for row in rows:
        dirty.setdefault(row["partition"], set()).add(row["uid"])
    return dirty


async def take_list_mark(conn: Any) -> int:
    """A WRITTEN number above every window stored so far, below every one stored later: a list
    flush takes it with its windows, and marks its partitions listed through it."""
    return int(await conn.fetchval(f"SELECT nextval('{WRITTEN}')"))


async def mark_listed(conn: Any, *, partitions: Collection[int], through: int) -> None:
    """Record that the list rows of `partitions` are written as of every window stored up to
    `through` (`take_list_mark`): one row per partition, not one per window."""
    if partitions:
        await conn.execute(
            "INSERT INTO list_marks (partition, listed_through) "
            "SELECT p, $2 FROM unnest($1::int[]) AS p "
            "ON CONFLICT (partition) DO UPDATE SET listed_through = "
            "greatest(list_marks.listed_through, EXCLUDED.listed_through)",
            sorted(partitions),
            through,
        )


async def pending_drains(conn: Any, *, partitions: Collection[int]) -> list[tuple[int, str, int]]:
    """(drain instant, uid, partition) of every stream in `partitions` that will drain."""
    if not partitions:
        return []
    rows = await conn.fetch(
        "SELECT drain_at_ms, uid, partition FROM stream_windows "
        "WHERE partition = ANY($1::int[]) AND drain_at_ms IS NOT NULL",
        list(partitions),
    )
    return [(r["drain_at_ms"], r["uid"], r["partition"]) for r in rows]


async def partition_uids(conn: Any, *, partition: int) -> list[str]:
    """Every stream uid stored for a partition."""
    rows = await conn.fetch("SELECT uid FROM stream_windows WHERE partition = $1", partition)
    return [row["uid"] for row in rows]


async def load_partition_rules(conn: Any, *, partitions: Collection[int]) -> dict[int, Any]:
    """The conditions (as data) each partition's streams were last judged by."""
    rows = await conn.fetch(
        "SELECT partition, conditions::text AS conditions FROM partition_rules "
        "WHERE partition = ANY($1::int[])",
        list(partitions),
    )
    # Text on the wire both ways: the engine may install its own jsonb codec.
    return {row["partition"]: orjson.loads(row["conditions"]) for row in rows}


async def save_partition_rules(conn: Any, *, partition: int, conditions: Any) -> None:
    """Remember the conditions a partition's streams are now judged by."""
    await conn.execute(
        "INSERT INTO partition_rules (partition, conditions) VALUES ($1, $2::text::jsonb) "
        "ON CONFLICT (partition) DO UPDATE SET conditions = EXCLUDED.conditions, "
        "updated_at = now()",
        partition,
        orjson.dumps(conditions).decode(),
    )


async def add_condition_counts(conn: Any, *, deltas: Mapping[str, int]) -> None:
    """Move the streams-per-condition counters by the batch's entered/left."""
    moved = {name: delta for name, delta in deltas.items() if delta}
    if not moved:
        return
    names = sorted(moved)
    await conn.execute(
        "INSERT INTO condition_counts (condition, streams) "
        "SELECT * FROM unnest($1::text[], $2::bigint[]) "
        "ON CONFLICT (condition) DO UPDATE "
        "SET streams = condition_counts.streams + EXCLUDED.streams",
        names,
        [moved[n] for n in names],
    )


async def condition_counts(conn: Any) -> dict[str, int]:
    """Streams currently in each condition."""
    rows = await conn.fetch("SELECT condition, streams FROM condition_counts")
    return {row["condition"]: row["streams"] for row in rows}
