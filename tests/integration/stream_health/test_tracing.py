"""One trace from the api's request through real Kafka into the worker's transaction."""

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from stream_health.config.settings import TopicNames
from stream_health.db import repository
from stream_health.db.engine import make_engine, make_sessions
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_api.app import build_app as build_api
from stream_health_worker.app import build_app as build_worker
from tests.conftest import base_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


Recorders = tuple[TracerProvider, InMemorySpanExporter, TracerProvider, InMemorySpanExporter]


@pytest.fixture
def services() -> Iterator[Recorders]:
    api, api_spans = _recording()
    worker, worker_spans = _recording()
    yield api, api_spans, worker, worker_spans
    api.shutdown()
    worker.shutdown()


async def _applied(database_url: str, topic: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        for _ in range(300):
            async with make_sessions(engine)() as session:
                counts = await repository.consumed_counts(session)
            if any(t == topic for t, _ in counts):
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    raise AssertionError(f"nothing applied from {topic}")


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


async def test_a_callback_is_one_trace_from_request_to_the_worker_transaction(
    migrated_database_url: str, topics: TopicNames, services: Recorders
) -> None:
    api_provider, api_spans, worker_provider, worker_spans = services
    settings = base_settings(
        database_url=migrated_database_url,
        topics=topics,
        topic_partitions=2,
        consumer_group=f"tracing-{uuid.uuid4().hex[:8]}",
    )
    await ensure_topics(settings.kafka_bootstrap, topic_specs(topics, partitions=2))
    worker = build_worker(settings, tracing=worker_provider)
    api = build_api(settings, tracing=api_provider)
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the orchestrator's trace

    async with worker.router.lifespan_context(worker), api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answer = await client.post(
                "/api/v1/orchestrator/callback",
                json={"streamUid": "job-traced", "status": "WORKING"},
                headers={"traceparent": caller},
            )
        assert answer.status_code == 201
        await _applied(migrated_database_url, topics.orchestrator_callbacks)

    request = _one(api_spans.get_finished_spans(), "POST /api/v1/orchestrator/callback")
    publish = _one(api_spans.get_finished_spans(), f"{topics.orchestrator_callbacks} publish")
    apply = _one(worker_spans.get_finished_spans(), f"{topics.orchestrator_callbacks} apply")
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert request.kind is SpanKind.SERVER
    assert request.parent is not None
    assert request.parent.span_id == 0x00F067AA0BA902B7  # continues the caller's trace
    assert {request.context.trace_id, publish.context.trace_id, apply.context.trace_id} == {
        trace_id
    }
    assert apply.parent is not None
    assert apply.parent.is_remote  # its parent came over Kafka, in the record's headers
    api_span_ids = {s.context.span_id for s in api_spans.get_finished_spans()}
    assert apply.parent.span_id in api_span_ids
