"""The api's listener without PostgreSQL: when it retries, and what it does to the cache."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from stream_health_api.list_changes import MAX_RETRY_S, ListChanges
from stream_health_api.page_cache import PageCache


class Dropped:
    """A connection that listens, then is found closed at its first check."""

    def __init__(self) -> None:
        self.terminated = False

    def add_termination_listener(self, callback: Callable[..., Any]) -> None:
        pass

    async def add_listener(self, channel: str, callback: Callable[..., Any]) -> None:
        pass

    def is_closed(self) -> bool:
        return False

    async def fetchval(self, sql: str) -> Any:
        raise ConnectionResetError("gone")

    def terminate(self) -> None:
        self.terminated = True


async def test_failed_attempts_wait_longer_each_time_and_a_listen_resets_the_wait() -> None:
    cache = PageCache(ttl_s=60, max_bytes=1024)
    # Refused six times, listens once (then the connection is lost), refused once more.
    refused: list[BaseException | Dropped] = [OSError("refused")] * 6
    outcomes = [*refused, Dropped(), OSError("refused")]
    retries: list[float] = []
    armed_while_listening: list[bool] = []

    async def connect() -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def sleep(seconds: float) -> None:
        if not outcomes:
            raise asyncio.CancelledError
        if seconds == 5.0:  # the idle connection's check interval: listening now
            armed_while_listening.append(cache.enabled)
        else:
            retries.append(seconds)

    changes = ListChanges(connect, cache, retry_s=1.0, sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await changes.run()

    assert retries == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_RETRY_S, 1.0]
    assert armed_while_listening == [True]
    assert not cache.enabled
    assert not changes.listening
