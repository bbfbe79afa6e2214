import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.db.repository import Position
from stream_health.domain.stream import UNKNOWN, Cause, Rules, StateChange
from stream_health_worker import runtime as runtime_module
from stream_health_worker.apply import Work
from stream_health_worker.gate import CommitGate
from stream_health_worker.ingest import BatchResult, WorkerContext
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
        gate=CommitGate(),
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
        sessions: Any, *, ctx: WorkerContext, now_ms: int, lock: asyncio.Lock, partitions: Any
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


async def test_a_list_flush_writes_two_lanes_at_once_one_partition_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics = TopicNames()
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    owner.owned = {0, 1, 2, 3, 4}
    owner.stored({p: {f"s{p}"} for p in owner.owned})
    flushed: list[list[int]] = []
    active: list[int] = []
    most_at_once = 0

    async def flush_listing(
        sessions: Any, *, ctx: WorkerContext, now_ms: int, lock: asyncio.Lock, partitions: Any
    ) -> int:
        nonlocal most_at_once
        active.append(1)
        most_at_once = max(most_at_once, len(active))
        await asyncio.sleep(0.01)  # the other lane runs meanwhile
        flushed.append(sorted(partitions))
        active.pop()
        return len(ctx.owner.take(partitions, found={}).uids)

    monkeypatch.setattr(runtime_module, "flush_listing", flush_listing)
    runtime = _runtime(_Clock(100.0), owner, topics)

    await runtime.flush_list()

    # Lanes [0, 2, 4] and [1, 3], side by side: each transaction holds one partition's rows.
    assert flushed == [[0], [1], [2], [3], [4]]
    assert most_at_once == 2
    assert not owner.list_pending


@dataclass
class _Recorded:
    """A runtime over one owned partition whose list flushes only record when they ran."""

    runtime: Runtime
    owner: WindowOwner
    clock: _Clock
    flushes: list[float]


def _recording(monkeypatch: pytest.MonkeyPatch) -> _Recorded:
    topics = TopicNames()
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    owner.owned = {0}
    clock = _Clock(100.0)
    flushes: list[float] = []

    async def flush_listing(
        sessions: Any, *, ctx: WorkerContext, now_ms: int, lock: asyncio.Lock, partitions: Any
    ) -> int:
        flushes.append(clock.now)
        return len(ctx.owner.take({0}, found={}).uids)

    monkeypatch.setattr(runtime_module, "flush_listing", flush_listing)
    return _Recorded(_runtime(clock, owner, topics), owner, clock, flushes)


async def test_while_batches_come_back_full_the_list_waits_the_backlog_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = _recording(monkeypatch)  # backlog interval: the default 30 s
    runtime = recorded.runtime

    async def tick_at(now: float, *, full: bool) -> None:
        recorded.clock.now = now
        recorded.owner.stored({0: {"a"}})
        runtime._last_batch = now  # a batch committed just before this tick
        runtime._behind = full
        await runtime.list_tick()

    await tick_at(101.0, full=True)  # behind: not an interval after start, but 30 s
    await tick_at(129.9, full=True)
    await tick_at(130.0, full=True)  # 30 s after start: flushes
    await tick_at(131.5, full=True)  # the load rule alone would flush now
    await tick_at(159.9, full=True)
    await tick_at(160.0, full=False)  # a batch that was not full: the load rule again
    await tick_at(160.5, full=False)  # (an interval after the last flush)
    await tick_at(161.0, full=False)

    assert recorded.flushes == [130.0, 160.0, 161.0]


async def test_a_long_batch_in_flight_is_not_taken_for_caught_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = _recording(monkeypatch)
    runtime, clock = recorded.runtime, recorded.clock
    recorded.owner.stored({0: {"a"}})
    runtime._last_batch, runtime._behind = 100.0, True  # a full batch ended at 100 s

    runtime._applying = True  # the next one has been applied for 5 s
    clock.now = 105.0
    await runtime.list_tick()
    runtime._applying = False  # it ended, and no batch came for an interval
    clock.now = 106.5
    runtime._last_batch = 105.4
    await runtime.list_tick()

    assert recorded.flushes == [106.5]


@dataclass(frozen=True)
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None


class _Consumer:
    """What the runtime asks of aiokafka's consumer; seeks are recorded."""

    def __init__(self) -> None:
        self.seeks: list[tuple[str, int, int]] = []

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp.topic, tp.partition, offset))

    def assignment(self) -> set[Any]:
        return set()

    async def commit(self, offsets: Any) -> None:
        return None


class _Pipeline:
    """prepare_batch and commit_batch stand-ins: each commit waits for its release."""

    def __init__(self, fail: set[int] | None = None) -> None:
        self.log: list[str] = []
        self.release: dict[int, asyncio.Event] = {}
        self.fail = fail or set()

    async def prepare(self, sessions: Any, *, ctx: Any, records: Any, now_ms: int) -> Any:
        first = records[0].offset
        self.log.append(f"prepare {first}")
        # As prepare_batch does: the owner now has a position for the batch's partitions.
        owned = ctx.topics.owned_by_stream
        ctx.owner.advanced(
            {(t, r.partition): Position(r.offset + 1, 0) for r in records for t in owned}
        )
        self.release[first] = asyncio.Event()
        return first

    async def commit(self, sessions: Any, *, ctx: Any, prepared: Any) -> Any:
        self.log.append(f"commit {prepared} started")
        await self.release[prepared].wait()
        if prepared in self.fail:
            raise RuntimeError(f"batch {prepared} failed")
        self.log.append(f"commit {prepared} ended")
        return BatchResult()


def _message(*records: _Rec) -> Any:
    message: Any = type("Message", (), {})()
    message.raw_message = records
    return message


def _pipelined(monkeypatch: pytest.MonkeyPatch, pipeline: _Pipeline) -> tuple[Runtime, _Consumer]:
    monkeypatch.setattr(runtime_module, "prepare_batch", pipeline.prepare)
    monkeypatch.setattr(runtime_module, "commit_batch", pipeline.commit)
    monkeypatch.setattr(runtime_module, "RETRY_BACKOFF_S", 0.0)
    topics = TopicNames()
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    runtime = _runtime(_Clock(100.0), owner, topics)
    consumer = _Consumer()
    runtime.subscriber = type("Subscriber", (), {"consumer": consumer})()
    return runtime, consumer


async def test_a_batch_is_prepared_while_the_one_before_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = _Pipeline()
    runtime, consumer = _pipelined(monkeypatch, pipeline)
    media = runtime.ctx.topics.media_events

    await runtime.consume(_message(_Rec(media, 0, 0), _Rec(media, 0, 1)))
    second = asyncio.create_task(runtime.consume(_message(_Rec(media, 0, 2))))
    await asyncio.sleep(0.01)
    # The second batch is ready, waiting for the first one's transaction before its own.
    assert pipeline.log == ["prepare 0", "commit 0 started", "prepare 2"]
    pipeline.release[0].set()
    await second
    pipeline.release[2].set()
    await runtime.settle()

    assert pipeline.log == [
        "prepare 0",
        "commit 0 started",
        "prepare 2",
        "commit 0 ended",
        "commit 2 started",
        "commit 2 ended",
    ]
    assert consumer.seeks == []


async def test_when_a_transaction_fails_the_batch_prepared_on_it_is_dropped_and_both_reread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = _Pipeline(fail={10})
    runtime, consumer = _pipelined(monkeypatch, pipeline)
    media, signals = runtime.ctx.topics.media_events, runtime.ctx.topics.signals
    owner = runtime.ctx.owner
    forgotten: list[int] = []
    monkeypatch.setattr(owner, "forget", forgotten.append)

    await runtime.consume(_message(_Rec(media, 0, 10), _Rec(media, 0, 11), _Rec(media, 1, 4)))
    second = asyncio.create_task(
        runtime.consume(_message(_Rec(media, 0, 12), _Rec(signals, 1, 7), _Rec(media, 1, 5)))
    )
    await asyncio.sleep(0.01)
    pipeline.release[10].set()
    await second

    # The second batch never starts its transaction: its windows were prepared on the first's.
    assert pipeline.log == ["prepare 10", "commit 10 started", "prepare 12"]
    assert not runtime.gate.in_flight
    assert sorted(set(forgotten)) == [0, 1]
    # Each partition is re-read from the earliest record either batch held.
    assert sorted(set(consumer.seeks)) == [(media, 0, 10), (media, 1, 4), (signals, 1, 7)]
    assert runtime.metrics.batch_failures._value.get() == 1

    consumer.seeks.clear()
    await runtime.consume(_message(_Rec(media, 0, 10)))  # the re-read: applied as usual
    pipeline.release[10].clear()
    pipeline.fail.clear()
    pipeline.release[10].set()
    await runtime.settle()
    assert pipeline.log[-2:] == ["commit 10 started", "commit 10 ended"]
    assert consumer.seeks == []


async def test_a_failure_found_by_a_drain_makes_the_next_batch_reread_from_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The consumer may hand over the next batch before the seek: it starts past the failed
    # records, and must not be applied over the gap.
    pipeline = _Pipeline(fail={0})
    runtime, consumer = _pipelined(monkeypatch, pipeline)
    media = runtime.ctx.topics.media_events

    await runtime.consume(_message(_Rec(media, 0, 0), _Rec(media, 0, 1)))
    pipeline.release[0].set()
    await runtime.settle()  # as a drain tick would: it finds the failure
    assert consumer.seeks == [(media, 0, 0)]

    await runtime.consume(_message(_Rec(media, 0, 2)))  # fetched before the seek took effect

    assert pipeline.log == ["prepare 0", "commit 0 started"]  # not prepared: dropped
    assert consumer.seeks == [(media, 0, 0), (media, 0, 0)]
    assert not runtime.gate.in_flight


async def test_a_committed_batch_is_not_reread_when_only_its_lag_cannot_be_observed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = _Pipeline()
    runtime, consumer = _pipelined(monkeypatch, pipeline)
    media = runtime.ctx.topics.media_events

    def stopping() -> set[Any]:
        raise RuntimeError("consumer is stopping")

    monkeypatch.setattr(consumer, "assignment", stopping)
    monkeypatch.setattr(
        runtime_module, "commit_batch", _committing({(media, 0): 1}, pipeline.commit)
    )
    await runtime.consume(_message(_Rec(media, 0, 0)))
    pipeline.release[0].set()
    await runtime.settle()

    assert pipeline.log[-1] == "commit 0 ended"
    assert consumer.seeks == []
    assert runtime.metrics.batch_failures._value.get() == 0


def _committing(next_offsets: dict[tuple[str, int], int], commit: Any) -> Any:
    """`commit`, returning a result that advanced `next_offsets` (so lag is observed)."""

    async def committed(sessions: Any, *, ctx: Any, prepared: Any) -> BatchResult:
        result: BatchResult = await commit(sessions, ctx=ctx, prepared=prepared)
        result.next_offsets.update(next_offsets)
        return result

    return committed


async def test_a_partition_without_a_position_waits_for_the_transaction_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Preparing it reads stored offsets and windows, which that transaction may be writing.
    pipeline = _Pipeline()
    runtime, _ = _pipelined(monkeypatch, pipeline)
    media = runtime.ctx.topics.media_events

    await runtime.consume(_message(_Rec(media, 0, 0)))
    other = asyncio.create_task(runtime.consume(_message(_Rec(media, 1, 50))))
    await asyncio.sleep(0.01)
    assert pipeline.log == ["prepare 0", "commit 0 started"]  # partition 1: not prepared yet
    pipeline.release[0].set()
    await other
    pipeline.release[50].set()
    await runtime.settle()

    assert pipeline.log == [
        "prepare 0",
        "commit 0 started",
        "commit 0 ended",
        "prepare 50",
        "commit 50 started",
        "commit 50 ended",
    ]


def test_a_batchs_transitions_are_counted_per_condition_direction_and_cause() -> None:
    topics = TopicNames()
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    work = Work(owner, topics=topics, now_ms=0)

    def change(entered: tuple[str, ...], left: tuple[str, ...], cause: Cause) -> StateChange:
        return StateChange("u", 1, entered, entered, left, {}, cause, 0, UNKNOWN)

    work.changes = [
        change(("incorrect", "problematic"), (), Cause.RECONNECT),
        change(("incorrect",), (), Cause.RECONNECT),
        change((), ("incorrect",), Cause.WINDOW_DRAINED),
        change(("disabled",), ("problematic",), Cause.STREAM_STATE),
    ]
    metrics = WorkerMetrics()

    runtime_module._observe_work(metrics, work)
    runtime_module._observe_work(metrics, work)  # a second batch adds to the first

    def count(condition: str, direction: str, cause: Cause) -> float | None:
        labels = {"condition": condition, "direction": direction, "cause": cause.value}
        return metrics.registry.get_sample_value("stream_health_transitions_total", labels)

    assert count("incorrect", "entered", Cause.RECONNECT) == 4
    assert count("problematic", "entered", Cause.RECONNECT) == 2
    assert count("incorrect", "left", Cause.WINDOW_DRAINED) == 2
    assert count("disabled", "entered", Cause.STREAM_STATE) == 2
    assert count("problematic", "left", Cause.STREAM_STATE) == 2
    assert count("incorrect", "left", Cause.RECONNECT) is None  # no such transition
