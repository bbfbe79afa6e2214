"""The admin list's read path (`list_page`) over list rows written here directly, real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import pytest

from stream_health.db.engine import make_read_pool, plain_dsn
from stream_health.db.listing import (
    CONDITION_ID,
    ListQuery,
    condition_ids,
    list_page,
    page_statement,
)
from tests.conftest import fresh_database

CONDITION = "incorrect"
ROWS = 60


def _uid(n: int) -> str:
    # Same-length lowercase hex: the database's collation orders them as Python does.
    return f"{(n * 2654435761) % 2**32:08x}-0000-4000-8000-{n:012x}"


def _row(n: int) -> dict[str, Any]:
    """Stream n's listed values: few distinct values (ties), and nulls in every sort column."""
    return {
        "n": n,  # its window is stored n-th: its list key is the n-th (ties are in key order)
        "uid": _uid(n),
        "reconnect_attempt": None if n % 5 == 0 else n % 3,
        "stream_id": None if n % 7 == 3 else 1000 + n,
        "bitrate": None if n % 4 == 1 else (n * 7) % 4 * 100,
        "ip": _ip(n),
        # lower(camera name) + newline + lower(url), as the worker writes it
        "search": f"camera {n} {'lobby' if n % 4 == 0 else 'gate'}\nrtsp://10.0.0.{n}/live",
    }


def _ip(n: int) -> str:
    if n % 10 == 9:  # a name holding the letters the index turns separators into
        return f"Host-10x1x{n}.Example"
    if n % 10 == 8:
        return f"fd00::10:1:{n}"
    return f"10.{n % 3}.{n}.{n % 11}"


LISTED = [_row(n) for n in range(ROWS)]


def _order(column: str, *, descending: bool) -> list[str]:
    """PostgreSQL's order: (column, list key) both one way; null above every value."""
    rows = sorted(
        LISTED,
        key=lambda r: (r[column] is None, 0 if r[column] is None else r[column], r["n"]),
        reverse=descending,
    )
    return [r["uid"] for r in rows]


async def _write(conn: asyncpg.Connection) -> None:
    await conn.executemany(
        "INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, present, "
        "deleted_ms, versions, enabled, increased, managed) "
        "VALUES ($1, 0, '', ARRAY[$2], 1, true, 0, '', true, false, true)",
        [(r["uid"], CONDITION) for r in LISTED],
    )
    keys = await conn.fetch("SELECT uid FROM stream_windows ORDER BY list_key")
    assert [k["uid"] for k in keys] == [r["uid"] for r in LISTED]  # what _order assumes
    condition_id = (await condition_ids(conn, [CONDITION]))[CONDITION]
    await conn.executemany(
        "INSERT INTO stream_list (condition_id, stream_key, uid, reconnect_attempt, "
        f"disconnections) SELECT $1, list_key, uid, $3, 1 FROM {WINDOW}",
        [(condition_id, r["uid"], r["reconnect_attempt"]) for r in LISTED],
    )
    await conn.executemany(
        "INSERT INTO stream_list_facts (condition_id, stream_key, stream_id, bitrate, search, "
        f"ip, reconnect_attempt, disconnections) SELECT $1, list_key, $3, $4, $5, $6, $7, 1 "
        f"FROM {WINDOW}",
        [
            (
                condition_id,
                r["uid"],
                r["stream_id"],
                r["bitrate"],
                r["search"],
                r["ip"].lower(),
                r["reconnect_attempt"],  # the copy of the stream_list value (migration 0010)
            )
            for r in LISTED
        ],
    )
    await conn.execute(
        "INSERT INTO condition_counts (condition, streams) VALUES ($1, $2)", CONDITION, ROWS
    )


WINDOW = "stream_windows WHERE uid = $2"  # the listed stream's window (its list key)


@pytest.fixture(scope="module")
async def listing_url() -> AsyncIterator[str]:
    async with fresh_database("listing") as url:
        connection = await asyncpg.connect(plain_dsn(url))
        try:
            await _write(connection)
        finally:
            await connection.close()
        yield url


@pytest.fixture(scope="module")
async def conn(listing_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(listing_url))
    try:
        # As on a large table: the page comes from the sort index, not a scan and a sort.
        await connection.execute("SET enable_seqscan = off")
        await connection.execute("SET enable_bitmapscan = off")
        yield connection
    finally:
        await connection.close()


def _query(column: str, *, descending: bool, per_page: int, page: int, **filters: Any) -> ListQuery:
    return ListQuery(
        condition=CONDITION,
        sort_column=column,
        descending=descending,
        limit=per_page,
        offset=(page - 1) * per_page,
        **filters,
    )


@pytest.mark.parametrize("per_page", [1, 7, 25, ROWS, ROWS + 1])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("column", ["reconnect_attempt", "stream_id", "bitrate"])
async def test_every_page_is_its_slice_of_the_whole_order_from_either_end(
    conn: asyncpg.Connection, column: str, descending: bool, per_page: int
) -> None:
    expected = _order(column, descending=descending)
    pages = -(-ROWS // per_page)

    for page in range(1, pages + 2):  # the page after the last is empty
        listed = await list_page(
            conn, _query(column, descending=descending, per_page=per_page, page=page)
        )

        offset = (page - 1) * per_page
        assert listed.total == ROWS
        assert [row["uid"] for row in listed.rows] == expected[offset : offset + per_page], page


def _index_entries_read(plan: dict[str, Any], index: str) -> int:
    """Rows the scans of `index` returned in an EXPLAIN ANALYZE plan, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Index Name") == index else 0
    return own + sum(_index_entries_read(child, index) for child in plan.get("Plans", []))


async def _entries_read(conn: asyncpg.Connection, query: ListQuery, index: str) -> int:
    sql, args = page_statement(query)
    explained = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    plan = orjson.loads(explained)[0]["Plan"]
    return _index_entries_read(plan, index)


@pytest.mark.parametrize(
    ("column", "index"),
    [
        ("reconnect_attempt", "stream_list_by_reconnect_attempt"),
        ("bitrate", "stream_list_facts_by_bitrate"),
    ],
)
@pytest.mark.parametrize("descending", [False, True])
async def test_a_page_past_the_middle_walks_the_index_from_the_end(
    conn: asyncpg.Connection, column: str, index: str, descending: bool
) -> None:
    deep = _query(column, descending=descending, per_page=5, page=11)  # rows 50..54 of 60
    last = _query(column, descending=descending, per_page=25, page=3)  # rows 50..59
    early = _query(column, descending=descending, per_page=5, page=3)  # rows 10..14

    assert await _entries_read(conn, deep, index) == 10  # 5 skipped from the end, 5 read
    assert await _entries_read(conn, last, index) == 10
    assert await _entries_read(conn, early, index) == 15


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.",
        "10.1",
        ".1.",
        "1.2",
        "10x1x",
        "X1X1",
        "::10:",
        ":1:",
        "0.",
        ".",
        "%",
        "fd00::10:1:18",
    ],
)
async def test_the_ip_filter_is_a_substring_of_the_ip_in_any_case(
    conn: asyncpg.Connection, ip: str
) -> None:
    listed = await list_page(
        conn, _query("stream_id", descending=False, per_page=ROWS, page=1, ip=ip)
    )

    expected = {r["uid"] for r in LISTED if ip.lower() in r["ip"].lower()}
    assert {row["uid"] for row in listed.rows} == expected
    assert listed.total == len(expected)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("filters", [{"search": "lobby"}, {"ip": "10.1."}])
async def test_a_filtered_page_sorts_by_a_stream_list_value_without_reading_each_row_there(
    conn: asyncpg.Connection, filters: dict[str, str], descending: bool
) -> None:
    query = _query("reconnect_attempt", descending=descending, per_page=3, page=2, **filters)
    text = next(iter(filters.values()))
    passing = {r["uid"] for r in LISTED if text in r[next(iter(filters))]}

    listed = await list_page(conn, query)
    looked_up = await _entries_read(conn, query, "stream_list_pkey")

    order = [uid for uid in _order("reconnect_attempt", descending=descending) if uid in passing]
    assert len(passing) > 6
    assert [row["uid"] for row in listed.rows] == order[3:6]
    assert listed.total == len(passing)
    # Sorted by the copies on stream_list_facts: only the page's own rows are read there.
    assert looked_up == 3


def _scans(plan: dict[str, Any]) -> list[str]:
    """The indexes a plan scans."""
    own = [plan["Index Name"]] if "Index Name" in plan else []
    return own + [name for child in plan.get("Plans", []) for name in _scans(child)]


@pytest.mark.parametrize(
    ("filters", "index", "matching"),
    [
        ({"ip": "10.1."}, "stream_list_facts_ip_key", lambda r: "10.1." in r["ip"]),
        ({"search": "lobby"}, "stream_list_facts_search_key", lambda r: "lobby" in r["search"]),
    ],
)
async def test_a_text_filter_picks_the_conditions_candidates_in_its_own_index(
    conn: asyncpg.Connection,
    filters: dict[str, str],
    index: str,
    matching: Callable[[dict[str, Any]], bool],
) -> None:
    query = _query("stream_id", descending=False, per_page=5, page=1, **filters)
    sql, args = page_statement(query)
    tx = conn.transaction()
    await tx.start()
    try:
        # As in a real list: many more rows in the condition, none of them matching.
        await conn.execute(
            "INSERT INTO stream_list_facts (condition_id, stream_key, search, ip, "
            "disconnections) "
            f"SELECT ({CONDITION_ID}), 1000000 + n, 'camera ' || n || E'\\nrtsp://cam/' || n, "
            "'192.168.' || n % 250 || '.' || n % 7, 0 "
            "FROM generate_series(1, 50000) AS n",
            CONDITION,
        )
        await conn.execute("ANALYZE stream_list_facts")
        await conn.execute("SET LOCAL enable_bitmapscan = on")
        explained = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    finally:
        await tx.rollback()
    plan = orjson.loads(explained)[0]["Plan"]

    matches = sum(1 for r in LISTED if matching(r))
    # The dotted ip has trigrams across its dots (the trigram index of `ip` saw only `10` and
    # `1`, every row here); the condition is picked in the index, not by intersecting the
    # candidates with every row of the condition from another index.
    assert _scans(plan).count(index) == 1
    assert "stream_list_facts_domain" not in _scans(plan)
    assert matches <= _index_entries_read(plan, index) <= matches + ROWS // 10


async def test_the_apis_reads_plan_a_page_in_one_process(listing_url: str) -> None:
    # A filtered page sorted by a list counter joins the page's rows with `stream_list` (their
    # counters; before migration 0010, every row passing the filter). With PostgreSQL's
    # defaults the planner read the condition's every row for that in three processes (a
    # parallel hash join): under a dozen concurrent requests, the CPU of two more processes
    # per page for a page no faster.
    query = _query("reconnect_attempt", descending=True, per_page=5, page=1, search="lobby")
    sql, args = page_statement(query)
    async with _on_a_larger_list(listing_url) as connection:
        # As on a list ten times larger, where the defaults plan parallel scans.
        for setting in ("min_parallel_table_scan_size", "parallel_setup_cost"):
            await connection.execute(f"SET LOCAL {setting} = 0")
        explained = await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
        listed = await list_page(connection, query)
    plan = orjson.loads(explained)[0]["Plan"]

    assert listed.total == sum(1 for r in LISTED if "lobby" in r["search"]) + 100_000 // 100
    assert not {"Gather", "Gather Merge"} & _node_types(plan)


@asynccontextmanager
async def _on_a_larger_list(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the api's read pool, in a transaction (rolled back after: the module's
    other tests see the rows of LISTED only) where 100k more streams are listed (and known
    to inventory)."""
    pool = await make_read_pool(url, size=1)
    try:
        async with pool.acquire() as connection:
            tx = connection.transaction()
            await tx.start()
            try:
                await _fill(connection, 100_000)
                yield connection
            finally:
                await tx.rollback()
    finally:
        await pool.close()


async def _fill(connection: asyncpg.Connection, rows: int) -> None:
    """As in a real list: `rows` more listed streams (one in a hundred a lobby), analysed."""
    await connection.execute(
        "INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, present, "
        "deleted_ms, versions, enabled, increased, managed) "
        "SELECT 'filler-' || n, 0, '', ARRAY[$1], 1, true, 0, '', true, false, true "
        "FROM generate_series(1, $2::int) AS n",
        CONDITION,
        rows,
    )
    await connection.execute(
        "INSERT INTO stream_list (condition_id, stream_key, uid, reconnect_attempt, "
        f"disconnections) SELECT ({CONDITION_ID}), w.list_key, w.uid, n % 10, 1 "
        "FROM generate_series(1, $2::int) AS n JOIN stream_windows w ON w.uid = 'filler-' || n",
        CONDITION,
        rows,
    )
    await connection.execute(
        "INSERT INTO stream_list_facts (condition_id, stream_key, bitrate, search, ip, "
        "reconnect_attempt, disconnections) "
        f"SELECT ({CONDITION_ID}), w.list_key, n % 1000, 'camera ' || n || "
        "CASE WHEN n % 100 = 0 THEN ' lobby' ELSE '' END, '192.168.0.1', n % 10, 1 "
        "FROM generate_series(1, $2::int) AS n JOIN stream_windows w ON w.uid = 'filler-' || n",
        CONDITION,
        rows,
    )
    # A fleet's servers, each with its activity; a stream on one, every tenth also on another.
    await connection.execute(
        "INSERT INTO inventory_servers (id, domain, updated_at, doc) "
        "SELECT n, 'ms' || n || '.vms.local', now(), '{}' FROM generate_series(1, $1::int) AS n",
        FILLER_SERVERS,
    )
    await connection.execute(
        "INSERT INTO server_activity (domain, last_event_ms, last_event_type, extra) "
        "SELECT domain, 1, 'service:pulse', '{}' FROM inventory_servers"
    )
    await connection.execute(
        "INSERT INTO inventory_streams (id, uuid, server_id, sub_server_ids, is_enabled, "
        "updated_at, doc) "
        "SELECT 900000000 + n, 'filler-' || n, 1 + n % $2::int, "
        "CASE WHEN n % 10 = 0 THEN ARRAY[1 + (n + 1) % $2::int] ELSE '{}' END, true, now(), '{}' "
        "FROM generate_series(1, $1::int) AS n",
        rows,
        FILLER_SERVERS,
    )
    await connection.execute(
        "ANALYZE stream_windows, stream_list, stream_list_facts, inventory_streams, "
        "inventory_servers, server_activity"
    )


FILLER_SERVERS = 2_000


def _node_types(plan: dict[str, Any]) -> set[str]:
    return {plan["Node Type"]} | {t for child in plan.get("Plans", []) for t in _node_types(child)}


@pytest.mark.parametrize(
    ("column", "index", "filters"),
    [
        ("reconnect_attempt", "stream_list_by_reconnect_attempt", {}),
        ("bitrate", "stream_list_facts_by_bitrate", {}),
        ("reconnect_attempt", "stream_list_facts_search_key", {"search": "lobby"}),
    ],
)
async def test_a_pages_generic_plan_reads_the_page_not_the_list(
    listing_url: str, column: str, index: str, filters: dict[str, str]
) -> None:
    # The api's pool plans each statement once, without its arguments: the plan must still
    # know that a page is a few rows, and look those up rather than join whole tables.
    query = _query(column, descending=True, per_page=5, page=1, **filters)
    sql, args = page_statement(query)
    async with _on_a_larger_list(listing_url) as connection:
        await connection.execute(f"PREPARE generic_page AS {sql}")
        literals = [
            str(a)
            if isinstance(a, int)
            else await connection.fetchval("SELECT quote_literal($1::text)", a)
            for a in args
        ]
        explained = await connection.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE generic_page({', '.join(literals)})"
        )
        listed = await list_page(connection, query)
    plan = orjson.loads(explained)[0]["Plan"]

    assert len(listed.rows) == query.limit
    tables = {"stream_list", "stream_list_facts", "stream_windows", "inventory_streams"}
    tables |= {"inventory_servers", "server_activity"}  # a page's servers looked up by key
    assert not tables & _read_whole(plan)
    assert _index_entries_read(plan, "stream_windows_pkey") == query.limit  # the page's rows
    # Inventory by the page's uids: the uuid index compares in the list keys' collation.
    assert "uq_inventory_streams_uuid" in _scans(plan)
    if not filters:  # the page's entries of the sort index, and no more
        assert _index_entries_read(plan, index) == query.limit
    else:
        assert index in _scans(plan)


def _read_whole(plan: dict[str, Any]) -> set[str]:
    """The tables a plan reads from end to end."""
    own = {plan["Relation Name"]} if plan["Node Type"] == "Seq Scan" else set()
    return own.union(*(_read_whole(child) for child in plan.get("Plans", [])))


async def test_a_page_reads_the_servers_its_rows_show_and_no_other(
    conn: asyncpg.Connection,
) -> None:
    # Main servers and sub-servers of the page's rows, each once, with the latest pulse's
    # statistics; not a server only a row of another page shows, nor one inventory lacks.
    order = _order("stream_id", descending=False)
    streams = [
        (1, order[0], 1, [2, 99, 2]),  # server 99: unknown to inventory
        (2, order[1], 3, []),
        (3, order[10], 4, [5]),  # on another page
    ]  # order[2], on the page, has no inventory row
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.executemany(
            "INSERT INTO inventory_servers (id, domain, updated_at, doc) "
            "VALUES ($1, $2, now(), $3::json)",
            [(i, f"MS{i}.vms.local", f'{{"id": {i}}}') for i in (1, 2, 3, 4, 5)],
        )
        await conn.execute(
            "INSERT INTO server_activity (domain, last_event_ms, last_event_type, extra) "
            "VALUES ('ms1.vms.local', 1, 'service:pulse', '{\"cpu\": 5}')"
        )
        await conn.executemany(
            "INSERT INTO inventory_streams (id, uuid, server_id, sub_server_ids, is_enabled, "
            "updated_at, doc) VALUES ($1, $2, $3, $4, true, now(), '{}')",
            streams,
        )
        listed = await list_page(conn, _query("stream_id", descending=False, per_page=3, page=1))
        empty = await list_page(conn, _query("stream_id", descending=False, per_page=3, page=99))
    finally:
        await transaction.rollback()

    assert [row["uid"] for row in listed.rows] == order[:3]
    assert [row["server_id"] for row in listed.rows] == [1, 3, None]
    assert listed.servers == {
        1: ('{"id": 1}', '{"cpu": 5}'),
        2: ('{"id": 2}', None),
        3: ('{"id": 3}', None),
    }
    assert (empty.total, empty.rows, empty.servers) == (ROWS, [], {})
