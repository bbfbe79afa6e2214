"""Wiring for the api: settings -> engine, Kafka producer, routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter, Gauge

from stream_health.config.settings import Settings
from stream_health.db.engine import make_engine, make_read_pool, plain_dsn
from stream_health.ops import database_probe, ops_router
from stream_health.tracing import http_telemetry, kafka_middlewares, tracer_provider
from stream_health_api.analytics import analytics_router
from stream_health_api.auth import Authenticator
from stream_health_api.http import RequestCounter
from stream_health_api.inactive import inactive_router, invalid
from stream_health_api.list_changes import ListChanges
from stream_health_api.page_cache import HIT, MISS, SHARED, PageCache
from stream_health_api.params import InvalidParameters

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)
SERVICE = "stream-health-api"
# Rendered list pages kept at most, in bytes of JSON (a 25-item page is ~75 KiB, 100 items
# ~300 KiB: ~870 pages of 25 items).
LIST_CACHE_BYTES = 64 * 1024 * 1024


def build_app(settings: Settings, *, tracing: TracerProvider | None = None) -> FastAPI:
    """The api as an ASGI app; the broker publishes orchestrator callbacks.

    `tracing`: where spans go; by default a provider exporting over OTLP when the settings
    switch tracing on, else none.
    """
    owned = None  # a provider made here is shut down (flushed) here
    if tracing is None and settings.tracing_enabled:
        tracing = owned = tracer_provider(SERVICE)
    conditions = settings.load_conditions()  # the list accepts exactly these names
    engine = make_engine(settings.database_url, pool_size=2)  # readiness probes
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        client_id="stream-health-api",
        enable_idempotence=True,
        acks="all",
        logger=logging.getLogger("stream_health.faststream"),
        middlewares=kafka_middlewares(tracing),
    )
    registry = CollectorRegistry()
    requests = Counter(
        "stream_health_api_requests",
        "HTTP requests by route and status",
        ["route", "status"],
        registry=registry,
    )

    pools: list[Any] = []
    cache = list_cache(settings, registry)
    changes = list_changes(settings, registry, cache)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pools.append(await make_read_pool(settings.database_url))
        await broker.start()
        log.info("api.started")
        try:
            async with _running(changes.run() if cache.configured else None):
                yield
        finally:
            await broker.stop()
            await pools.pop().close()
            await engine.dispose()
            if owned is not None:
                owned.shutdown()
            log.info("api.stopped")

    async def kafka_probe() -> None:
        if not await broker.ping(timeout=2.0):
            raise RuntimeError("kafka unreachable")

    app = FastAPI(
        title="stream-health api",
        version="0.1.0",
        lifespan=lifespan,
        telemetry=http_telemetry(tracing),
    )
    authenticator = Authenticator.from_settings(settings)

    async def publish_callback(job_uid: str, value: bytes) -> None:
        await broker.publish(
            value, topic=settings.topics.orchestrator_callbacks, key=job_uid.encode()
        )

    app.include_router(
        analytics_router(
            pool=lambda: pools[0],
            authenticator=authenticator,
            publish=publish_callback,
            callback_allow=settings.callback_allow,
        )
    )
    app.include_router(
        inactive_router(
            pool=lambda: pools[0],
            authenticator=authenticator,
            conditions=conditions.names,
            expose_credentials=settings.expose_stream_credentials,
            stale_after_ms=int(settings.server_stale_after.total_seconds() * 1000),
            cache=cache,
        )
    )
    app.include_router(
        ops_router(
            registry=registry,
            probes={"database": database_probe(engine), "kafka": kafka_probe},
        )
    )

    app.add_middleware(RequestCounter, counter=requests)

    _document_security(app)
    app.state.broker = broker
    app.state.list_changes = changes

    @app.exception_handler(RequestValidationError)
    async def laravel_validation(_: Request, exc: RequestValidationError) -> Response:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"][1:]) or "body"
            errors.setdefault(name, []).append(str(error["msg"]))
        return invalid(InvalidParameters(errors))

    return app


def list_cache(settings: Settings, registry: CollectorRegistry) -> PageCache:
    """The list's page cache, counting its outcomes in `registry`."""
    requests = Counter(
        "stream_health_api_list_cache_requests",
        "List requests by page cache outcome: hit, miss (ran the query), shared (waited for "
        "an identical request's query)",
        ["outcome"],
        registry=registry,
    )
    for outcome in (HIT, MISS, SHARED):
        requests.labels(outcome=outcome)  # every series from the start, at 0
    return PageCache(
        ttl_s=settings.list_cache_ttl.total_seconds(),
        max_bytes=LIST_CACHE_BYTES,
        max_lag_s=settings.list_cache_max_lag.total_seconds(),
        on_outcome=lambda outcome: requests.labels(outcome=outcome).inc(),
    )


def list_changes(settings: Settings, registry: CollectorRegistry, cache: PageCache) -> ListChanges:
    """The listener that arms `cache` and drops its pages on every change to the list's data."""
    changes = Counter(
        "stream_health_api_list_changes",
        "Commits to the list's tables the api heard of (each dropped the cached pages)",
        registry=registry,
    )
    listener = ListChanges(
        lambda: asyncpg.connect(
            plain_dsn(settings.database_url),
            server_settings={"application_name": "stream-health-api-listen"},
        ),
        cache,
        on_change=changes.inc,
    )
    Gauge(
        "stream_health_api_list_cache_listening",
        "1 while the api listens for changes to the list's data (the page cache is armed)",
        registry=registry,
    ).set_function(lambda: float(listener.listening))
    return listener


@asynccontextmanager
async def _running(work: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    """`work` as a task for the duration (none: nothing), cancelled on the way out."""
    task = None if work is None else asyncio.create_task(work)
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _document_security(app: FastAPI) -> None:
    """Declare the bearer scheme that the routes' `security` entries name."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "a JWT signed with the configured key, or a service token",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
