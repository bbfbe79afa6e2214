"""Wiring: settings -> engine, broker, subscriber, ops endpoints. The one place adapters meet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import TopicPartition
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from stream_health.config.settings import Settings
from stream_health.db.engine import make_engine, make_sessions
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health.ops import database_probe, ops_router
from stream_health_worker.ingest import apply_batch
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.offsets import SeekToStoredOffsets
from stream_health_worker.records import topic_roles

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 1.0


def _raw(body: Any) -> Any:
    # Keep the bytes: records are classified (and later validated) by the worker itself.
    return body


def build_app(settings: Settings) -> FastAPI:
    """The worker as an ASGI app: Kafka consumption runs inside its lifespan."""
    settings.load_conditions()  # a bad conditions file stops start-up here, naming the key
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    metrics = WorkerMetrics()
    roles = topic_roles(settings.topics)
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        client_id="stream-health-worker",
        logger=logging.getLogger("stream_health.faststream"),
        log_level=logging.DEBUG,  # per-batch lines; the worker logs its own events
    )
    listener = SeekToStoredOffsets(sessions=sessions, consumer_group=settings.consumer_group)
    subscriber = broker.subscriber(
        *settings.topics.inputs,
        batch=True,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        max_records=5_000,
        batch_timeout_ms=100,
        listener=listener,
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw,
    )
    listener.bind(lambda: subscriber.consumer)

    @subscriber
    async def consume(message: KafkaMessage) -> None:
        records = message.raw_message
        batch = records if isinstance(records, tuple) else (records,)
        try:
            with metrics.batch_seconds.time():
                result = await apply_batch(
                    sessions, consumer_group=settings.consumer_group, roles=roles, records=batch
                )
        except Exception:
            metrics.batch_failures.inc()
            log.exception("batch_failed", extra={"records": len(batch)})
            _rewind(subscriber.consumer, batch)
            await asyncio.sleep(RETRY_BACKOFF_S)
            return
        for (topic, kind), count in result.applied.items():
            metrics.consumed.labels(topic=topic, type=kind).inc(count)
        for topic, count in result.skipped.items():
            metrics.redelivered.labels(topic=topic).inc(count)
        await _commit_to_kafka(subscriber.consumer, result.next_offsets)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(
            settings.kafka_bootstrap,
            topic_specs(settings.topics, partitions=settings.topic_partitions),
        )
        await broker.start()
        log.info("worker_started", extra={"group": settings.consumer_group})
        try:
            yield
        finally:
            await broker.stop()
            await engine.dispose()
            log.info("worker_stopped")

    async def kafka_probe() -> None:
        if not await broker.ping(timeout=2.0):
            raise RuntimeError("kafka unreachable")

    app = FastAPI(title="stream-health worker", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(
        ops_router(
            registry=metrics.registry,
            probes={"database": database_probe(engine), "kafka": kafka_probe},
        )
    )
    app.state.metrics = metrics
    app.state.listener = listener
    return app


def _rewind(consumer: Any, batch: tuple[Any, ...]) -> None:
    """Seek each partition back to the batch's first record, so a failed batch is re-read."""
    if consumer is None:
        return
    first: dict[Any, int] = {}
    for record in batch:
        tp = (record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition), offset)
        except Exception:  # partition revoked meanwhile: its new owner starts from PostgreSQL
            log.warning("rewind_skipped", extra={"topic": topic, "partition": partition})


async def _commit_to_kafka(consumer: Any, next_offsets: dict[tuple[str, int], int]) -> None:
    """Mirror the stored offsets to Kafka, best effort, for lag tooling (KEDA, exporters)."""
    if consumer is None or not next_offsets:
        return
    try:
        await consumer.commit({TopicPartition(t, p): o for (t, p), o in next_offsets.items()})
    except Exception as exc:  # PostgreSQL is the source of truth; a failed mirror is harmless
        log.info("kafka_commit_skipped", extra={"reason": type(exc).__name__})
