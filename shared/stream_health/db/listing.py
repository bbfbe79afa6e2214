"""The admin list's rows (table `stream_list`): written by stream owners, read by the api.

A stream in at least one condition has a row per condition it is in and one under
ANY_CONDITION. The owner rewrites a stream's rows in the transaction that stores its window,
reading inventory as committed then; an inventory change that the rows show re-checks the
stream through its owner (see inventory.py), so the rows never keep a stale snapshot.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, Text
from sqlmodel import Field, SQLModel


class StreamListRow(SQLModel, table=True):
    """One stream under one condition, with every value the list filters or sorts by."""

    __tablename__ = "stream_list"

    condition: str = Field(sa_column=Column(Text, primary_key=True))
    uid: str = Field(sa_column=Column(Text, primary_key=True))
    stream_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    camera_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_attempt: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_total: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    disconnections: int = Field(sa_column=Column(Integer, nullable=False))
    bitrate: int | None = Field(default=None, sa_column=Column(BigInteger))
    output_rate: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    search: str = Field(sa_column=Column(Text, nullable=False))
    ip: str = Field(sa_column=Column(Text, nullable=False))
    domain: str | None = Field(default=None, sa_column=Column(Text))


# The media server's counters win; a stream no event has counted yet shows the VMS's own.
_COUNTER = (
    "coalesce(w.{f}, CASE WHEN jsonb_typeof(s.doc->'{f}') = 'number' "
    "AND (s.doc->>'{f}') ~ '^-?[0-9]{{1,18}}$' THEN (s.doc->>'{f}')::bigint END)"
)
SHOWN_COUNTERS = {f: _COUNTER.format(f=f) for f in ("reconnect_attempt", "reconnect_total")}

_VALUES = {
    "stream_id": "s.id",
    "camera_id": "s.camera_id",
    "reconnect_attempt": SHOWN_COUNTERS["reconnect_attempt"],
    "reconnect_total": SHOWN_COUNTERS["reconnect_total"],
    "reconnect_ms": "w.last_reconnect_ms",
    "disconnections": "b.disconnections",
    "bitrate": "s.bitrate",
    "output_rate": "s.output_rate",
    "created_at": "s.created_at",
    "updated_at": "s.updated_at",
    "search": "lower(coalesce(c.name, '') || E'\\n' || coalesce(s.url_masked, ''))",
    "ip": "lower(coalesce(s.ip, ''))",
    "domain": "lower(v.domain)",
}
_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUES)
_CHANGED = (
    f"({', '.join(f'stream_list.{c}' for c in _VALUES)}) IS DISTINCT FROM "
    f"({', '.join(f'EXCLUDED.{c}' for c in _VALUES)})"
)
# Built once from the constant names above: no input reaches these strings.
_UPSERT = (
    f"INSERT INTO stream_list (condition, uid, {', '.join(_VALUES)}) "  # noqa: S608
    f"SELECT b.condition, b.uid, {', '.join(_VALUES.values())} "
    "FROM stream_list_batch b JOIN stream_windows w ON w.uid = b.uid "
    "LEFT JOIN inventory_streams s ON s.uuid = b.uid "
    "LEFT JOIN inventory_cameras c ON c.id = s.camera_id "
    "LEFT JOIN inventory_servers v ON v.id = s.server_id "
    f"ON CONFLICT (condition, uid) DO UPDATE SET {_SET} WHERE {_CHANGED}"
)
_DELETE = (
    "DELETE FROM stream_list l WHERE l.uid = ANY($1::text[]) AND NOT EXISTS "
    "(SELECT 1 FROM stream_list_batch b WHERE b.uid = l.uid AND b.condition = l.condition)"
)


async def save_listing(
    conn: Any, *, uids: Collection[str], counts: Iterable[tuple[str, str, int]]
) -> None:
    """Make the list rows of `uids` those of `counts` (uid, condition, disconnections)."""
    if not uids:
        return
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS stream_list_batch "
        "(uid text, condition text, disconnections int) ON COMMIT DELETE ROWS"
    )
    records = list(counts)
    if records:
        await conn.copy_records_to_table(
            "stream_list_batch", records=records, columns=("uid", "condition", "disconnections")
        )
    await conn.execute(_DELETE, list(uids))
    if records:
        await conn.execute(_UPSERT)
