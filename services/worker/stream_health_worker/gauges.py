"""Gauges read from PostgreSQL on a timer: the outbox's backlog and streams per server.

Both describe the whole deployment, not one worker, so every worker exports the same values
and dashboards and alerts take `max` over instances (never `sum`), as they already do for
streams per condition. The worker exports them rather than the api because the worker writes
the tables they count and always runs (KEDA keeps at least one replica, which also relays the
outbox and drains windows), and it already refreshes a fleet-wide gauge from PostgreSQL on
a timer; the api stays a request path with no background queries competing with the list.
Each refresh is bounded: primary-key reads for the outbox (outbox.backlog), one index-only
scan and aggregate over the list rows every 30 s for the servers (app.SERVER_GAUGE_TICK_S).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from stream_health.db.outbox import backlog
from stream_health.db.server_counts import ServerCount, streams_per_server
from stream_health_worker.metrics import WorkerMetrics

UNKNOWN_SERVER = "(unknown)"  # inventory does not know the stream, or its main server
OTHER_SERVERS = "(other)"  # servers past MAX_SERVERS in a condition, summed
MAX_SERVERS = 100  # per condition: at most (MAX_SERVERS + 2) x conditions series


def bounded_series(
    counts: Iterable[ServerCount], *, conditions: Collection[str], max_servers: int = MAX_SERVERS
) -> dict[tuple[str, str], int]:
    """(condition, server) -> streams for the configured conditions: per condition the
    `max_servers` servers with the most streams, the others summed under OTHER_SERVERS."""
    series: dict[tuple[str, str], int] = {}
    servers: dict[str, list[tuple[int, str]]] = {}
    for count in counts:
        if count.condition not in conditions or count.streams <= 0:
            continue
        if count.domain:
            servers.setdefault(count.condition, []).append((count.streams, count.domain))
        else:
            key = (count.condition, UNKNOWN_SERVER)
            series[key] = series.get(key, 0) + count.streams
    for condition, ranked in servers.items():
        ranked.sort(key=lambda entry: (-entry[0], entry[1]))  # most streams first, then by name
        for streams, domain in ranked[:max_servers]:
            series[(condition, domain)] = streams
        if rest := sum(streams for streams, _ in ranked[max_servers:]):
            series[(condition, OTHER_SERVERS)] = rest
    return series


async def refresh_outbox(metrics: WorkerMetrics, conn: Any) -> None:
    """Set the outbox backlog gauges from PostgreSQL."""
    waiting = await backlog(conn)
    metrics.outbox_backlog.set(waiting.rows)
    metrics.outbox_oldest_age.set(waiting.oldest_age_s)


async def refresh_server_streams(
    metrics: WorkerMetrics, conn: Any, *, conditions: Collection[str]
) -> None:
    """Set the streams-per-server gauge from the list rows, bounded in cardinality."""
    counts = await streams_per_server(conn, conditions=conditions)
    metrics.show_server_streams(bounded_series(counts, conditions=conditions))
