"""A short-lived cache of rendered list pages: identical requests within the TTL share one query.

The admin UI polls the same few pages; each poll would otherwise repeat the same SQL and the
same rendering. An entry lives `ttl_s` from the moment its query started, so a cached page is
at most `ttl_s` older than the one a fresh query would give. Requests that miss while an
identical query is running wait for it (single flight) rather than running their own.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

HIT, MISS, SHARED = "hit", "miss", "shared"  # outcomes, as the metric labels them


@dataclass(frozen=True, slots=True)
class _Entry:
    expires_at: float  # on the cache's clock
    body: bytes


def _retrieve(flight: asyncio.Future[bytes]) -> None:
    # A failed query whose requesters all went away must not log "never retrieved".
    if not flight.cancelled():
        flight.exception()


class PageCache:
    """Rendered pages by key for `ttl_s` seconds, at most `max_entries` of them (LRU).

    `ttl_s` 0 disables it: every request computes its page. `clock` gives seconds (monotonic);
    `on_outcome` is told HIT, MISS (this request runs the query) or SHARED (it waits for an
    identical query already running) for each request while enabled.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
        on_outcome: Callable[[str], None] = lambda _: None,
    ) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError("ttl_s must be >= 0 and max_entries >= 1")
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._on_outcome = on_outcome
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._flights: dict[Hashable, asyncio.Future[bytes]] = {}

    @property
    def enabled(self) -> bool:
        """Whether pages are cached at all."""
        return self._ttl_s > 0

    def __len__(self) -> int:
        """Entries held (expired ones included until they are dropped)."""
        return len(self._entries)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """The page for `key`: cached, the one an identical request is computing, or computed."""
        if not self.enabled:
            return await compute()
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > now:
            self._entries.move_to_end(key)
            self._on_outcome(HIT)
            return entry.body
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fill(key, compute, expires_at=now + self._ttl_s))
            flight.add_done_callback(_retrieve)
            self._flights[key] = flight
            self._on_outcome(MISS)
        else:
            self._on_outcome(SHARED)
        # Shielded: a requester that goes away does not cancel the query the others wait for.
        return await asyncio.shield(flight)

    async def _fill(
        self, key: Hashable, compute: Callable[[], Awaitable[bytes]], *, expires_at: float
    ) -> bytes:
        try:
            body = await compute()
            self._store(key, _Entry(expires_at, body))
            return body
        finally:
            del self._flights[key]  # no await since the store: no request sees neither

    def _store(self, key: Hashable, entry: _Entry) -> None:
        now = self._clock()
        if entry.expires_at <= now:  # the query took the whole TTL: nothing to keep
            self._entries.pop(key, None)
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        # Least recently used first: past the bound, or already expired at the old end.
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        while self._entries and next(iter(self._entries.values())).expires_at <= now:
            self._entries.popitem(last=False)
