"""Gauges read from PostgreSQL on a timer.

They describe the whole deployment, not one worker, so every worker exports the same values
and dashboards and alerts take `max` over instances (never `sum`), as they already do for
streams per condition. Each refresh is bounded: primary-key reads for the outbox
(outbox.backlog), however long it grows.
"""

from __future__ import annotations

from typing import Any

from stream_health.db.outbox import backlog
from stream_health_worker.metrics import WorkerMetrics


async def refresh_outbox(metrics: WorkerMetrics, conn: Any) -> None:
    """Set the outbox backlog gauges from PostgreSQL."""
    waiting = await backlog(conn)
    metrics.outbox_backlog.set(waiting.rows)
    metrics.outbox_oldest_age.set(waiting.oldest_age_s)
