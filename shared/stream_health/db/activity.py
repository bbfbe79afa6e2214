"""When each media server last sent anything (for `is_actual`), and its latest statistics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class ServerSeen:
    """A server's latest event in a batch."""

    at_ms: int
    event_type: str
    extra: dict[str, Any] | None = None


async def record_activity(conn: Any, *, seen: Mapping[str, ServerSeen]) -> None:
    """Keep, per server domain, the latest event time (later wins; repeats change nothing)."""
    if not seen:
        return
    domains = sorted(seen)
    await conn.execute(
        "INSERT INTO server_activity (domain, last_event_ms, last_event_type, extra) "
        "SELECT d, t, e, x::json "
        "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS u(d, t, e, x) "
        "ON CONFLICT (domain) DO UPDATE SET last_event_ms = EXCLUDED.last_event_ms, "
        "last_event_type = EXCLUDED.last_event_type, "
        "extra = COALESCE(EXCLUDED.extra, server_activity.extra) "
        "WHERE EXCLUDED.last_event_ms >= server_activity.last_event_ms",
        domains,
        [seen[d].at_ms for d in domains],
        [seen[d].event_type for d in domains],
        [None if seen[d].extra is None else orjson.dumps(seen[d].extra).decode() for d in domains],
    )
