"""Wiring: settings -> engine, broker, subscriber, relay, timers, ops endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import FAKE_CONSUMER

from stream_health.config.settings import Settings
from stream_health.db.engine import make_engine, make_sessions
from stream_health.domain.stream import Rules
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health.ops import database_probe, ops_router
from stream_health.tracing import (
    http_telemetry,
    kafka_middlewares,
    tracer_provider,
    worker_tracer,
)
from stream_health_worker.gate import CommitGate
from stream_health_worker.ingest import WorkerContext
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.offsets import SeekToStoredOffsets
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from stream_health_worker.relay import Relay
from stream_health_worker.runtime import Runtime

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)
SERVICE = "stream-health-worker"

DRAIN_TICK_S = 0.25  # a drained window leaves its condition within a second
GAUGE_TICK_S = 5.0
SERVER_GAUGE_TICK_S = 30.0  # streams per server: an aggregate over the list rows
RELAY_GRACE_S = 10.0  # on a clean stop, for the relay to publish what is committed


def _subscriber(
    broker: KafkaBroker, settings: Settings, listener: SeekToStoredOffsets, *, traced: bool
) -> Any:
    """One batch subscriber over every input topic, positioned from PostgreSQL."""
    return broker.subscriber(
        *settings.topics.inputs,
        batch=True,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        max_records=settings.batch_records,
        max_partition_fetch_bytes=settings.fetch_partition_bytes,
        batch_timeout_ms=100,
        # Range gives one member partition N of every co-partitioned topic: one owner per stream.
        partition_assignment_strategy=(RangePartitionAssignor,),
        listener=listener,
        ack_policy=AckPolicy.MANUAL,
        # FastStream's telemetry reads the batch's headers off the message: its own parser.
        parser=None if traced else batch_message,
        decoder=no_body,
    )


def batch_message(records: tuple[ConsumerRecord[Any, Any], ...]) -> KafkaMessage:
    """A consumed batch as FastStream's message, without copies of what the records hold.

    FastStream's batch parser lists every record's value and decodes every record's headers
    into a dict, for the message's body and headers: about 3% of the worker's time under load
    (py-spy, the worker benchmark). The handler reads the records themselves
    (`raw_message`), and with telemetry off nothing reads the headers. Offsets are committed
    in PostgreSQL, never through the message: it is made acknowledged, as a message FastStream
    must not acknowledge is.
    """
    first, last = records[0], records[-1]
    batch = f"{first.offset}-{last.offset}-{first.timestamp}"
    return KafkaMessage(
        records, None, message_id=batch, correlation_id=batch, consumer=FAKE_CONSUMER
    )


def no_body(_message: Any) -> None:
    """The batch's decoded body: none. The handler reads the records off the message, as
    bytes: the worker classifies and validates them itself.

    FastStream caches what the decoder returns on the message. A decoder that returned the
    message itself made it reference itself, so a consumed batch (records, values, headers)
    was freed only by a full garbage collection, many batches later: about 160,000 records
    were held at once in the benchmark.
    """
    return None


def build_rules(settings: Settings) -> Rules:
    """The domain's rules from settings (a bad conditions file stops start-up, naming the key)."""
    skew_ms = int(settings.max_future_skew.total_seconds() * 1000)
    return Rules(settings.load_conditions(), max_future_skew_ms=skew_ms)


def build_app(
    settings: Settings,
    *,
    tracing: TracerProvider | None = None,
    discard: Collection[str] = (),
) -> FastAPI:
    """The worker as an ASGI app: Kafka consumption runs inside its lifespan.

    `tracing`: where spans go; by default a provider exporting over OTLP when the settings
    switch tracing on, else none. `discard`: topics whose outbox rows the relay deletes
    instead of publishing (a rebuild's state changes).
    """
    owned = None  # a provider made here is shut down (flushed) here
    if tracing is None and settings.tracing_enabled:
        tracing = owned = tracer_provider(SERVICE)
    rules = build_rules(settings)
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    metrics = WorkerMetrics()
    owner = WindowOwner(rules=rules, owned_topics=settings.topics.owned_by_stream)
    ctx = WorkerContext(
        consumer_group=settings.consumer_group,
        topics=settings.topics,
        roles=topic_roles(settings.topics),
        owner=owner,
        down_statuses=frozenset(settings.analytics_down_statuses),
    )
    # One transaction on the windows at a time (a batch, a drain, a flush's commit), except that
    # a batch is prepared while the one before it commits.
    gate = CommitGate()
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        client_id="stream-health-worker",
        logger=logging.getLogger("stream_health.faststream"),
        log_level=logging.DEBUG,  # per-batch lines; the worker logs its own events
        middlewares=kafka_middlewares(tracing),
    )
    listener = SeekToStoredOffsets(
        sessions=sessions,
        consumer_group=settings.consumer_group,
        owner=owner,
        owned_topics=settings.topics.owned_by_stream,
        lock=gate,
        metrics=metrics,
    )
    subscriber = _subscriber(broker, settings, listener, traced=tracing is not None)
    listener.bind(lambda: subscriber.consumer)
    relay = Relay(sessions, bootstrap=settings.kafka_bootstrap, discard=discard)

    runtime = Runtime(
        sessions=sessions,
        ctx=ctx,
        metrics=metrics,
        gate=gate,
        relay=relay,
        subscriber=subscriber,
        tracer=worker_tracer(tracing),
        list_interval_s=settings.list_flush_interval.total_seconds(),
        backlog_interval_s=settings.list_backlog_interval.total_seconds(),
        full_batch=settings.batch_records,
    )
    subscriber(runtime.consume)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(
            settings.kafka_bootstrap,
            topic_specs(settings.topics, partitions=settings.topic_partitions),
        )
        await relay.start()
        await broker.start()
        tasks = [
            asyncio.create_task(relay.run(), name="relay"),
            asyncio.create_task(_every(DRAIN_TICK_S, runtime.drain_tick, "drain"), name="drain"),
            asyncio.create_task(_every(DRAIN_TICK_S, runtime.list_tick, "list"), name="list"),
            asyncio.create_task(_every(GAUGE_TICK_S, runtime.gauge_tick, "gauges"), name="gauges"),
            asyncio.create_task(
                _every(SERVER_GAUGE_TICK_S, runtime.server_gauge_tick, "server_gauges"),
                name="server_gauges",
            ),
        ]
        log.info("worker.started", extra={"group": settings.consumer_group})
        try:
            yield
        finally:
            await broker.stop()
            relaying, timers = tasks[0], tasks[1:]
            for task in timers:
                task.cancel()
            for task in timers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _final_flush(runtime)
            await _finish_relay(relay, relaying)
            await relay.stop()
            await engine.dispose()
            if owned is not None:
                owned.shutdown()
            log.info("worker.stopped")

    async def kafka_probe() -> None:
        if not await broker.ping(timeout=2.0):
            raise RuntimeError("kafka unreachable")

    app = FastAPI(
        title="stream-health worker",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=http_telemetry(None),  # only probes here: the consumer is what is traced
    )
    app.include_router(
        ops_router(
            registry=metrics.registry,
            probes={"database": database_probe(engine), "kafka": kafka_probe},
        )
    )
    # For tests and tools; the broker's AsyncAPI document: `stream-health docs`.
    parts = {"metrics": metrics, "owner": owner, "broker": broker, "subscriber": subscriber}
    for name, part in {**parts, "relay": relay, "runtime": runtime}.items():
        setattr(app.state, name, part)
    return app


async def _final_flush(runtime: Runtime) -> None:
    """Let the last batch's transaction end, then leave the admin list current on a clean
    stop (else the next owner writes it)."""
    await runtime.settle()
    try:
        await runtime.flush_list()
    except Exception:
        log.exception("worker.list_flush_failed")


async def _finish_relay(relay: Relay, task: asyncio.Task[None]) -> None:
    """Publish what is committed, then stop the relay between pumps (cut off after a grace
    period: what it leaves, the next worker publishes)."""
    relay.close()
    try:
        await asyncio.wait_for(task, timeout=RELAY_GRACE_S)
    except TimeoutError:
        log.warning("worker.relay_cut_off", extra={"after_s": RELAY_GRACE_S})
    except asyncio.CancelledError:
        pass


async def _every(seconds: float, tick: Callable[[], Awaitable[None]], name: str) -> None:
    """Run `tick` every `seconds` until cancelled; a failing tick is logged and retried."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker.tick_failed", extra={"task": name})
