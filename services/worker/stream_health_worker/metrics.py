"""The worker's Prometheus metrics, on a registry of its own (one per app instance)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class WorkerMetrics:
    """Counters and timings the worker exports on /metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter(
            "stream_health_records_consumed",
            "Input records applied, by topic and record type",
            ["topic", "type"],
            registry=r,
        )
        self.redelivered = Counter(
            "stream_health_records_redelivered",
            "Records skipped because their offset was already applied",
            ["topic"],
            registry=r,
        )
        self.dead_letters = Counter(
            "stream_health_dead_letters",
            "Records sent to the dead-letter topic, by source topic",
            ["topic"],
            registry=r,
        )
        self.skipped = Counter(
            "stream_health_events_skipped",
            "Media-server events of a type the worker does not act on",
            ["type"],
            registry=r,
        )
        self.duplicates = Counter(
            "stream_health_duplicates", "Repeated events that changed nothing", registry=r
        )
        self.skewed = Counter(
            "stream_health_events_skewed",
            "Events stamped beyond max_future_skew, clamped to now",
            registry=r,
        )
        self.transitions = Counter(
            "stream_health_transitions",
            "Streams entering or leaving a condition, by condition, direction and cause",
            ["condition", "direction", "cause"],
            registry=r,
        )
        self.streams_in_condition = Gauge(
            "stream_health_streams_in_condition",
            "Streams currently in each condition (all workers, from PostgreSQL)",
            ["condition"],
            registry=r,
        )
        self.windows_held = Gauge(
            "stream_health_windows_held", "Stream windows held in this worker's memory", registry=r
        )
        self.lag = Gauge(
            "stream_health_consumer_lag",
            "Records not yet consumed, per owned partition",
            ["topic", "partition"],
            registry=r,
        )
        self.outbox_published = Counter(
            "stream_health_outbox_published", "Outbox rows published to Kafka", registry=r
        )
        self.relay_producers_retired = Counter(
            "stream_health_relay_producers_retired",
            "Relay producers retired after a send failed or went unanswered (their rows are "
            "published again by a new one, same event ids)",
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "stream_health_outbox_backlog_rows",
            "Outbox rows committed and not yet published (all workers, from PostgreSQL; "
            "exact up to 10,000, then estimated from the id range)",
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "stream_health_outbox_oldest_age_seconds",
            "Age of the outbox row next in line to be published, 0 when none "
            "(all workers, from PostgreSQL)",
            registry=r,
        )
        # Why the worker, not the api, exports it: see stream_health_worker.gauges.
        self.server_streams = Gauge(
            "stream_health_server_streams_in_condition",
            "Streams in each condition per main media server, by its lower-case domain "
            "(all workers, from PostgreSQL, every 30 s; per condition the 100 servers with "
            'the most, the rest summed as server="(other)", no known server as "(unknown)")',
            ["condition", "server"],
            registry=r,
        )
        self._server_series: set[tuple[str, str]] = set()
        self._lag_series: set[tuple[str, int]] = set()
        self.batch_failures = Counter(
            "stream_health_batch_failures",
            "Batches rolled back and re-read after an error",
            registry=r,
        )
        self.batch_records = Histogram(
            "stream_health_batch_records",
            "Records per consumed batch",
            buckets=(1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 20_000),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "stream_health_batch_transaction_seconds",
            "Time to apply one batch in one PostgreSQL transaction",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.list_flush_seconds = Histogram(
            "stream_health_list_flush_seconds",
            "Time to rewrite the admin-list rows of the list-dirty windows (one transaction)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.list_streams = Counter(
            "stream_health_list_streams_written",
            "Streams whose admin-list rows a flush rewrote",
            registry=r,
        )

    def set_lag(self, topic: str, partition: int, records: int) -> None:
        """Export the lag of a partition this worker owns."""
        self.lag.labels(topic=topic, partition=str(partition)).set(records)
        self._lag_series.add((topic, partition))

    def forget_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the lag of partitions this worker no longer owns (their new owner exports it)."""
        for topic, partition in set(partitions) & self._lag_series:
            self.lag.remove(topic, str(partition))
            self._lag_series.discard((topic, partition))

    def keep_partitions(self, owned: Iterable[tuple[str, int]]) -> None:
        """Drop the lag of every partition but `owned` (the assignment a rebalance ended with)."""
        self.forget_partitions(self._lag_series - set(owned))

    def show_server_streams(self, series: Mapping[tuple[str, str], int]) -> None:
        """Make the per-server gauge exactly `series`: (condition, server) -> streams."""
        for condition, server in self._server_series - series.keys():
            self.server_streams.remove(condition, server)
        for (condition, server), streams in series.items():
            self.server_streams.labels(condition=condition, server=server).set(streams)
        self._server_series = set(series)
