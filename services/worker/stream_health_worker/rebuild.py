"""Rebuild the views in another database by replaying the input topics through the worker.

Not a second code path: the worker itself (`build_app`) runs against the target database,
under a consumer group of its own, from the start of every input topic, until each
partition has been applied up to the end offset it had when the rebuild began; then it stops.

- Signals (inventory re-checks, analytics DOWN reconnections re-keyed by stream) are part of
  applying the inputs: the rebuild publishes them to a signals topic of its own (the live
  worker must not see them) and consumes it like the live one, co-partitioned with media
  events. It stops only once every signal that the replayed inputs produced is applied.
- State changes and dead letters are not published: the live topics have them already, and
  subscribers would see duplicates (or, with a fresh `seq`, new event ids for old changes).
  The relay deletes those outbox rows unpublished, so the rebuilt database's outbox is
  empty and cannot flood the live topic later. `changes_topic` / `dlq_topic` publish them to
  a topic of the operator's choosing instead.
- Exactly once, as the worker: an interrupted rebuild, run again on the same database,
  resumes under the same consumer group from the offsets it stored.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from stream_health.config.settings import Settings, TopicNames
from stream_health.db import repository
from stream_health.db.databases import same_database, shown
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.db.migrate import upgrade_async
from stream_health.db.outbox import newest_id, waiting
from stream_health.kafka.topics import TopicSpec, ensure_topics
from stream_health.kafka.watermarks import Partition, partitions, watermarks
from stream_health_worker.app import build_app
from stream_health_worker.relay import Relay

POLL_S = 0.5
# A partition whose last records before the captured end are gone (a compacted tombstone,
# transaction markers) never stores that end: it is done once the worker's consumer has
# read past the end and stored nothing new for this long.
STALL_S = 15.0
_REBUILD_GROUP = re.compile(r"\.rebuild-([0-9a-f]{8})$")


class RebuildError(RuntimeError):
    """The rebuild cannot go ahead; the message says why."""


@dataclass(frozen=True)
class Plan:
    """What a rebuild replays, into where, and what its relay drops."""

    settings: Settings  # the worker's settings for the replay
    discard: frozenset[str]
    bounds: dict[Partition, tuple[int, int]]  # input partition -> (first, end) at the start
    resumed: bool

    @property
    def inputs(self) -> tuple[str, ...]:
        """The replayed topics (the live inputs; not the signals topic)."""
        return tuple(t for t in self.settings.topics.inputs if t != self.settings.topics.signals)

    def totals(self) -> dict[str, int]:
        """Records to replay per topic (offsets: compaction may leave fewer)."""
        totals: Counter[str] = Counter(dict.fromkeys(self.inputs, 0))
        for (topic, _), (first, end) in self.bounds.items():
            totals[topic] += end - first
        return dict(totals)


@dataclass
class Progress:
    """How far the replay is, per topic, in offsets."""

    done: dict[str, int]
    totals: dict[str, int]
    inputs_reached: bool = False
    complete: bool = False


@dataclass
class _Watch:
    """Per lagging partition: the offset last stored and when it moved; the settled ones."""

    seen: dict[Partition, tuple[int, float]] = field(default_factory=dict)
    settled: set[Partition] = field(default_factory=set)


async def plan_rebuild(
    live: Settings,
    target_url: str,
    *,
    changes_topic: str | None = None,
    dlq_topic: str | None = None,
) -> Plan:
    """Migrate the target, choose (or resume) the rebuild's group, capture the end offsets."""
    if same_database(live.database_url, target_url):
        raise RebuildError(f"{shown(target_url)} is the live database: rebuild into another one")
    await upgrade_async(target_url)
    tag, resumed = await _tag(target_url)
    try:
        topics = TopicNames.model_validate(
            live.topics.model_dump()
            | {
                "signals": f"{live.topics.signals}.rebuild-{tag}",
                "changes": changes_topic or live.topics.changes,
                "dlq": dlq_topic or live.topics.dlq,
            }
        )
    except ValueError as exc:
        raise RebuildError(f"topics: {exc}") from None
    settings = live.model_copy(
        update={
            "database_url": target_url,
            "consumer_group": f"{live.consumer_group}.rebuild-{tag}",
            "topics": topics,
        }
    )
    discard = {topics.changes} if changes_topic is None else set()
    discard |= {topics.dlq} if dlq_topic is None else set()
    try:
        # Co-partitioned with media events, as the live signals topic is: one owner per stream.
        count = len(
            (await partitions(live.kafka_bootstrap, [topics.media_events]))[topics.media_events]
        )
        await ensure_topics(live.kafka_bootstrap, [TopicSpec(topics.signals, count)])
        inputs = [t for t in topics.inputs if t != topics.signals]
        bounds = await watermarks(live.kafka_bootstrap, inputs)
    except LookupError as exc:
        raise RebuildError(str(exc)) from None
    return Plan(settings=settings, discard=frozenset(discard), bounds=bounds, resumed=resumed)


async def _tag(target_url: str) -> tuple[str, bool]:
    """A new rebuild's tag, or the one of the rebuild this database holds (resumed)."""
    engine = make_engine(target_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            groups = await repository.consumer_groups(session)
    finally:
        await engine.dispose()
    if not groups:
        return uuid.uuid4().hex[:8], False
    tags = {m.group(1) for g in groups if (m := _REBUILD_GROUP.search(g))}
    if len(groups) == 1 and len(tags) == 1:
        return tags.pop(), True
    raise RebuildError(
        f"{shown(target_url)} holds the state of consumer group(s) {', '.join(sorted(groups))}:"
        " rebuild into an empty database (or the one an interrupted rebuild left)"
    )


async def run_rebuild(
    plan: Plan, on_progress: Callable[[Progress], None], *, poll_s: float = POLL_S
) -> Progress:
    """Run the worker on the target until the plan's end offsets and their signals are applied."""
    settings = plan.settings
    app = build_app(settings, discard=plan.discard)
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_sessions(engine)
    progress = Progress(done=dict.fromkeys(plan.inputs, 0), totals=plan.totals())
    try:
        async with app.router.lifespan_context(app):
            watch = _Watch()
            while not progress.inputs_reached:
                stored = await _stored(sessions, settings)
                _measure(plan, stored, progress)
                consumer = app.state.subscriber.consumer
                progress.inputs_reached = await _reached(plan, stored, watch, consumer)
                on_progress(progress)
                if not progress.inputs_reached:
                    await asyncio.sleep(poll_s)
            await _signals_applied(sessions, settings, poll_s)
            progress.complete = True
        await _flush(sessions, settings, plan.discard)
    finally:
        await engine.dispose()
    on_progress(progress)
    return progress


async def _stored(sessions: Any, settings: Settings) -> dict[Partition, int]:
    async with sessions() as session:
        return await repository.load_offsets(
            session, consumer_group=settings.consumer_group, topics=settings.topics.inputs
        )


def _measure(plan: Plan, stored: Mapping[Partition, int], progress: Progress) -> None:
    done: Counter[str] = Counter(dict.fromkeys(plan.inputs, 0))
    for (topic, partition), (first, end) in plan.bounds.items():
        offset = stored.get((topic, partition), first)
        done[topic] += min(max(offset - first, 0), end - first)
    progress.done = dict(done)


async def _reached(
    plan: Plan, stored: Mapping[Partition, int], watch: _Watch, consumer: Any
) -> bool:
    """Whether every input partition is applied up to its captured end."""
    now = asyncio.get_running_loop().time()
    lagging = {
        tp: end
        for tp, (first, end) in plan.bounds.items()
        if stored.get(tp, first) < end and tp not in watch.settled
    }
    for tp, end in lagging.items():
        offset = stored.get(tp, -1)
        last = watch.seen.get(tp)
        if last is None or last[0] != offset:
            watch.seen[tp] = (offset, now)
        elif now - last[1] >= STALL_S and await _read_past(consumer, tp, end):
            watch.settled.add(tp)  # nothing is left below the end
    return lagging.keys() <= watch.settled


async def _read_past(consumer: Any, tp: Partition, end: int) -> bool:
    if consumer is None:
        return False
    try:
        position = await asyncio.wait_for(consumer.position(TopicPartition(*tp)), timeout=1.0)
    except Exception:  # not assigned (yet): not past
        return False
    return int(position) >= end


async def _signals_applied(sessions: Any, settings: Settings, poll_s: float) -> None:
    """Wait until the signals written so far are published, then applied from their topic."""
    signals = settings.topics.signals
    async with sessions() as session:
        up_to = await newest_id(await driver_connection(session))
    while True:
        async with sessions() as session:
            if not await waiting(await driver_connection(session), up_to_id=up_to):
                break
        await asyncio.sleep(poll_s)
    ends = await watermarks(settings.kafka_bootstrap, [signals])
    while True:
        stored = await _stored(sessions, settings)
        if all(stored.get(tp, 0) >= end for tp, (_, end) in ends.items()):
            return
        await asyncio.sleep(poll_s)


async def _flush(sessions: Any, settings: Settings, discard: Collection[str]) -> None:
    """What the stopped worker left in the outbox: published where asked, else deleted."""
    relay = Relay(sessions, bootstrap=settings.kafka_bootstrap, discard=discard)
    await relay.start()
    try:
        while await relay.pump():
            pass
    finally:
        await relay.stop()
