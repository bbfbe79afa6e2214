"""The admin list's rows (table `stream_list`): written by stream owners, read by the api.

A stream in at least one condition has a row per condition it is in and one under
ANY_CONDITION, keyed by numbers (migration 0018): the condition's in `list_conditions`, the
stream's `stream_windows.list_key`. The owner rewrites a stream's rows in its list flush
(every second or so, in one transaction per flush, for the windows stored list-dirty since
the last one), reading inventory as committed then; an inventory change that the rows show
re-checks the stream through its owner (see inventory.py), so the rows never keep a stale
snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, SmallInteger, Text
from sqlmodel import Field, SQLModel


class ListCondition(SQLModel, table=True):
    """A condition's number in the list tables, handed out as its name first reaches them."""

    __tablename__ = "list_conditions"

    id: int | None = Field(default=None, sa_column=Column(SmallInteger, primary_key=True))
    name: str = Field(sa_column=Column(Text(collation="C"), nullable=False, unique=True))


class StreamListRow(SQLModel, table=True):
    """One stream under one condition: the listed values every reconnection changes."""

    __tablename__ = "stream_list"

    condition_id: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    stream_key: int = Field(sa_column=Column(BigInteger, primary_key=True))
    uid: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    reconnect_attempt: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_total: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    disconnections: int = Field(sa_column=Column(Integer, nullable=False))


class StreamListFactsRow(SQLModel, table=True):
    """One stream under one condition: the listed values only inventory changes."""

    __tablename__ = "stream_list_facts"

    condition_id: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    stream_key: int = Field(sa_column=Column(BigInteger, primary_key=True))
    stream_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    camera_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    bitrate: int | None = Field(default=None, sa_column=Column(BigInteger))
    output_rate: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    search: str = Field(sa_column=Column(Text, nullable=False))
    ip: str = Field(sa_column=Column(Text, nullable=False))
    domain: str | None = Field(default=None, sa_column=Column(Text))
    # Copies of the row's stream_list values (migration 0010): a filtered page sorts by them
    # without looking each passing row up there. Not indexed, so rewriting them is HOT.
    reconnect_attempt: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_total: int | None = Field(default=None, sa_column=Column(BigInteger))
    reconnect_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    disconnections: int = Field(sa_column=Column(Integer, nullable=False))


# The media server's counters win; a stream no event has counted yet shows the VMS's own.
_COUNTER = (
    "coalesce({w}{f}, CASE WHEN json_typeof(s.doc->'{f}') = 'number' "
    "AND (s.doc->>'{f}') ~ '^-?[0-9]{{1,18}}$' THEN (s.doc->>'{f}')::bigint END)"
)
SHOWN_COUNTERS = {f: _COUNTER.format(w="w.", f=f) for f in ("reconnect_attempt", "reconnect_total")}

# The values a list flush writes come from the owner's windows (the flush table `b`), not
# from `stream_windows`: a batch committed while the flush runs must not mix into its rows.
_HOT = {
    "reconnect_attempt": _COUNTER.format(w="b.", f="reconnect_attempt"),
    "reconnect_total": _COUNTER.format(w="b.", f="reconnect_total"),
    "reconnect_ms": "b.reconnect_ms",
    "disconnections": "b.disconnections",
}
_FACTS = {
    "stream_id": "s.id",
    "camera_id": "s.camera_id",
    "bitrate": "s.bitrate",
    "output_rate": "s.output_rate",
    "created_at": "s.created_at",
    "updated_at": "s.updated_at",
    "search": "lower(coalesce(c.name, '') || E'\\n' || coalesce(s.url_masked, ''))",
    "ip": "lower(coalesce(s.ip, ''))",
    "domain": "lower(v.domain)",
}
# Every commit that writes a table the list reads notifies this channel (migration 0009).
CHANGED_CHANNEL = "stream_health_list"
HOT_COLUMNS = frozenset(_HOT)  # the others are stream_list_facts columns
_FLUSH_COLUMNS = (
    "uid",
    "condition_id",
    "disconnections",
    "reconnect_attempt",
    "reconnect_total",
    "reconnect_ms",
    "facts",
)
# The worker's rows go to stream_list_copied as they come; stream_list_flush holds them with
# their stream's key, which the statements below join and write on.
_FLUSH_TABLES = (
    'CREATE TEMP TABLE IF NOT EXISTS stream_list_copied (uid text COLLATE "C", '
    "condition_id smallint, disconnections int, reconnect_attempt bigint, "
    "reconnect_total bigint, reconnect_ms bigint, facts bool) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE IF NOT EXISTS stream_list_flush "
    "(LIKE stream_list_copied, stream_key bigint) ON COMMIT DELETE ROWS"
)
_JOINS = (
    "FROM stream_list_flush b "
    "LEFT JOIN inventory_streams s ON s.uuid = b.uid "
    "LEFT JOIN inventory_cameras c ON c.id = s.camera_id "
    "LEFT JOIN inventory_servers v ON v.id = s.server_id "
)


def _upsert(
    table: str,
    values: dict[str, str],
    *,
    keys: tuple[str, ...] = (),
    joins: str = "",
    where: str = "",
) -> str:
    # Built from the constant names above only. A row whose values did not change is not
    # rewritten, so it costs no index entries. Rows go in (stream_key, condition_id) order:
    # two flushes of the same streams (a zombie owner's and the new one's) lock them in the
    # same order. `keys`: more columns written when a row is inserted, never updated.
    columns = ", ".join(values)
    changed = (
        f"({', '.join(f'{table}.{c}' for c in values)}) IS DISTINCT FROM "
        f"({', '.join(f'EXCLUDED.{c}' for c in values)})"
    )
    extra = "".join(f"{c}, " for c in keys)
    sources = "".join(f"b.{c}, " for c in keys)
    return (
        f"INSERT INTO {table} (condition_id, stream_key, {extra}{columns}) "
        f"SELECT b.condition_id, b.stream_key, {sources}{', '.join(values.values())} "
        f"{_JOINS}{joins}{where}"
        f"ORDER BY b.stream_key, b.condition_id "
        f"ON CONFLICT (stream_key, condition_id) DO UPDATE SET "
        f"{', '.join(f'{c} = EXCLUDED.{c}' for c in values)} WHERE {changed}"
    )


# The rows to write with their stream's key, looked up once for the deletes and the writes.
# Inserted with it rather than updated to it: an UPDATE writes every row a second time (0.42
# against 0.25 s for 224k rows in a lab). A row of a stream with no stored window is left out.
_KEYED = (
    "INSERT INTO stream_list_flush (uid, condition_id, stream_key, "  # noqa: S608
    f"{', '.join(_FLUSH_COLUMNS[2:])}) "
    f"SELECT c.uid, c.condition_id, w.list_key, {', '.join(f'c.{n}' for n in _FLUSH_COLUMNS[2:])} "
    "FROM stream_list_copied c JOIN stream_windows w ON w.uid = c.uid"
)


def _delete(table: str, returning: str = "") -> str:
    # The flushed streams' rows the flush does not write (a stream's rows are all in it).
    return (
        f"DELETE FROM {table} l USING (SELECT DISTINCT stream_key FROM stream_list_flush) k "  # noqa: S608
        "WHERE l.stream_key = k.stream_key AND NOT EXISTS (SELECT 1 FROM stream_list_flush b "
        "WHERE b.stream_key = l.stream_key AND b.condition_id = l.condition_id)"
        f"{returning}"
    )


# The hot rows: written for every stream flushed. Which rows are new (xmax = 0: inserted, not
# updated) is counted for condition_counts, and marks the facts rows the flush must add; the
# facts rows of the others get the values that changed (their copies, see _COPIES).
_HOT_WRITE = f"""
WITH written AS (
    {_upsert("stream_list", _HOT, keys=("uid",), where="WHERE b.condition_id IS NOT NULL ")}
    RETURNING stream_list.*, stream_list.xmax = 0 AS inserted
),
added AS (
    UPDATE stream_list_flush b SET facts = true FROM written
    WHERE written.inserted AND b.stream_key = written.stream_key
    AND b.condition_id = written.condition_id
),
copied AS (
    UPDATE stream_list_facts f SET {", ".join(f"{c} = written.{c}" for c in _HOT)}
    FROM written
    WHERE NOT written.inserted AND f.stream_key = written.stream_key
    AND f.condition_id = written.condition_id
)
SELECT condition_id, count(*) AS n FROM written WHERE inserted GROUP BY condition_id
"""  # noqa: S608 (built from the constants above only)
# The facts rows carry copies of their stream_list values, which a filtered page sorts by
# (migration 0010): taken from the row this flush left there, so the two never differ.
_COPIES = {column: f"h.{column}" for column in _HOT}
# The facts rows: new ones, and every row of a stream whose inventory may have changed.
_FACTS_WRITE = _upsert(
    "stream_list_facts",
    {**_FACTS, **_COPIES},
    joins="JOIN stream_list h ON h.condition_id = b.condition_id AND h.stream_key = b.stream_key ",
    where="WHERE b.facts AND b.condition_id IS NOT NULL ",
)


@dataclass(frozen=True, slots=True)
class ListedStream:
    """What a list flush writes for one stream: its rows' counts and its window's registers."""

    uid: str
    # Aligned: the conditions it is listed under (one tuple shared by the streams in the same
    # conditions) and the disconnections shown under each; empty: no rows. A flush holds one
    # of these per stream it writes, so no dict each.
    conditions: tuple[str, ...]
    counts: tuple[int, ...]
    reconnect_attempt: int | None
    reconnect_total: int | None
    reconnect_ms: int | None
    facts: bool  # inventory may have changed since its last flush: rewrite its facts rows


async def save_listing(conn: Any, *, streams: Sequence[ListedStream]) -> Counter[str]:
    """Make the list rows of `streams` what they say, in the caller's transaction.

    Returns how many rows each condition gained (or lost, negative), counted from the rows
    actually inserted and deleted: what `condition_counts` must move by for the list's totals
    to keep matching its rows, even when another flush of the same streams ran meanwhile.
    """
    moved: Counter[str] = Counter()
    if not streams:
        return moved
    # Streams in the same conditions share one tuple of them: a few distinct tuples.
    ids = await condition_ids(conn, {c for t in {s.conditions for s in streams} for c in t})
    names = {number: name for name, number in ids.items()}
    await conn.execute(_FLUSH_TABLES)
    # A generator: a flush of every stream would otherwise hold ~2.5 row tuples per stream.
    # A stream in no condition has one row with no condition: it has no list rows to write,
    # but its key finds the rows to delete.
    records = (
        (s.uid, condition, count, s.reconnect_attempt, s.reconnect_total, s.reconnect_ms, s.facts)
        for s in streams
        for condition, count in (
            zip((ids[c] for c in s.conditions), s.counts, strict=True)
            if s.conditions
            else ((None, None),)
        )
    )
    copied = await conn.copy_records_to_table(
        "stream_list_copied", records=records, columns=_FLUSH_COLUMNS
    )
    keyed = await conn.execute(_KEYED)
    if _count(keyed) != _count(copied):
        raise ValueError("list rows of streams with no stored window: store windows first")
    for row in await conn.fetch(_delete("stream_list", " RETURNING l.condition_id")):
        moved[names[row["condition_id"]]] -= 1
    await conn.execute(_delete("stream_list_facts"))
    if any(s.conditions for s in streams):
        for row in await conn.fetch(_HOT_WRITE):
            moved[names[row["condition_id"]]] += row["n"]
        await conn.execute(_FACTS_WRITE)
    return moved


def named(table: str) -> str:
    """A subquery of `table`'s rows (stream_list or stream_list_facts) with their condition's
    name as `condition` and their stream's `uid`: the rows as people, checks and benchmarks
    read them (the product reads them by number)."""
    if table not in {"stream_list", "stream_list_facts"}:
        raise ValueError(f"not a list table: {table}")
    uid = "" if table == "stream_list" else "w.uid, "
    windows = (
        "" if table == "stream_list" else "JOIN stream_windows w ON w.list_key = t.stream_key "
    )
    return (
        f"(SELECT c.name AS condition, {uid}t.* FROM {table} t "  # noqa: S608
        f"JOIN list_conditions c ON c.id = t.condition_id {windows})"
    )


def _count(status: str) -> int:
    """The row count of a command's status ("COPY 12", "INSERT 0 12")."""
    return int(status.rsplit(" ", 1)[-1])


async def condition_ids(conn: Any, names: Collection[str]) -> dict[str, int]:
    """Every condition name the list tables number, and its number; those of `names` not yet
    numbered get one first.

    A name is numbered once: flushes that meet a new one at once wait for the first's insert
    to commit, then read its number (each statement reads as committed when it starts).
    """
    if names:
        # Only the missing names are inserted: a conflicting insert still draws a number.
        await conn.execute(
            "INSERT INTO list_conditions (name) SELECT n FROM unnest($1::text[]) AS n "
            "WHERE NOT EXISTS (SELECT FROM list_conditions c WHERE c.name = n) "
            "ORDER BY n ON CONFLICT (name) DO NOTHING",
            sorted(names),
        )
    return {row["name"]: row["id"] for row in await conn.fetch(_CONDITIONS)}


_CONDITIONS = "SELECT name, id FROM list_conditions"


# The ip with its separators as letters, so pg_trgm reads an address as one word and a dotted
# substring has trigrams across its dots (migration 0008 indexes exactly this expression).
IP_KEY = "translate({}, '.:', 'xy')"
_IP_LETTERS = str.maketrans(".:", "xy")  # the same translation, of a pattern, in Python


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One page of the list: the rows of `condition` passing the filters, in sort order."""

    condition: str
    sort_column: str  # a list column with a (condition_id, column, stream_key) index
    descending: bool
    limit: int
    offset: int
    search: str | None = None  # substring of lower(camera name) or lower(masked url)
    ip: str | None = None  # substring of the stream's ip
    domain: str | None = None  # the main server's domain, any case

    @property
    def filtered(self) -> bool:
        """Whether a text filter applies (search, ip or domain)."""
        return self.search is not None or self.ip is not None or self.domain is not None

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause over stream_list_facts `f` and its arguments ($1: the condition)."""
        clauses, args = [f"f.condition_id = {CONDITION_ID}"], [self.condition]
        if self.search is not None:
            args.append(f"%{_escape_like(self.search.lower())}%")
            clauses.append(f"f.search LIKE ${len(args)}")
        if self.ip is not None:
            pattern = f"%{_escape_like(self.ip.lower())}%"
            # The index finds the candidates (a row whose ip holds the substring holds it
            # translated too); the plain LIKE keeps the answer exact. The pattern is translated
            # here, not by PostgreSQL once per candidate row (a generic plan does not fold it).
            args += [pattern.translate(_IP_LETTERS), pattern]
            clauses.append(f"{IP_KEY.format('f.ip')} LIKE ${len(args) - 1}")
            clauses.append(f"f.ip LIKE ${len(args)}")
        if self.domain is not None:
            args.append(self.domain.lower())
            clauses.append(f"f.domain = ${len(args)}")
        return " AND ".join(clauses), args


# The condition's number, of its name $1 (none for a name no flush has listed yet: no rows).
CONDITION_ID = "(SELECT id FROM list_conditions WHERE name = $1)"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SORTABLE = (HOT_COLUMNS | frozenset(_FACTS)) - {"search", "ip", "domain"}


# The page's keys come from the (condition_id, column, stream_key) index alone (an index-only
# scan); the rest of each row is read for the page's rows only.
# Filtered, the rows passing are read once (a trigram or domain index scan), then sorted and
# counted in memory: scanning them twice (page, then count) cost twice as much. A deep page
# costs little more than the first there (a top-N sort of a few thousand rows at most), so it
# is not read from the nearer end.
_PASSING = """
WITH passing AS MATERIALIZED (
    SELECT f.stream_key, f.{column} AS sort_key FROM stream_list_facts f WHERE {where}
),
page AS (
    SELECT stream_key, sort_key FROM passing
    ORDER BY sort_key {direction}, stream_key {direction} LIMIT {limit} OFFSET {offset}
)
"""
# Unfiltered, a page past the middle of the rows is read from the nearer end: the index walked
# backwards, skipping `total - offset - limit` entries, instead of `offset` forwards. The order
# is (column, stream_key), both one way, so the backward walk is exactly its reverse (nulls
# included: last ascending, first descending), and the outer ORDER BY turns the page back
# round. One-time filters run one scan or the other, never both. Both keep LIMIT the plain
# parameter, so the planner knows a page is a few rows (a computed LIMIT reads to it as a tenth
# of the table, and it then hash-joins the documents and compiles the plan); the last, partial
# page is cut from the backward scan's rows by a second LIMIT. The total and the scans are one
# statement, one snapshot: the counter moves in the transaction that writes the rows, so it
# counts the rows the scans see.
_INDEXED = """
WITH counted AS MATERIALIZED (
    SELECT coalesce(max(streams), 0)::bigint AS total FROM condition_counts WHERE condition = $1
),
span AS MATERIALIZED (
    SELECT 2 * {offset}::bigint > total AS backwards,
           greatest(least({limit}::bigint, total - {offset}::bigint), 0) AS behind,
           greatest(total - {offset}::bigint - {limit}::bigint, 0) AS skip_behind
    FROM counted
),
page AS (
    SELECT * FROM (
        SELECT stream_key, {column} AS sort_key FROM {table} WHERE condition_id = {condition}
        ORDER BY {column} {direction}, stream_key {direction} LIMIT {limit} OFFSET {offset}
    ) AS ahead WHERE NOT (SELECT backwards FROM span)
    UNION ALL
    (SELECT * FROM (
        SELECT stream_key, {column} AS sort_key FROM {table} WHERE condition_id = {condition}
        ORDER BY {column} {reverse}, stream_key {reverse}
        LIMIT {limit} OFFSET (SELECT skip_behind FROM span)
    ) AS behind WHERE (SELECT backwards FROM span) LIMIT (SELECT behind FROM span))
)
"""
# The most rows a page holds. The api plans each statement once per connection (a generic
# plan: planning it per request cost more than most pages' execution), and a generic plan
# does not know LIMIT: it reads the page as a tenth of the rows and hash-joins the documents.
# This constant bound, a no-op on any page, tells it a page is a few rows.
MAX_PAGE_ROWS = 100
# The page's rows, then one row per server they show (their main server and sub-servers, each
# once, with its latest pulse's statistics): one statement, one round trip and one snapshot
# for everything a page shows. A server row has no uid; the empty page is one row with
# neither, for its total.
_PAGE = """,
listed AS MATERIALIZED (
    SELECT p.sort_key, p.stream_key,
           l.uid, l.disconnections, w.conditions, w.last_reconnect_ms,
           {attempt} AS reconnect_attempt, {total} AS reconnect_total,
           s.doc::text AS stream, s.sub_server_ids, c.doc::text AS camera, v.id AS server_id,
           a.last_event_ms AS server_seen_ms
    FROM (SELECT * FROM page LIMIT {page_rows}) AS p
    JOIN stream_list l ON l.condition_id = {condition} AND l.stream_key = p.stream_key
    JOIN stream_windows w ON w.uid = l.uid
    LEFT JOIN inventory_streams s ON s.uuid = l.uid
    LEFT JOIN inventory_cameras c ON c.id = s.camera_id
    LEFT JOIN inventory_servers v ON v.id = s.server_id
    LEFT JOIN server_activity a ON a.domain = lower(v.domain)  -- events name it in lower case
),
shown AS (  -- an array: the servers are then looked up by their key, a few rows
    SELECT ARRAY(SELECT server_id FROM listed UNION SELECT unnest(sub_server_ids) FROM listed)
        AS ids
)
SELECT ({count}) AS total, 0 AS part, r.sort_key, r.stream_key,
       r.uid, r.disconnections, r.conditions, r.last_reconnect_ms,
       r.reconnect_attempt, r.reconnect_total, r.stream, r.camera,
       r.server_id, r.server_seen_ms, NULL::text AS server_doc, NULL::text AS server_extra
FROM (SELECT) AS one LEFT JOIN listed AS r ON true
UNION ALL
SELECT NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       v.id, NULL, v.doc::text, a.extra::text
FROM inventory_servers v LEFT JOIN server_activity a ON a.domain = lower(v.domain)
WHERE v.id = ANY((SELECT ids FROM shown)::bigint[])
ORDER BY part, sort_key {direction}, stream_key {direction}
"""


@dataclass(frozen=True, slots=True)
class ListedPage:
    """The rows passing the query (how many), the page's rows, in order, with their joins, and
    the servers they show."""

    total: int
    rows: list[Any]  # uid, disconnections, the window's registers, documents as JSON text
    # Per server a row shows (main or sub-server) that inventory knows: its document and its
    # latest pulse's statistics (JSON text), read once however many of the rows show it.
    servers: dict[int, tuple[str, str | None]]


def page_statement(query: ListQuery) -> tuple[str, list[Any]]:
    """The one statement that reads the count and the page, and its arguments."""
    if query.sort_column not in _SORTABLE:
        raise ValueError(f"not a sort column: {query.sort_column}")
    if not 0 <= query.limit <= MAX_PAGE_ROWS:
        raise ValueError(f"a page holds 0 to {MAX_PAGE_ROWS} rows, not {query.limit}")
    hot = query.sort_column in HOT_COLUMNS
    if query.filtered:
        # Every sort column is on stream_list_facts: the stream_list values as copies.
        where, args = query.where()
        template = _PASSING + _PAGE
        # Filtered, the rows passing were read once: count them there.
        count = "SELECT count(*) FROM passing"
    else:
        where, args = "", [query.condition]
        template = _INDEXED + _PAGE
        # Unfiltered, the total is the condition's counter, moved by the list flush that
        # writes the rows.
        count = "SELECT total FROM counted"
    # LIMIT and OFFSET as parameters: one prepared statement per query shape, not per page.
    args += [int(query.limit), int(query.offset)]
    direction, reverse = ("DESC", "ASC") if query.descending else ("ASC", "DESC")
    sql = template.format(
        column=query.sort_column,
        table="stream_list" if hot else "stream_list_facts",
        where=where,
        count=count,
        direction=direction,
        reverse=reverse,
        limit=f"${len(args) - 1}",
        offset=f"${len(args)}",
        page_rows=MAX_PAGE_ROWS,
        condition=CONDITION_ID,
        attempt=SHOWN_COUNTERS["reconnect_attempt"],
        total=SHOWN_COUNTERS["reconnect_total"],
    )
    return sql, args


async def list_page(conn: Any, query: ListQuery) -> ListedPage:
    """The count, the page and its servers in one statement (one snapshot): one index range
    scan each."""
    sql, args = page_statement(query)
    rows = await conn.fetch(sql, *args)
    total = rows[0]["total"] if rows else 0
    listed, servers = [], {}
    for row in rows:
        if row["part"]:  # a server's row
            servers[row["server_id"]] = (row["server_doc"], row["server_extra"])
        elif row["uid"] is not None:  # not the empty page's row
            listed.append(row)
    return ListedPage(int(total), listed, servers)
