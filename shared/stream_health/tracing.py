"""OpenTelemetry tracing across the Kafka hop; off unless the environment switches it on.

Off, nothing here is imported beyond this module, no middleware is installed, FastAPI's
native telemetry is off and the worker's per-batch cost is one `is None` check. On, the api
traces each request (FastAPI's native spans, W3C context from the caller) and each
Kafka publish (W3C `traceparent` in the record headers); the worker traces each batch (a
span linked to every record's producer, as FastStream does for batches) and, for each record
that carries a trace context, an `apply` span that is the child of its producer's span, so
one trace runs from the HTTP request through Kafka into the worker's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from faststream._internal.types import BrokerMiddleware
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

INSTRUMENTATION = "stream_health"
UNTRACED_PATHS = frozenset({"healthz", "readyz", "metrics"})  # probes would drown the traces


class TracedRecord(Protocol):
    """The fields of a Kafka consumer record a span describes."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def tracer_provider(service: str, *, exporter: SpanExporter | None = None) -> TracerProvider:
    """A provider batching spans to `exporter`, by default OTLP over HTTP.

    The OTLP exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS and _TIMEOUT;
    OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override `service` and add attributes.
    """
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def kafka_middlewares(provider: TracerProvider | None) -> tuple[BrokerMiddleware[Any, Any], ...]:
    """FastStream's Kafka telemetry (publish and consume spans, context in headers), if on."""
    if provider is None:
        return ()
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware  # noqa: PLC0415

    return (KafkaTelemetryMiddleware(tracer_provider=provider, include_messages_counters=False),)


def http_telemetry(provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's native telemetry: a server span per request (probes excepted) when on.

    Off, it is off even if some library installed a global provider. FastAPI's own
    OpenTelemetry logs stay off either way: they carry exception messages, which may
    quote a DSN or a stream url.
    """
    if provider is None:
        return {"tracing": False, "metrics": False, "logs": False}
    return {
        "tracer_provider": provider,
        "metrics": False,  # Prometheus already counts requests
        "logs": False,
        "exclude": _probe,
    }


def _probe(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).strip("/") in UNTRACED_PATHS


def worker_tracer(provider: TracerProvider | None) -> Tracer | None:
    """The tracer for the worker's per-record spans (None: tracing is off)."""
    return None if provider is None else provider.get_tracer(INSTRUMENTATION)


def traced_records(
    tracer: Tracer | None, records: Sequence[TracedRecord]
) -> contextlib.AbstractContextManager[None]:
    """Around a batch's transaction: an `apply` span per record that carries a trace."""
    if tracer is None:
        return contextlib.nullcontext()
    return _record_spans(tracer, records)


@contextlib.contextmanager
def _record_spans(tracer: Tracer, records: Sequence[TracedRecord]) -> Iterator[None]:
    from opentelemetry import propagate, trace  # noqa: PLC0415
    from opentelemetry.trace import Link, SpanKind, StatusCode  # noqa: PLC0415

    batch = trace.get_current_span().get_span_context()
    links = [Link(batch)] if batch.is_valid else []
    spans: list[Span] = []
    for record in records:
        carrier = {k: v.decode("latin-1") for k, v in record.headers or () if v is not None}
        if "traceparent" not in carrier:
            continue
        spans.append(
            tracer.start_span(
                f"{record.topic} apply",
                context=propagate.extract(carrier),
                kind=SpanKind.CONSUMER,
                links=links,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": record.topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                },
            )
        )
    try:
        yield
    except Exception as exc:
        for span in spans:  # the class only: a message may quote a DSN or a stream url
            span.set_status(StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        for span in spans:
            span.end()
