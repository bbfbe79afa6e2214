"""The list's page cache: armed by its listener, dropped on a change, expiry on an injected
clock, single flight, the LRU bound in bytes."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from stream_health_api.page_cache import HIT, MISS, SHARED, Page, PageCache


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pages:
    """A compute function per key that counts its calls and renders `key@call`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def render(self, key: str, keep_s: float = math.inf) -> Callable[[], Awaitable[Page]]:
        async def compute() -> Page:
            self.calls[key] += 1
            return Page(f"{key}@{self.calls[key]}".encode(), keep_s)

        return compute


def _cache(
    clock: Clock,
    *,
    ttl_s: float = 1.0,
    max_bytes: int = 1024,
    max_lag_s: float = 0.0,
    armed: bool = True,
) -> tuple[PageCache, Counter[str]]:
    outcomes: Counter[str] = Counter()
    cache = PageCache(
        ttl_s=ttl_s,
        max_bytes=max_bytes,
        max_lag_s=max_lag_s,
        clock=clock,
        on_outcome=lambda o: outcomes.update([o]),
    )
    if armed:
        cache.arm()
    return cache, outcomes


def _held(release: asyncio.Event, body: bytes) -> Callable[[], Awaitable[Page]]:
    """A query that answers `body` once `release` is set."""

    async def compute() -> Page:
        await release.wait()
        return Page(body)

    return compute


async def _get(cache: PageCache, pages: Pages, key: str) -> bytes:
    return await cache.get(key, pages.render(key))


async def test_an_identical_request_within_the_ttl_is_served_from_the_cache() -> None:
    clock, pages = Clock(), Pages()
    cache, outcomes = _cache(clock)

    first = await _get(cache, pages, "a")
    clock.now += 0.999
    again = await _get(cache, pages, "a")

    assert first == again == b"a@1"
    assert pages.calls == {"a": 1}
    assert outcomes == {"miss": 1, "hit": 1}


async def test_an_entry_expires_its_ttl_after_its_query_started() -> None:
    clock, pages = Clock(), Pages()
    cache, outcomes = _cache(clock)

    async def slow() -> Page:
        clock.now += 0.4  # the query takes 0.4 s of the TTL
        return Page(b"slow")

    await cache.get("a", slow)
    clock.now += 0.599
    hit = await _get(cache, pages, "a")
    clock.now += 0.001  # 1 s after the query started
    fresh = await _get(cache, pages, "a")

    assert (hit, fresh) == (b"slow", b"a@1")
    assert outcomes == {MISS: 2, HIT: 1}


async def test_a_query_slower_than_the_ttl_is_not_kept() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock)

    async def slower() -> Page:
        clock.now += 1.5
        return Page(b"late")

    await cache.get("a", slower)

    assert len(cache) == 0
    assert await _get(cache, pages, "a") == b"a@1"


async def test_concurrent_identical_misses_share_one_query() -> None:
    clock = Clock()
    cache, outcomes = _cache(clock)
    release, calls = asyncio.Event(), []

    async def compute() -> Page:
        calls.append(1)
        await release.wait()
        return Page(b"page")

    waiting = [asyncio.create_task(cache.get("a", compute)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    bodies = await asyncio.gather(*waiting)

    assert bodies == [b"page"] * 5
    assert len(calls) == 1
    assert outcomes == {MISS: 1, SHARED: 4}


async def test_a_failed_query_fails_its_waiters_and_is_not_kept() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock)
    release = asyncio.Event()

    async def broken() -> Page:
        await release.wait()
        raise ConnectionError("database gone")

    waiting = [asyncio.create_task(cache.get("a", broken)) for _ in range(2)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)

    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    assert await _get(cache, pages, "a") == b"a@1"


async def test_a_requester_that_goes_away_does_not_cancel_the_shared_query() -> None:
    clock = Clock()
    cache, _ = _cache(clock)
    release = asyncio.Event()
    compute = _held(release, b"page")

    leader = asyncio.create_task(cache.get("a", compute))
    follower = asyncio.create_task(cache.get("a", compute))
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.sleep(0)
    release.set()

    assert await follower == b"page"
    assert leader.cancelled()
    assert await cache.get("a", compute) == b"page"  # kept, from the one query


async def test_the_least_recently_used_page_goes_past_the_bound_in_bytes() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, max_bytes=6)  # two bodies of 3 bytes ("a@1")

    await _get(cache, pages, "a")
    await _get(cache, pages, "b")
    await _get(cache, pages, "a")  # a is now the more recently used
    await _get(cache, pages, "c")  # b goes
    await _get(cache, pages, "a")
    await _get(cache, pages, "b")

    assert (len(cache), cache.size_bytes) == (2, 6)
    assert pages.calls == {"a": 1, "b": 2, "c": 1}


async def test_a_page_larger_than_the_bound_is_served_and_not_kept() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, max_bytes=2)

    first = await _get(cache, pages, "a")
    second = await _get(cache, pages, "a")

    assert (first, second) == (b"a@1", b"a@2")
    assert (len(cache), cache.size_bytes) == (0, 0)


async def test_expired_pages_at_the_old_end_are_dropped_when_another_is_stored() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock)

    await _get(cache, pages, "a")
    await _get(cache, pages, "b")
    clock.now += 2
    await _get(cache, pages, "c")

    assert len(cache) == 1


async def test_a_zero_ttl_computes_every_request_and_counts_nothing() -> None:
    clock, pages = Clock(), Pages()
    cache, outcomes = _cache(clock, ttl_s=0)

    await _get(cache, pages, "a")
    await _get(cache, pages, "a")

    assert not cache.enabled
    assert pages.calls == {"a": 2}
    assert not outcomes
    assert len(cache) == 0


@pytest.mark.parametrize(("ttl_s", "max_bytes"), [(-1.0, 8), (1.0, 0)])
def test_a_negative_ttl_or_no_room_is_refused(ttl_s: float, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        PageCache(ttl_s=ttl_s, max_bytes=max_bytes)


async def test_until_armed_every_request_computes_its_page_and_counts_nothing() -> None:
    clock, pages = Clock(), Pages()
    cache, outcomes = _cache(clock, armed=False)

    await _get(cache, pages, "a")
    await _get(cache, pages, "a")
    cache.arm()
    await _get(cache, pages, "a")
    await _get(cache, pages, "a")

    assert pages.calls == {"a": 3}
    assert outcomes == {MISS: 1, HIT: 1}


async def test_a_change_drops_every_page() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock)

    await _get(cache, pages, "a")
    await _get(cache, pages, "b")
    cache.invalidate()
    after = [await _get(cache, pages, k) for k in ("a", "b", "a")]

    assert after == [b"a@2", b"b@2", b"a@2"]
    assert cache.size_bytes == 6


@pytest.mark.parametrize("event", ["invalidate", "disarm"])
async def test_a_page_read_across_a_change_answers_its_requesters_and_is_not_kept(
    event: str,
) -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock)
    release = asyncio.Event()

    reading = asyncio.create_task(cache.get("a", _held(release, b"old")))
    await asyncio.sleep(0)
    getattr(cache, event)()
    after = asyncio.create_task(_get(cache, pages, "a"))  # joins no flight from before
    await asyncio.sleep(0)
    release.set()

    assert await reading == b"old"
    assert await after == b"a@1"
    if event == "disarm":
        cache.arm()
    assert await _get(cache, pages, "a") == (b"a@1" if event == "invalidate" else b"a@2")
    assert len(cache) == 1


async def test_disarmed_the_cache_drops_its_pages_and_keeps_none() -> None:
    clock, pages = Clock(), Pages()
    cache, outcomes = _cache(clock)

    await _get(cache, pages, "a")
    cache.disarm()
    await _get(cache, pages, "a")
    await _get(cache, pages, "a")

    assert not cache.enabled
    assert cache.configured
    assert len(cache) == 0
    assert pages.calls == {"a": 3}
    assert outcomes == {MISS: 1}


async def test_a_page_is_kept_no_longer_than_it_says_it_stays_true() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, ttl_s=60)

    await cache.get("a", pages.render("a", keep_s=2.0))
    clock.now += 1.999
    kept = await _get(cache, pages, "a")
    clock.now += 0.001
    renewed = await _get(cache, pages, "a")

    assert (kept, renewed) == (b"a@1", b"a@2")


async def test_with_a_max_lag_a_change_keeps_a_page_until_the_lag_after_its_query() -> None:
    clock, pages = Clock(), Pages()
    cache, outcomes = _cache(clock, ttl_s=60, max_lag_s=5)

    await _get(cache, pages, "a")  # its query starts at 1000
    clock.now += 3
    cache.invalidate()
    within = await _get(cache, pages, "a")
    clock.now += 1.999
    still = await _get(cache, pages, "a")
    clock.now += 0.001
    after = await _get(cache, pages, "a")
    cache.invalidate()  # the new page's query started at 1005: kept until 1010
    clock.now += 4.999
    again = await _get(cache, pages, "a")

    assert (within, still, after, again) == (b"a@1", b"a@1", b"a@2", b"a@2")
    assert outcomes == {MISS: 2, HIT: 3}


async def test_with_a_max_lag_an_unchanged_page_lives_its_ttl() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, ttl_s=60, max_lag_s=5)

    await _get(cache, pages, "a")
    clock.now += 59.999
    kept = await _get(cache, pages, "a")
    clock.now += 0.001

    assert (kept, await _get(cache, pages, "a")) == (b"a@1", b"a@2")


async def test_with_a_max_lag_a_page_read_across_a_change_is_kept_the_lag_after_its_start() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, ttl_s=60, max_lag_s=5)
    release = asyncio.Event()

    reading = asyncio.create_task(cache.get("a", _held(release, b"old")))
    await asyncio.sleep(0)
    cache.invalidate()
    clock.now += 1
    release.set()
    assert await reading == b"old"
    clock.now += 3.999
    kept = await _get(cache, pages, "a")
    clock.now += 0.001

    assert (kept, await _get(cache, pages, "a")) == (b"old", b"a@1")


async def test_a_slower_older_query_does_not_replace_a_later_page() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, ttl_s=60, max_lag_s=5)
    release = asyncio.Event()

    older = asyncio.create_task(cache.get("a", _held(release, b"older")))
    await asyncio.sleep(0)
    cache.invalidate()  # the next request cannot join the older query: it runs its own
    clock.now += 1
    newer = await _get(cache, pages, "a")
    release.set()
    await older

    assert newer == b"a@1"
    assert await _get(cache, pages, "a") == b"a@1"


async def test_with_a_max_lag_disarming_still_drops_every_page() -> None:
    clock, pages = Clock(), Pages()
    cache, _ = _cache(clock, ttl_s=60, max_lag_s=5)

    await _get(cache, pages, "a")
    cache.disarm()
    cache.arm()

    assert await _get(cache, pages, "a") == b"a@2"


def test_a_negative_max_lag_is_refused() -> None:
    with pytest.raises(ValueError, match="max_lag_s"):
        PageCache(ttl_s=1, max_bytes=1, max_lag_s=-1)
