"""The list benchmark's matrix, and its queries answered without HTTP: the naive way, and the
api's own read path called directly (for the database's share of a request)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from stream_health.config.conditions import load_conditions
from stream_health.db import listing
from stream_health.db.listing import SHOWN_COUNTERS
from stream_health.domain.conditions import ReconnectCondition
from stream_health.domain.stream import ANY_CONDITION
from stream_health_api.params import SORTS as API_SORTS

PATH = "/api/admin/v1/streams/inactive"
CONDITIONS = (ANY_CONDITION, "incorrect", "problematic", "disabled")
SORTS = (
    "id",
    "camera_id",
    "reconnect_attempt",
    "reconnect_total",
    "reconnect_time",
    "disconnections_count",
    "bitrate",
    "output_rate",
    "created_at",
    "updated_at",
)
DIRECTIONS = ("asc", "desc")
FILTERS = ("none", "search", "ip", "domain")
PAGES = ("first", "deep")
DEEP_SHARE = 0.8  # the deep page starts about this far into the query's rows


@dataclass(frozen=True, slots=True)
class Combo:
    """One cell of the matrix (the page is chosen per combination once its total is known)."""

    condition: str
    sort: str
    direction: str
    filter: str
    value: str | None  # the filter's value

    @property
    def label(self) -> str:
        """`condition/sort/dir/filter`."""
        return f"{self.condition}/{self.sort}/{self.direction}/{self.filter}"

    def target(self, *, page: int, per_page: int) -> str:
        """The request target (path and query string)."""
        query: list[tuple[str, str]] = [("per_page", str(per_page)), ("page", str(page))]
        if self.condition != ANY_CONDITION:
            query.append(("condition", self.condition))
        query += [("sort", self.sort), ("dir", self.direction)]
        if self.value is not None:
            query.append((self.filter, self.value))
        return f"{PATH}?{urlencode(query)}"


def matrix(filters: dict[str, str]) -> list[Combo]:
    """condition x sort x dir x filter, in a fixed order."""
    return [
        Combo(c, s, d, f, None if f == "none" else filters[f])
        for c in CONDITIONS
        for s in SORTS
        for d in DIRECTIONS
        for f in FILTERS
    ]


def deep_page(total: int, per_page: int) -> int:
    """The page holding the row DEEP_SHARE into `total` (the last page at most; 1 if empty)."""
    last = max(-(-total // per_page), 1)
    return min(max(int(total * DEEP_SHARE) // per_page + 1, 1), last)


# The naive way: no stream_list. Join the windows to inventory, filter on the array and with
# ILIKE, order by an expression, OFFSET/LIMIT, and count(*) in a second query. Disconnections
# are decoded from the window's stamps (16-byte big-endian (ms, id) entries) at the build's
# instant, as the worker computed them for the stored rows.
_FROM = """
FROM stream_windows w
LEFT JOIN inventory_streams s ON s.uuid = w.uid
LEFT JOIN inventory_cameras c ON c.id = s.camera_id
LEFT JOIN inventory_servers v ON v.id = s.server_id
"""
_DISCONNECTIONS = (
    "(SELECT count(*) FROM generate_series(0, length(w.stamps) / 16 - 1) AS i "
    "WHERE ('x' || encode(substring(w.stamps FROM i * 16 + 1 FOR 8), 'hex'))::bit(64)::bigint "
    "> {since})"
)
_NAIVE_SORTS = {
    "id": "s.id",
    "camera_id": "s.camera_id",
    "reconnect_attempt": SHOWN_COUNTERS["reconnect_attempt"],
    "reconnect_total": SHOWN_COUNTERS["reconnect_total"],
    "reconnect_time": "w.last_reconnect_ms",
    "disconnections_count": _DISCONNECTIONS,  # formatted per condition
    "bitrate": "s.bitrate",
    "output_rate": "s.output_rate",
    "created_at": "s.created_at",
    "updated_at": "s.updated_at",
}


def windows_ms() -> dict[str, int]:
    """Per condition (and `*`): the window the list counts disconnections in (shipped rules)."""
    conditions = load_conditions(None)
    reconnect = {
        c.name: c.normal.period_ms
        for c in conditions.conditions
        if isinstance(c, ReconnectCondition)
    }
    longest = max(reconnect.values())
    return {name: reconnect.get(name, longest) for name in (*conditions.names, ANY_CONDITION)}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def naive_sql(
    combo: Combo, *, offset: int, limit: int, built_ms: int, windows: dict[str, int]
) -> tuple[str, str, list[Any]]:
    """(count query, page query, arguments) for one combination."""
    args: list[Any] = []
    if combo.condition == ANY_CONDITION:
        clauses = ["cardinality(w.conditions) > 0"]
    else:
        args.append(combo.condition)
        clauses = ["$1 = ANY(w.conditions)"]
    if combo.filter == "search":
        args.append(_like(str(combo.value)))
        n = len(args)
        clauses.append(f"(c.name ILIKE ${n} OR s.url_masked ILIKE ${n})")
    elif combo.filter == "ip":
        args.append(_like(str(combo.value)))
        clauses.append(f"s.ip ILIKE ${len(args)}")
    elif combo.filter == "domain":
        args.append(str(combo.value))
        clauses.append(f"lower(v.domain) = lower(${len(args)})")
    where = " AND ".join(clauses)
    disconnections = _DISCONNECTIONS.format(since=built_ms - windows[combo.condition])
    order = disconnections if combo.sort == "disconnections_count" else _NAIVE_SORTS[combo.sort]
    direction = combo.direction.upper()
    count = f"SELECT count(*) {_FROM} WHERE {where}"
    page = (
        "SELECT w.uid, w.conditions, w.last_reconnect_ms, "
        f"{SHOWN_COUNTERS['reconnect_attempt']} AS reconnect_attempt, "
        f"{SHOWN_COUNTERS['reconnect_total']} AS reconnect_total, "
        f"{disconnections} AS disconnections, "
        "s.doc::text AS stream, c.doc::text AS camera, v.doc::text AS server, "
        "a.last_event_ms AS server_seen_ms, a.extra::text AS server_extra "
        f"{_FROM} LEFT JOIN server_activity a ON a.domain = lower(v.domain) "
        f"WHERE {where} ORDER BY {order} {direction}, w.uid {direction} "
        f"LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    return count, page, args


@dataclass(slots=True)
class Timed:
    """One query pair's outcome."""

    ms: float  # count + page; the timeout when it timed out
    total: int | None = None
    uuids: list[str] | None = None
    timed_out: bool = False
    error: str | None = None


async def naive(
    conn: Any, combo: Combo, *, page: int, per_page: int, built_ms: int, windows: dict[str, int]
) -> Timed:
    """Run the naive count and page (statement_timeout set on the connection by the caller)."""
    count, rows, args = naive_sql(
        combo, offset=(page - 1) * per_page, limit=per_page, built_ms=built_ms, windows=windows
    )
    started = time.perf_counter()
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            total = int(await conn.fetchval(count, *args))
            records = await conn.fetch(rows, *args)
    except Exception as exc:  # asyncpg's QueryCanceledError on statement_timeout
        if type(exc).__name__ == "QueryCanceledError":
            return Timed(ms=(time.perf_counter() - started) * 1000, timed_out=True)
        return Timed(ms=(time.perf_counter() - started) * 1000, error=repr(exc))
    return Timed(
        ms=(time.perf_counter() - started) * 1000,
        total=total,
        uuids=[r["uid"] for r in records],
    )


async def indexed(conn: Any, combo: Combo, *, page: int, per_page: int) -> Timed:
    """The api's own queries for one page, called directly on one connection (no HTTP)."""
    query = listing.ListQuery(
        condition=combo.condition,
        sort_column=API_SORTS[combo.sort],
        descending=combo.direction == "desc",
        limit=per_page,
        offset=(page - 1) * per_page,
        search=combo.value if combo.filter == "search" else None,
        ip=combo.value if combo.filter == "ip" else None,
        domain=combo.value if combo.filter == "domain" else None,
    )
    started = time.perf_counter()
    listed = await listing.list_page(conn, query)  # count, page and servers in one statement
    total, rows = int(listed.total), list(listed.rows)
    uuids = [row["uid"] for row in rows]
    return Timed(ms=(time.perf_counter() - started) * 1000, total=total, uuids=uuids)


def read_path() -> str:
    """Which read path `indexed` calls: the api's own."""
    return "list_page"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
