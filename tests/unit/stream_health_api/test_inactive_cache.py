"""The list route with its page cache, over a fake pool: authentication first, then the cache."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
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


SERVER_ID, STALE_AFTER_MS = 7, 300_000


def _row(uid: str, server_seen_ms: int) -> dict[str, Any]:
    return {
        "total": 1,
        "part": 0,
        "uid": uid,
        "disconnections": 1,
        "conditions": ["incorrect"],
        "last_reconnect_ms": None,
        "reconnect_attempt": None,
        "reconnect_total": None,
        "stream": orjson.dumps({"id": 1, "server_id": SERVER_ID}).decode(),
        "camera": None,
        "server_id": SERVER_ID,
        "server_seen_ms": server_seen_ms,
    }


# The page statement's row for the server its rows show, after them.
SERVER_ROW: dict[str, Any] = {"total": None, "part": 1, "uid": None, "server_id": SERVER_ID}
SERVER_ROW |= {"server_doc": '{"id": 7}', "server_extra": None}


class FakeConnection:
    """Answers the page statement with `rows` and, when there are any, the one server they
    name (none: an empty page, total 0)."""

    def __init__(self) -> None:
        self.statements = 0
        self.rows: list[dict[str, Any]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements += 1
        return [*self.rows, SERVER_ROW] if self.rows else []


class FakePool:
    """One connection, handed out by `acquire()` as asyncpg's pool does."""

    def __init__(self) -> None:
        self.connection = FakeConnection()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield self.connection


def _app(pool: FakePool, clock: Clock) -> FastAPI:
    # The wall clock the route reads moves with the cache's (both in the test's hands).
    app = FastAPI()
    cache = PageCache(ttl_s=1.0, max_bytes=1 << 20, clock=clock)
    cache.arm()  # as the api's listener does once it listens
    digests = [hashlib.sha256(token.encode()).hexdigest() for token in TOKENS]
    app.include_router(
        inactive_router(
            pool=lambda: pool,
            authenticator=Authenticator(jwt_key=None, service_token_digests=digests),
            conditions=("incorrect",),
            expose_credentials=False,
            stale_after_ms=STALE_AFTER_MS,
            clock_ms=lambda: int(clock.now * 1000),
            cache=cache,
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


@pytest.mark.parametrize(("seen_s_ago", "kept_s"), [(299.5, 0.5), (301.0, 1.0)])
async def test_a_page_is_kept_until_a_main_server_on_it_would_turn_stale(
    seen_s_ago: float, kept_s: float
) -> None:
    pool, clock = FakePool(), Clock()
    pool.connection.rows = [_row("u-1", int((clock.now - seen_s_ago) * 1000))]
    async with _client(pool, clock) as client:
        first = (await client.get(PATH, headers=_bearer())).json()
        clock.now += kept_s - 0.01
        kept = (await client.get(PATH, headers=_bearer())).json()
        clock.now += 0.02
        renewed = (await client.get(PATH, headers=_bearer())).json()

    # Actual 299.5 s after its server was last heard of, the item turns stale 0.5 s later:
    # the page goes then. A page whose servers are stale already keeps to the TTL (1 s here).
    assert first == kept
    assert [i["is_actual"] for i in first["data"]] == [seen_s_ago < 300]
    assert [i["is_actual"] for i in renewed["data"]] == [False]
    assert pool.connection.statements == 2  # the page, twice
