"""The api's request counter: by route template and status, failures as 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from stream_health_api.http import RequestCounter, json_response


def _app() -> tuple[FastAPI, CollectorRegistry]:
    registry = CollectorRegistry()
    counter = Counter("requests", "by route and status", ["route", "status"], registry=registry)
    app = FastAPI()

    @app.get("/items/{item}")
    async def item(item: int) -> object:
        return json_response({"item": item}, 200 if item else 404)

    @app.get("/broken")
    async def broken() -> object:
        raise LookupError("a bug")

    app.add_middleware(RequestCounter, counter=counter)
    return app, registry


def _count(registry: CollectorRegistry, route: str, status: int) -> float | None:
    return registry.get_sample_value("requests_total", {"route": route, "status": str(status)})


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app, registry = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        statuses = [
            (await client.get(path)).status_code
            for path in ("/items/1", "/items/2", "/items/0", "/items/x", "/nowhere", "/broken")
        ]

    assert statuses == [200, 200, 404, 422, 404, 500]
    assert _count(registry, "/items/{item}", 200) == 2
    assert _count(registry, "/items/{item}", 404) == 1
    assert _count(registry, "/items/{item}", 422) == 1
    assert _count(registry, "unmatched", 404) == 1
    assert _count(registry, "/broken", 500) == 1


async def test_a_failing_request_still_raises_to_the_server() -> None:
    app, registry = _app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        with pytest.raises(LookupError):
            await client.get("/broken")

    assert _count(registry, "/broken", 500) == 1
