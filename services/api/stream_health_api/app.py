"""Wiring for the api: settings -> engine, Kafka producer, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter

from stream_health.config.settings import Settings
from stream_health.db.engine import make_engine
from stream_health.ops import database_probe, ops_router

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> FastAPI:
    """The api as an ASGI app; the broker publishes orchestrator callbacks."""
    settings.load_conditions()  # the list endpoint validates `condition` against these names
    engine = make_engine(settings.database_url)
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        client_id="stream-health-api",
        enable_idempotence=True,
        acks="all",
        logger=logging.getLogger("stream_health.faststream"),
    )
    registry = CollectorRegistry()
    requests = Counter(
        "stream_health_api_requests",
        "HTTP requests by route and status",
        ["route", "status"],
        registry=registry,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        log.info("api_started")
        try:
            yield
        finally:
            await broker.stop()
            await engine.dispose()
            log.info("api_stopped")

    async def kafka_probe() -> None:
        if not await broker.ping(timeout=2.0):
            raise RuntimeError("kafka unreachable")

    app = FastAPI(title="stream-health api", version="0.1.0", lifespan=lifespan)
    app.include_router(
        ops_router(
            registry=registry,
            probes={"database": database_probe(engine), "kafka": kafka_probe},
        )
    )

    @app.middleware("http")
    async def count_requests(request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        route = request.scope.get("route")
        requests.labels(
            route=getattr(route, "path", "unmatched"), status=response.status_code
        ).inc()
        return response

    return app
