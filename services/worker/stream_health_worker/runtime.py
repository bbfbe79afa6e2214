"""What the worker does at run time: apply batches, drain on the clock, refresh gauges."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from faststream.kafka import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.settings import BATCH_RECORDS
from stream_health.db.engine import driver_connection
from stream_health.db.windows import condition_counts
from stream_health.tracing import traced_records
from stream_health_core import first_offsets
from stream_health_worker.apply import Work
from stream_health_worker.gate import CommitGate, Starts
from stream_health_worker.gauges import refresh_outbox, refresh_server_streams
from stream_health_worker.ingest import (
    BatchResult,
    FencedError,
    PreparedBatch,
    WorkerContext,
    commit_batch,
    drain_due,
    flush_listing,
    forget_partitions,
    prepare_batch,
    reconfigure_pending,
    unpositioned,
)
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.owner import WindowOwner
from stream_health_worker.relay import Relay
from stream_health_worker.tuning import TRIM_INTERVAL_S, trim_allocator

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 1.0


def now_ms() -> int:
    """The wall clock, in ms: read here, passed to the domain."""
    return time.time_ns() // 1_000_000


@dataclass
class Runtime:
    """The handlers the wiring schedules; each enters the gate for its transaction.

    Batches overlap: `consume` prepares a batch in memory while the previous batch's
    transaction is still on its way, then starts its own and returns, so the next batch is
    fetched and prepared while PostgreSQL works.
    """

    sessions: async_sessionmaker[AsyncSession]
    ctx: WorkerContext
    metrics: WorkerMetrics
    relay: Relay
    subscriber: Any
    gate: CommitGate
    tracer: Tracer | None = None  # None: tracing is off
    list_interval_s: float = 1.0  # the admin list trails the windows by about this much
    backlog_interval_s: float = 30.0  # ... and by up to this much while consumption is behind
    full_batch: int = BATCH_RECORDS  # a batch this large means more records were waiting
    clock: Callable[[], float] = time.monotonic  # seconds, for the flush timer
    _list_due: float = field(default=0.0, init=False)  # the next flush, under load
    _list_floor: float = field(default=0.0, init=False)  # the next flush, caught up
    _list_backlog: float = field(default=0.0, init=False)  # the next flush, behind
    _last_batch: float = field(default=0.0, init=False)
    _trimmed: float = field(default=0.0, init=False)  # when the heap was last trimmed
    _behind: bool = field(default=False, init=False)  # the last batch was full
    _applying: bool = field(default=False, init=False)  # a batch is being applied
    # Where to re-read from after a failure (topic, partition) -> offset: a batch fetched
    # before the seek took effect may start past it, and is dropped.
    _rewinds: dict[tuple[str, int], int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.gate.bind(self._failed)
        started = self.clock()
        self._list_due = self._list_floor = started + self.list_interval_s
        self._list_backlog = started + self.backlog_interval_s

    async def consume(self, message: KafkaMessage) -> None:
        """Apply one batch exactly once, in one PostgreSQL transaction; on failure re-read it."""
        # (One line: it is the AsyncAPI description.) The batch is prepared in memory while
        # the previous batch's transaction runs; its own starts after that one, and this returns.
        records = message.raw_message
        batch = tuple(records) if isinstance(records, tuple | list) else (records,)
        consumer = self.subscriber.consumer
        starts = _starts(batch)
        self._applying = True
        started, prepared = False, None
        try:
            async with self.gate.overlapping():
                if self.ctx.owner.reconfigure and not self._rewinds:
                    await self._reconfigure_first(starts)
                if not self._rewinds and unpositioned(self.ctx, starts):
                    await self.gate.settle()  # it reads what may be on its way: wait for it
                if not self._rewinds:
                    prepared = await self._prepare(batch, starts)
                await self.gate.settle()
                if self._rewinds or prepared is None:
                    # This batch or the one before failed: drop this one and re-read both.
                    if prepared is not None:
                        forget_partitions(self.ctx.owner, (p for _, p in starts))
                    _merge_rewinds(self._rewinds, starts)
                    _rewind(consumer, self._rewinds)
                    self._rewinds.clear()
                else:
                    # Only the tracer needs the records while the transaction runs.
                    traced = batch if self.tracer is not None else ()
                    commit = self._commit(prepared, len(batch), traced, consumer)
                    self.gate.start(starts, commit)
                    started = True
        except BaseException:
            if prepared is not None and not started:  # cancelled: its windows are ahead
                forget_partitions(self.ctx.owner, (p for _, p in starts))
            raise
        finally:
            self._applying = False
        if not started:
            await asyncio.sleep(RETRY_BACKOFF_S)

    async def _reconfigure_first(self, starts: Starts) -> None:
        """Judge the partitions by the current conditions before applying a batch to them."""
        try:
            if await self.gate.settle():
                while self.ctx.owner.reconfigure:
                    await self._reconfigure()
        except Exception as exc:
            self._failed(starts, exc)

    async def settle(self) -> None:
        """Wait until the transaction in flight (if any) is over."""
        async with self.gate:
            pass

    async def _prepare(self, batch: tuple[Any, ...], starts: Starts) -> PreparedBatch | None:
        try:
            return await prepare_batch(self.sessions, ctx=self.ctx, records=batch, now_ms=now_ms())
        except Exception as exc:
            self._failed(starts, exc)
            return None

    async def _commit(
        self, prepared: PreparedBatch, count: int, traced: tuple[Any, ...], consumer: Any
    ) -> None:
        with self.metrics.batch_seconds.time(), traced_records(self.tracer, traced):
            result = await commit_batch(self.sessions, ctx=self.ctx, prepared=prepared)
        _observe_batch(self.metrics, result)
        self.metrics.batch_records.observe(count)
        work = result.work
        log.debug(
            "worker.batch_committed",
            extra={
                "records": count,
                "changes": len(work.changes) if work else 0,
                "dead_letters": sum(work.dead_letters.values()) if work else 0,
            },
        )
        self.relay.wake.set()
        self._last_batch = self.clock()
        if self._last_batch - self._trimmed >= TRIM_INTERVAL_S:
            self._trimmed = self._last_batch
            trim_allocator()
        self._behind = count >= self.full_batch
        # Committed: from here on nothing may fail the batch (it would be re-read for nothing).
        try:
            _observe_lag(self.metrics, consumer, result.next_offsets)
        except Exception as exc:  # a consumer stopping meanwhile: the lag is best effort
            log.info("worker.lag_unobserved", extra={"reason": type(exc).__name__})
        await _commit_to_kafka(consumer, result.next_offsets)

    def _failed(self, starts: Starts, exc: BaseException) -> None:
        """A batch failed, prepared or in its transaction: forget its windows (ahead of
        PostgreSQL) and re-read it (seek now, and drop the next batch: it may start past)."""
        self.metrics.batch_failures.inc()
        if isinstance(exc, FencedError):
            log.warning("worker.batch_fenced", extra={"partitions": exc.moved})
        else:
            where = sorted(f"{topic}/{partition}" for topic, partition in starts)
            log.error("worker.batch_failed", extra={"partitions": where}, exc_info=exc)
        forget_partitions(self.ctx.owner, (p for _, p in starts))
        _merge_rewinds(self._rewinds, starts)
        _rewind(self.subscriber.consumer, self._rewinds)

    async def _reconfigure(self) -> None:
        work = await reconfigure_pending(self.sessions, ctx=self.ctx, now_ms=now_ms())
        if work is not None:
            _observe_work(self.metrics, work)
            log.info("worker.partition_reconfigured", extra={"changes": len(work.changes)})

    async def drain_tick(self) -> None:
        """Reclassify after a configuration change; let drained windows leave."""
        async with self.gate:
            if self.ctx.owner.reconfigure:
                await self._reconfigure()
            work = await drain_due(self.sessions, ctx=self.ctx, now_ms=now_ms())
        if work is not None:
            _observe_work(self.metrics, work)
            self.relay.wake.set()

    async def list_tick(self) -> None:
        """Flush the admin-list rows when some are behind: an interval after the last flush
        once consumption has caught up; while it works through a backlog, the backlog
        interval after it; else when the backed-off due time comes."""
        if not self.ctx.owner.list_pending:
            return
        now = self.clock()
        # Caught up: no batch for a while (one being applied, however long, is not that).
        if not self._applying and now - self._last_batch >= self.list_interval_s:
            due = self._list_floor
        elif self._behind:  # every flush slows the catch-up, and the list cannot be current
            due = max(self._list_due, self._list_backlog)
        else:
            due = self._list_due
        if now >= due:
            await self.flush_list()

    async def flush_list(self) -> None:
        """Rewrite the list rows of every list-dirty window this worker owns."""
        started = self.clock()
        # Two lanes of disjoint partitions at once, on two connections: the list's index
        # writes are most of a flush and PostgreSQL then spreads them over both cores. Each
        # lane flushes its partitions one transaction at a time: the worker holds one
        # partition's rows per lane in memory, not every dirty stream's at once.
        partitions = sorted(self.ctx.owner.list_partitions)
        lanes = [lane for lane in (partitions[0::2], partitions[1::2]) if lane]

        async def flush_lane(lane: list[int]) -> int:
            written = 0
            for partition in lane:
                written += await flush_listing(
                    self.sessions,
                    ctx=self.ctx,
                    now_ms=now_ms(),
                    lock=self.gate,
                    partitions=[partition],
                )
            return written

        outcomes = await asyncio.gather(
            *(flush_lane(lane) for lane in lanes),
            return_exceptions=True,  # both end before either failure is raised
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        streams = sum(n for n in outcomes if isinstance(n, int))
        ended = self.clock()
        took = ended - started
        self.metrics.list_flush_seconds.observe(took)
        self.metrics.list_streams.inc(streams)
        # Under load a flush takes long: waiting twice as long for the next lets each flush
        # coalesce more events per stream and leaves PostgreSQL to the batches in between.
        # Once batches stop coming, the list trails the windows by about the interval.
        self._list_floor = ended + self.list_interval_s
        self._list_due = ended + max(self.list_interval_s, 2 * took)
        self._list_backlog = ended + self.backlog_interval_s
        log.debug("worker.list_flushed", extra={"streams": streams, "seconds": round(took, 3)})

    async def gauge_tick(self) -> None:
        """Refresh the gauges."""
        await _update_gauges(self.metrics, self.sessions, self.ctx.owner, self.relay)

    async def server_gauge_tick(self) -> None:
        """Refresh streams per server (a scan of the list rows: less often than gauge_tick)."""
        async with self.sessions() as session:
            await refresh_server_streams(
                self.metrics,
                await driver_connection(session),
                conditions=self.ctx.owner.rules.conditions.names,
            )


async def _update_gauges(
    metrics: WorkerMetrics,
    sessions: async_sessionmaker[AsyncSession],
    owner: WindowOwner,
    relay: Relay,
) -> None:
    """Refresh the gauges: windows in memory, the outbox, streams per condition."""
    metrics.windows_held.set(owner.held)
    metrics.outbox_published.inc(relay.take_published())
    metrics.relay_producers_retired.inc(relay.take_retired())
    async with sessions() as session:
        conn = await driver_connection(session)
        counts = await condition_counts(conn)
        await refresh_outbox(metrics, conn)
    for name in owner.rules.conditions.names:
        metrics.streams_in_condition.labels(condition=name).set(counts.get(name, 0))


def _observe_batch(metrics: WorkerMetrics, result: BatchResult) -> None:
    for (topic, kind), count in result.applied.items():
        metrics.consumed.labels(topic=topic, type=kind).inc(count)
    for topic, count in result.skipped.items():
        metrics.redelivered.labels(topic=topic).inc(count)
    if result.work is not None:
        _observe_work(metrics, result.work)


def _observe_work(metrics: WorkerMetrics, work: Work) -> None:
    for topic, count in work.dead_letters.items():
        metrics.dead_letters.labels(topic=topic).inc(count)
    for kind, count in work.unknown.items():
        metrics.skipped.labels(type=kind).inc(count)
    metrics.duplicates.inc(work.duplicates)
    metrics.skewed.inc(work.skewed)
    # Counted here, then one increment per series: a batch makes thousands of changes over a
    # few series, and each `labels(...).inc()` takes the metric's locks.
    moved = Counter[tuple[str, str, str]]()
    for change in work.changes:
        cause = change.cause.value
        for name in change.entered:
            moved[(name, "entered", cause)] += 1
        for name in change.left:
            moved[(name, "left", cause)] += 1
    for series, count in moved.items():
        metrics.transitions.labels(*series).inc(count)


def _observe_lag(
    metrics: WorkerMetrics, consumer: Any, next_offsets: dict[tuple[str, int], int]
) -> None:
    if consumer is None:
        return
    # Not a partition revoked while the batch was applied: its series was removed on purpose
    # (SeekToStoredOffsets), and the consumer knows no highwater for it any more.
    assigned = consumer.assignment()
    for (topic, partition), offset in next_offsets.items():
        tp = TopicPartition(topic, partition)
        if tp in assigned and (highwater := consumer.highwater(tp)) is not None:
            metrics.set_lag(topic, partition, highwater - offset)


def _starts(batch: Sequence[Any]) -> dict[tuple[str, int], int]:
    """Each partition's first offset in `batch` (one compiled pass)."""
    return first_offsets(batch)


def _merge_rewinds(rewinds: dict[tuple[str, int], int], starts: Starts) -> None:
    """Add where a batch starts (the earliest offset wins: nothing is skipped)."""
    for tp, offset in starts.items():
        rewinds[tp] = min(rewinds.get(tp, offset), offset)


def _rewind(consumer: Any, rewinds: dict[tuple[str, int], int]) -> None:
    """Seek each partition back to where it must be re-read from."""
    if consumer is None:
        return
    for (topic, partition), offset in rewinds.items():
        try:
            consumer.seek(TopicPartition(topic, partition), offset)
        except Exception:  # partition revoked meanwhile: its new owner starts from PostgreSQL
            log.warning("worker.rewind_skipped", extra={"topic": topic, "partition": partition})


async def _commit_to_kafka(consumer: Any, next_offsets: dict[tuple[str, int], int]) -> None:
    """Mirror the stored offsets to Kafka, best effort, for lag tooling (KEDA, exporters)."""
    if consumer is None or not next_offsets:
        return
    try:
        await consumer.commit({TopicPartition(t, p): o for (t, p), o in next_offsets.items()})
    except Exception as exc:  # PostgreSQL is the source of truth; a failed mirror is harmless
        log.info("worker.kafka_commit_skipped", extra={"reason": type(exc).__name__})
