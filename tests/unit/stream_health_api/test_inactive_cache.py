"""The list route with its page cache, over a fake pool: authentication first, then the cache."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from stream_health_api.auth import Authenticator
from stream_health_api.inactive import PATH, inactive_router
from stream_health_api.page_cache import PageCache

TOKENS = ("first-service-token", "second-service-token")


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class FakeConnection:
    """Answers the page statement with no rows: an empty page, total 0."""

    def __init__(self) -> None:
        self.statements = 0

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements += 1
        return []


class FakePool:
    """One connection, handed out by `acquire()` as asyncpg's pool does."""

    def __init__(self) -> None:
        self.connection = FakeConnection()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield self.connection


def _app(pool: FakePool, clock: Clock) -> FastAPI:
    app = FastAPI()
    digests = [hashlib.sha256(token.encode()).hexdigest() for token in TOKENS]
    app.include_router(
        inactive_router(
            pool=lambda: pool,
            authenticator=Authenticator(jwt_key=None, service_token_digests=digests),
            conditions=("incorrect",),
            expose_credentials=False,
            stale_after_ms=300_000,
            cache=PageCache(ttl_s=1.0, max_entries=16, clock=clock),
        )
    )
    return app


@asynccontextmanager
async def _client(pool: FakePool, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(pool, clock))
    async with httpx.AsyncClient(transport=transport, base_url="https://vms.local") as client:
        yield client


def _bearer(token: str = TOKENS[0]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_cached_page_is_never_served_without_a_valid_token() -> None:
    pool, clock = FakePool(), Clock()
    async with _client(pool, clock) as client:
        cached = await client.get(PATH, params={"sort": "id"}, headers=_bearer())
        anonymous = await client.get(PATH, params={"sort": "id"})
        forged = await client.get(PATH, params={"sort": "id"}, headers=_bearer("forged"))

    assert cached.status_code == 200
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert anonymous.json() == {"message": "Unauthenticated."}
    assert pool.connection.statements == 1


async def test_callers_with_different_tokens_share_a_page_within_the_ttl() -> None:
    pool, clock = FakePool(), Clock()
    async with _client(pool, clock) as client:
        first = await client.get(PATH, params={"sort": "id"}, headers=_bearer(TOKENS[0]))
        clock.now += 0.9
        second = await client.get(PATH, params={"sort": "id"}, headers=_bearer(TOKENS[1]))
        posted = await client.post(PATH, json={"sort": "id"}, headers=_bearer())
        clock.now += 0.1
        expired = await client.get(PATH, params={"sort": "id"}, headers=_bearer())

    assert first.content == second.content == posted.content == expired.content
    assert first.json()["meta"]["total"] == 0
    assert pool.connection.statements == 2  # the first, and the one after the TTL


async def test_what_the_page_shows_is_part_of_its_key() -> None:
    pool, clock = FakePool(), Clock()
    async with _client(pool, clock) as client:
        await client.get(f"{PATH}?sort=id&dir=asc", headers=_bearer())
        reordered = await client.get(f"{PATH}?dir=asc&sort=id", headers=_bearer())
        other_host = await client.get(
            f"http://admin.vms.local{PATH}?sort=id&dir=asc", headers=_bearer()
        )
        other_page = await client.get(f"{PATH}?sort=id&dir=asc&page=2", headers=_bearer())

    assert reordered.json()["links"]["first"].endswith("?dir=asc&sort=id&page=1")
    assert other_host.json()["meta"]["path"] == f"http://admin.vms.local{PATH}"
    assert other_page.json()["meta"]["current_page"] == 2
    assert pool.connection.statements == 4


async def test_an_invalid_request_is_answered_before_the_cache() -> None:
    pool, clock = FakePool(), Clock()
    async with _client(pool, clock) as client:
        invalid = await client.get(PATH, params={"sort": "nope"}, headers=_bearer())

    assert invalid.status_code == 422
    assert pool.connection.statements == 0
