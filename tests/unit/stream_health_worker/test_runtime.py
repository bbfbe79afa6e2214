import asyncio
from typing import Any

import pytest

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.domain.stream import Rules
from stream_health_worker import runtime as runtime_module
from stream_health_worker.ingest import WorkerContext
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from stream_health_worker.relay import Relay
from stream_health_worker.runtime import Runtime


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _runtime(clock: _Clock, owner: WindowOwner, topics: TopicNames) -> Runtime:
    ctx = WorkerContext(consumer_group="g", topics=topics, roles=topic_roles(topics), owner=owner)
    sessions: Any = None
    return Runtime(
        sessions=sessions,
        ctx=ctx,
        metrics=WorkerMetrics(),
        lock=asyncio.Lock(),
        relay=Relay(sessions, bootstrap="127.0.0.1:1"),
        subscriber=None,
        list_interval_s=1.0,
        clock=clock,
    )


async def test_list_flushes_wait_the_interval_or_twice_the_last_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics = TopicNames()
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    owner.owned = {0}
    clock = _Clock(100.0)
    flushes: list[float] = []
    took = {"s": 0.2}

    async def flush_listing(
        sessions: Any, *, ctx: WorkerContext, now_ms: int, lock: asyncio.Lock
    ) -> int:
        flushes.append(clock.now)
        clock.now += took["s"]
        assert ctx.owner.take({0}, found={}).uids == ["a"]
        return 1

    monkeypatch.setattr(runtime_module, "flush_listing", flush_listing)
    runtime = _runtime(clock, owner, topics)

    async def tick_at(now: float, *, dirty: bool = True, batch: bool = True) -> None:
        clock.now = now
        if dirty:
            owner.stored({0: {"a"}})
        if batch:  # a batch committed just before this tick: consumption is busy
            runtime._last_batch = now
        await runtime.list_tick()

    await tick_at(100.9)  # the first flush waits an interval after start
    await tick_at(101.0)  # due: flushes, taking 0.2 s
    await tick_at(102.1)  # 0.9 s after it ended: not yet
    took["s"] = 3.0  # a slow flush (load): the next waits twice as long as it took
    await tick_at(102.2)  # an interval after the last one ended: flushes until 105.2
    await tick_at(111.1)  # 5.9 s after it ended: not yet
    await tick_at(111.2, dirty=False)  # due, but nothing to write
    await tick_at(111.2)

    await tick_at(115.3)  # busy, past the interval after the last one (ended 114.2): waits
    await tick_at(117.0)  # still busy: the backed-off time is 120.2
    await tick_at(117.0, batch=False)  # another tick, no batch for 0 s: still busy
    await tick_at(118.1, batch=False)  # no batch for 1.1 s: caught up, flushes at the interval

    assert flushes == [101.0, 102.2, 111.2, 118.1]
