"""Tracing across the Kafka hop, in memory: FastStream's TestKafkaBroker, the SDK's exporter."""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from stream_health.config.settings import Settings, TopicNames
from stream_health.tracing import (
    kafka_middlewares,
    traced_records,
    tracer_provider,
    worker_tracer,
)
from stream_health_api.app import build_app as build_api
from stream_health_worker import runtime as runtime_module
from stream_health_worker.app import build_app as build_worker
from stream_health_worker.ingest import BatchResult

TOPICS = TopicNames()
UNREACHABLE_DB = "postgresql+asyncpg://sh:sh@127.0.0.1:1/sh"  # nothing here may touch a database


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("STREAM_HEALTH_", "OTEL_")):
            monkeypatch.delenv(name)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def _settings(**overrides: Any) -> Settings:
    return Settings(database_url=UNREACHABLE_DB, **overrides)


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def _parent_in_headers(headers: list[tuple[str, bytes]]) -> Any:
    carrier = {k: v.decode() for k, v in headers}
    context = TraceContextTextMapPropagator().extract(carrier)
    return get_current_span(context).get_span_context()


def test_tracing_is_off_unless_the_environment_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Settings().tracing_enabled
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert Settings().tracing_enabled
    monkeypatch.setenv("STREAM_HEALTH_TRACING", "0")
    assert not Settings().tracing_enabled  # an explicit switch wins
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("STREAM_HEALTH_TRACING", "1")
    assert Settings().tracing_enabled


def test_off_the_services_do_not_even_import_the_sdk() -> None:
    # (FastAPI itself imports the OpenTelemetry API; the SDK and the middlewares stay out.)
    code = (
        "import sys\n"
        "from stream_health.config.settings import Settings\n"
        "from stream_health_api.app import build_app as api\n"
        "from stream_health_worker.app import build_app as worker\n"
        f"settings = Settings(database_url={UNREACHABLE_DB!r})\n"
        "api(settings); worker(settings)\n"
        "heavy = ('opentelemetry.sdk', 'opentelemetry.exporter', 'faststream.opentelemetry')\n"
        "loaded = [m for m in sys.modules if m.startswith(heavy)]\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_HEALTH_", "OTEL_"))}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_off_a_batch_costs_a_none_check() -> None:
    assert kafka_middlewares(None) == ()
    assert worker_tracer(None) is None
    with traced_records(None, []):
        pass


def test_the_provider_names_the_service_unless_otel_does(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter
) -> None:
    named = tracer_provider("stream-health-worker", exporter=exporter)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "edge-worker-3")
    renamed = tracer_provider("stream-health-worker", exporter=exporter)

    assert named.resource.attributes[SERVICE_NAME] == "stream-health-worker"
    assert renamed.resource.attributes[SERVICE_NAME] == "edge-worker-3"
    named.shutdown()
    renamed.shutdown()


async def test_a_callback_request_its_publish_and_its_apply_form_one_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = build_api(_settings(), tracing=provider)
    broker: KafkaBroker = app.state.broker
    tracer = worker_tracer(provider)
    received: list[tuple[tuple[str, bytes], ...]] = []

    # The worker's side of the hop, as it consumes: batches, and traced_records around them.
    @broker.subscriber(TOPICS.orchestrator_callbacks, batch=True)
    async def consume(message: KafkaMessage) -> None:
        records = message.raw_message
        received.extend(tuple(r.headers) for r in records)
        with traced_records(tracer, records):
            pass

    async with TestKafkaBroker(broker):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answer = await client.post(
                "/api/v1/orchestrator/callback", json={"streamUid": "job-1", "status": "DOWN"}
            )
    assert answer.status_code == 201

    spans = exporter.get_finished_spans()
    request = _one(spans, "POST /api/v1/orchestrator/callback")
    publish = _one(spans, f"{TOPICS.orchestrator_callbacks} publish")
    apply = _one(spans, f"{TOPICS.orchestrator_callbacks} apply")
    [headers] = received
    sent_from = _parent_in_headers(list(headers))
    assert request.kind is SpanKind.SERVER
    assert publish.context.trace_id == request.context.trace_id
    assert sent_from.trace_id == request.context.trace_id  # the trace id travels in headers
    assert apply.kind is SpanKind.CONSUMER
    assert apply.parent is not None
    assert apply.parent.is_remote
    assert (apply.parent.trace_id, apply.parent.span_id) == (sent_from.trace_id, sent_from.span_id)
    assert apply.context.trace_id == request.context.trace_id


async def test_the_worker_applies_each_traced_record_in_a_child_of_its_producer(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[int] = []

    async def prepare_batch(sessions: Any, *, ctx: Any, records: Any, now_ms: int) -> Any:
        return len(records)

    async def commit_batch(sessions: Any, *, ctx: Any, prepared: Any) -> BatchResult:
        applied.append(prepared)
        return BatchResult()

    monkeypatch.setattr(runtime_module, "prepare_batch", prepare_batch)
    monkeypatch.setattr(runtime_module, "commit_batch", commit_batch)
    app = build_worker(_settings(), tracing=provider)
    broker: KafkaBroker = app.state.broker
    producer = provider.get_tracer("a-producer")

    async with TestKafkaBroker(broker):
        with producer.start_as_current_span("orchestrator posts a callback") as origin:
            await broker.publish(b'{"streamUid": "job-1"}', TOPICS.orchestrator_callbacks, key=b"j")
        await app.state.runtime.settle()  # the batch's transaction runs after the handler

    spans = exporter.get_finished_spans()
    publish = _one(spans, f"{TOPICS.orchestrator_callbacks} publish")
    apply = _one(spans, f"{TOPICS.orchestrator_callbacks} apply")
    batches = [s for s in spans if s.name.endswith(" process")]
    assert applied == [1]
    assert publish.context.trace_id == origin.get_span_context().trace_id
    assert apply.parent is not None
    assert apply.context.trace_id == origin.get_span_context().trace_id
    assert apply.parent.span_id in {
        s.context.span_id for s in spans if s.context.trace_id == apply.context.trace_id
    }
    assert apply.status.status_code is StatusCode.UNSET
    [batch] = batches  # FastStream's span per batch, linked to its records' producers
    assert [link.context.span_id for link in apply.links] == [batch.context.span_id]


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    headers: tuple[tuple[str, bytes], ...]


def test_a_record_without_a_trace_gets_no_span_and_a_failure_marks_the_others(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    records = [
        _Record("t", 0, 1, (("traceparent", traceparent),)),
        _Record("t", 0, 2, ()),
    ]

    with pytest.raises(RuntimeError), traced_records(worker_tracer(provider), records):
        raise RuntimeError("rtsp://admin:secret@cam/live")

    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["messaging.kafka.offset"] == 1
    assert span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError"
    assert not span.events  # no exception message (it may quote a password) leaves the process
