"""Streams per (condition, main media server), counted over the admin list's rows.

`stream_list_facts` has a row per (condition, stream in it) with the main server's domain in
lower case (null while inventory does not know the stream or its server), and an index on
(condition_id, domain): the count is one index-only scan and a streaming aggregate.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerCount:
    """How many streams of one server (its lower-case domain, or None) are in a condition."""

    condition: str
    domain: str | None
    streams: int


async def streams_per_server(conn: Any, *, conditions: Collection[str]) -> list[ServerCount]:
    """The streams of each server in each of `conditions` (servers with none are absent)."""
    rows = await conn.fetch(
        "SELECT c.name AS condition, f.domain, count(*) AS streams FROM stream_list_facts f "
        "JOIN list_conditions c ON c.id = f.condition_id "
        "WHERE c.name = ANY($1::text[]) GROUP BY c.name, f.domain",
        sorted(conditions),
    )
    return [ServerCount(row["condition"], row["domain"], row["streams"]) for row in rows]
