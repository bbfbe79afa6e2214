"""The api's ear on PostgreSQL: a connection LISTENing for commits to the list's tables.

While it listens, the page cache is armed and every notification drops the cached pages.
When the connection ends (PostgreSQL restarted, the backend was terminated, the network went)
or stops answering its periodic check, the cache is disarmed at once, and armed again only
once a new connection listens: whatever committed in between was not heard, so nothing kept
from before counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from stream_health.db.listing import CHANGED_CHANNEL
from stream_health_api.page_cache import PageCache

log = logging.getLogger(__name__)
MAX_RETRY_S = 30.0  # the longest wait between two attempts to listen


class ListChanges:
    """Keeps one connection listening on the list's channel for `cache`.

    `connect` opens an asyncpg connection. `check_every_s`: how often an idle connection is
    asked a trivial query (a connection that died silently is found within this plus
    `check_timeout_s`). `retry_s`: the wait before connecting again after a failure,
    doubled for each further failure to listen, up to `MAX_RETRY_S`.
    `on_change` is called for every notification (a metric); `sleep` waits (tests pass
    their own).
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        cache: PageCache,
        *,
        check_every_s: float = 5.0,
        check_timeout_s: float = 2.0,
        retry_s: float = 1.0,
        on_change: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._connect = connect
        self._cache = cache
        self._check_every_s = check_every_s
        self._check_timeout_s = check_timeout_s
        self._retry_s = retry_s
        self._on_change = on_change
        self._sleep = sleep
        self._listening = asyncio.Event()
        self._listened = False  # the last attempt got as far as listening

    @property
    def listening(self) -> bool:
        """Whether a connection listens now (the cache is armed)."""
        return self._listening.is_set()

    async def wait_listening(self) -> None:
        """Return once a connection listens."""
        await self._listening.wait()

    def _changed(self, *_: Any) -> None:
        self._cache.invalidate()
        self._on_change()

    def _lost(self, *_: Any) -> None:
        self._listening.clear()
        self._cache.disarm()

    async def run(self) -> None:
        """Listen until cancelled, connecting again after every failure: after `retry_s`,
        doubling while connections keep failing, up to `MAX_RETRY_S`."""
        failures = 0  # attempts in a row that did not get as far as listening
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: unarmed, then retry
                # The error's type only: a connection error may quote the DSN.
                log.warning("api.list_listener_lost", extra={"error": type(error).__name__})
            failures = 0 if self._listened else failures + 1
            self._listened = False
            await self._sleep(min(self._retry_s * 2 ** max(failures - 1, 0), MAX_RETRY_S))

    async def _listen(self) -> None:
        connection = await self._connect()
        try:
            connection.add_termination_listener(self._lost)
            await connection.add_listener(CHANGED_CHANNEL, self._changed)
            self._cache.arm()
            self._listening.set()
            self._listened = True
            log.info("api.list_listener_listening")
            while not connection.is_closed():
                await self._sleep(self._check_every_s)
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self._check_timeout_s)
            raise ConnectionError("the listening connection closed")
        finally:
            self._lost()
            connection.terminate()  # no goodbye on a connection that may be gone
