"""The worker's Prometheus metrics, on a registry of its own (one per app instance)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class WorkerMetrics:
    """Counters and timings the worker exports on /metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.consumed = Counter(
            "stream_health_records_consumed",
            "Input records applied, by topic and record type",
            ["topic", "type"],
            registry=self.registry,
        )
        self.redelivered = Counter(
            "stream_health_records_redelivered",
            "Records skipped because their offset was already applied",
            ["topic"],
            registry=self.registry,
        )
        self.batch_failures = Counter(
            "stream_health_batch_failures",
            "Batches rolled back and re-read after an error",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "stream_health_batch_transaction_seconds",
            "Time to apply one batch in one PostgreSQL transaction",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
