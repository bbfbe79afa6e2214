"""Operations endpoints shared by both services: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from stream_health.db.revision import SHIPPED_REVISION, current_revision

Probe = Callable[[], Awaitable[None]]


class Readiness(BaseModel):
    """Whether the service can serve, and each probe's result ("ok" or why not)."""

    status: str
    checks: dict[str, str]


def database_probe(engine: AsyncEngine) -> Probe:
    """Fails unless PostgreSQL answers and the schema is at the shipped head."""
    head = SHIPPED_REVISION

    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await current_revision(engine)
        if current != head:
            raise RuntimeError(f"database at migration {current}, code expects {head}")

    return probe


def ops_router(
    *, registry: CollectorRegistry, probes: dict[str, Probe], timeout_s: float = 3.0
) -> APIRouter:
    """Liveness, readiness (every probe passes within the timeout) and Prometheus metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        responses={
            200: {"description": "Every dependency answers", "model": Readiness},
            503: {"description": "A dependency does not answer", "model": Readiness},
        },
    )
    async def readyz() -> JSONResponse:
        async def run(probe: Probe) -> str:
            try:
                await asyncio.wait_for(probe(), timeout_s)
            except Exception as exc:  # a readiness probe reports, it does not raise
                return f"fail: {type(exc).__name__}: {exc}"[:300]
            return "ok"

        results = await asyncio.gather(*(run(p) for p in probes.values()))
        checks = dict(zip(probes, results, strict=True))
        ready = all(r == "ok" for r in results)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition",
                "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            }
        },
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
