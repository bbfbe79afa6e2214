"""The rebuild's bookkeeping: progress in offsets, when the inputs count as reached."""

import asyncio
from typing import Any

import pytest

from stream_health.config.settings import Settings
from stream_health_worker import rebuild
from stream_health_worker.rebuild import Plan, Progress, RebuildError, plan_rebuild

LIVE = "postgresql+asyncpg://sh:pw@db:5432/stream_health"


def _plan(bounds: dict[tuple[str, int], tuple[int, int]]) -> Plan:
    settings = Settings(database_url=LIVE.replace("/stream_health", "/rebuilt"))
    return Plan(settings=settings, discard=frozenset(), bounds=bounds, resumed=False)


class _Consumer:
    def __init__(self, positions: dict[tuple[str, int], int]) -> None:
        self.positions = positions

    async def position(self, tp: Any) -> int:
        return self.positions[(tp.topic, tp.partition)]


async def test_the_live_database_is_refused_before_anything_is_touched() -> None:
    with pytest.raises(RebuildError, match="is the live database"):
        await plan_rebuild(Settings(database_url=LIVE), LIVE.replace("+asyncpg", ""))


def test_progress_counts_offsets_between_the_first_and_the_captured_end() -> None:
    media, servers = Settings().topics.media_events, Settings().topics.inventory_servers
    plan = _plan({(media, 0): (0, 10), (media, 1): (5, 8), (servers, 0): (0, 0)})
    progress = Progress(done={}, totals=plan.totals())

    rebuild._measure(plan, {(media, 0): 4, (media, 1): 9}, progress)  # past the end: capped

    assert progress.totals[media] == 13
    assert progress.done[media] == 4 + 3
    assert progress.totals[servers] == progress.done[servers] == 0


async def test_inputs_are_reached_when_every_partition_stored_its_end() -> None:
    media = Settings().topics.media_events
    plan = _plan({(media, 0): (0, 10), (media, 1): (0, 0)})
    watch = rebuild._Watch()

    assert not await rebuild._reached(plan, {(media, 0): 9}, watch, None)
    assert await rebuild._reached(plan, {(media, 0): 10}, watch, None)


async def test_a_partition_whose_tail_is_gone_settles_once_read_past_and_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media = Settings().topics.media_events
    plan = _plan({(media, 0): (0, 10)})  # offset 9 was a tombstone compaction removed
    watch = rebuild._Watch()
    monkeypatch.setattr(rebuild, "STALL_S", 0.05)

    assert not await rebuild._reached(plan, {(media, 0): 9}, watch, _Consumer({(media, 0): 9}))
    await asyncio.sleep(0.06)
    assert not await rebuild._reached(plan, {(media, 0): 9}, watch, _Consumer({(media, 0): 9}))
    assert await rebuild._reached(plan, {(media, 0): 9}, watch, _Consumer({(media, 0): 10}))
