"""When each media server last sent anything (for `is_actual`), and its latest statistics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class ServerSeen:
    """A server's latest event in a batch, and its latest statistics: those of its newest
    pulse that carried any (a later event of another kind carries none)."""

    at_ms: int
    event_type: str
    extra: dict[str, Any] | None = None
    extra_ms: int | None = None  # when the pulse carrying `extra` was sent


# Each newest-wins on its own time (the SET reads the row as it was): batches of different
# partitions commit in any order, so a batch's pulse may be older than the stored one even
# when its latest event is newer. A repeat writes what is stored.
_NEWER_EXTRA = "EXCLUDED.extra_ms >= coalesce(a.extra_ms, EXCLUDED.extra_ms)"
_NEWER_EVENT = "EXCLUDED.last_event_ms >= a.last_event_ms"
_RECORD = f"""
INSERT INTO server_activity AS a (domain, last_event_ms, last_event_type, extra, extra_ms)
SELECT d, t, e, x::json, xt
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[]) AS u(d, t, e, x, xt)
ON CONFLICT (domain) DO UPDATE SET
    last_event_ms = CASE WHEN {_NEWER_EVENT} THEN EXCLUDED.last_event_ms ELSE a.last_event_ms END,
    last_event_type = CASE WHEN {_NEWER_EVENT} THEN EXCLUDED.last_event_type
        ELSE a.last_event_type END,
    extra = CASE WHEN {_NEWER_EXTRA} THEN EXCLUDED.extra ELSE a.extra END,
    extra_ms = CASE WHEN {_NEWER_EXTRA} THEN EXCLUDED.extra_ms ELSE a.extra_ms END
WHERE {_NEWER_EVENT} OR {_NEWER_EXTRA}
"""  # noqa: S608 (built from the constants above only)


async def record_activity(conn: Any, *, seen: Mapping[str, ServerSeen]) -> None:
    """Keep, per server domain, the latest event (time and type) and the latest statistics."""
    if not seen:
        return
    domains = sorted(seen)
    rows = [seen[d] for d in domains]
    await conn.execute(
        _RECORD,
        domains,
        [r.at_ms for r in rows],
        [r.event_type for r in rows],
        [None if r.extra is None else orjson.dumps(r.extra).decode() for r in rows],
        [r.extra_ms for r in rows],
    )
