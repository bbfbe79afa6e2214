"""Rendered list pages kept while nothing they were read from has changed.

A page costs a query and the rendering of its items; the same page asked again costs only
the send while the data under it is the same. PostgreSQL says when that stops being so: each
commit that writes a table the list reads raises a notification (migration 0009), and the
api's listener (`list_changes.ListChanges`) then calls `invalidate`. Pages are kept only while
that listener is connected (`arm` / `disarm`): without it a change could go unnoticed.

An entry also goes when a main server on its page would turn stale (the page says when, as
`Page.keep_s`), and at the latest `ttl_s` after its query started, a bound for a notification
lost in a way the listener could not see. A page is at most the notification's delay behind
the committed data (a few milliseconds): a query that started before a commit and ends after
it may be served until the commit's notification arrives.

With `max_lag_s` above 0 (an operator's choice: the list may trail its data by that much), a
change does not drop the pages: each is kept until `max_lag_s` after its query started, so a
page is served at most `max_lag_s` after a commit it does not show. Under a live fleet, which
commits every batch, that is what lets one query answer many requests.

Requests that miss while an identical query is running wait for it (single flight) rather
than running their own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

HIT, MISS, SHARED = "hit", "miss", "shared"  # outcomes, as the metric labels them


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page and how long what it shows stays true if the data does not change."""

    body: bytes
    keep_s: float = math.inf


@dataclass(frozen=True, slots=True)
class _Entry:
    expires_at: float  # on the cache's clock
    body: bytes
    started: float  # when its query started: the data it shows is at least that recent


def _retrieve(flight: asyncio.Future[Page]) -> None:
    # A failed query whose requesters all went away must not log "never retrieved".
    if not flight.cancelled():
        flight.exception()


class PageCache:
    """Rendered pages by key, at most `max_bytes` of bodies (the least recently used go first).

    `ttl_s` 0 disables it: every request computes its page. Enabled, it keeps pages only while
    armed. `max_lag_s`: how long after its query started a page may still be served once the
    data changed (0: not at all). `clock` gives seconds (monotonic); `on_outcome` is told HIT,
    MISS (this request runs the query) or SHARED (it waits for an identical query already
    running) for each request while pages are kept.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_bytes: int,
        max_lag_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        on_outcome: Callable[[str], None] = lambda _: None,
    ) -> None:
        if ttl_s < 0 or max_bytes < 1 or max_lag_s < 0:
            raise ValueError("ttl_s and max_lag_s must be >= 0, and max_bytes >= 1")
        self._ttl_s = ttl_s
        self._max_lag_s = max_lag_s
        self._max_bytes = max_bytes
        self._clock = clock
        self._on_outcome = on_outcome
        self._armed = False
        self._generation = 0  # moves on every change: a query knows the one it started in
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._flights: dict[tuple[int, Hashable], asyncio.Future[Page]] = {}

    @property
    def enabled(self) -> bool:
        """Whether pages are kept now: configured on, and armed."""
        return self._ttl_s > 0 and self._armed

    @property
    def configured(self) -> bool:
        """Whether pages are kept at all when armed (a TTL above 0)."""
        return self._ttl_s > 0

    def __len__(self) -> int:
        """Entries held (expired ones included until they are dropped)."""
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The bodies held, in bytes."""
        return self._bytes

    def arm(self) -> None:
        """Keep pages from now on: changes will be reported. Nothing kept before counts."""
        self._forget()
        self._armed = True

    def disarm(self) -> None:
        """Stop keeping pages (changes may go unreported) and drop those kept."""
        self._armed = False
        self._forget()

    def invalidate(self) -> None:
        """Something a page may show changed: every query running now answers its own
        requesters only, and the pages go (with a max lag: once it has passed)."""
        if not self._max_lag_s:
            self._forget()
            return
        self._generation += 1
        now = self._clock()
        for key, entry in list(self._entries.items()):
            until = entry.started + self._max_lag_s
            if until <= now:
                del self._entries[key]
                self._bytes -= len(entry.body)
            elif until < entry.expires_at:
                self._entries[key] = _Entry(until, entry.body, entry.started)  # keeps its place

    def _forget(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._bytes = 0

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Page]]) -> bytes:
        """The page for `key`: kept, the one an identical request is computing, or computed."""
        if not self.enabled:
            return (await compute()).body
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > now:
            self._entries.move_to_end(key)
            self._on_outcome(HIT)
            return entry.body
        keyed = (self._generation, key)
        flight = self._flights.get(keyed)
        if flight is None:
            flight = asyncio.ensure_future(self._fill(keyed, compute, started=now))
            flight.add_done_callback(_retrieve)
            self._flights[keyed] = flight
            self._on_outcome(MISS)
        else:
            self._on_outcome(SHARED)
        # Shielded: a requester that goes away does not cancel the query the others wait for.
        return (await asyncio.shield(flight)).body

    async def _fill(
        self, keyed: tuple[int, Hashable], compute: Callable[[], Awaitable[Page]], *, started: float
    ) -> Page:
        try:
            page = await compute()
            expires_at = started + min(self._ttl_s, page.keep_s)
            generation, key = keyed
            if generation != self._generation:  # read before a change (or a disarm)
                if not self._max_lag_s:
                    return page
                expires_at = min(expires_at, started + self._max_lag_s)
            if self._armed:
                self._store(key, _Entry(expires_at, page.body, started))
            return page
        finally:
            del self._flights[keyed]  # no await since the store: no request sees neither

    def _drop_oldest(self) -> None:
        _, entry = self._entries.popitem(last=False)
        self._bytes -= len(entry.body)

    def _store(self, key: Hashable, entry: _Entry) -> None:
        now = self._clock()
        old = self._entries.get(key)
        if old is not None:
            if old.started > entry.started:
                return  # a later query's page is kept already
            del self._entries[key]
            self._bytes -= len(old.body)
        if entry.expires_at <= now or len(entry.body) > self._max_bytes:
            return  # expired while its query ran, or too large to keep
        self._entries[key] = entry
        self._bytes += len(entry.body)
        # Least recently used first: past the bound, or already expired at the old end.
        while self._bytes > self._max_bytes:
            self._drop_oldest()
        while self._entries and next(iter(self._entries.values())).expires_at <= now:
            self._drop_oldest()
