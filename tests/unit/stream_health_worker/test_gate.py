"""The gate: the owner lock, with at most one batch transaction running on after it."""

import asyncio

import pytest

from stream_health_worker.gate import CommitGate, Starts

STARTS = {("mediaserver.events", 3): 120, ("stream-health.signals", 3): 7}


class _Failures:
    def __init__(self) -> None:
        self.seen: list[tuple[Starts, BaseException]] = []

    def __call__(self, starts: Starts, exc: BaseException) -> None:
        self.seen.append((starts, exc))


def _gate() -> tuple[CommitGate, _Failures]:
    failures = _Failures()
    gate = CommitGate()
    gate.bind(failures)
    return gate, failures


async def _wait_on(event: asyncio.Event, log: list[str], fail: bool = False) -> None:
    log.append("commit started")
    await event.wait()
    log.append("commit ended")
    if fail:
        raise RuntimeError("the transaction failed")


async def test_entering_the_gate_waits_for_the_transaction_in_flight() -> None:
    gate, failures = _gate()
    release, log = asyncio.Event(), list[str]()
    async with gate.overlapping():
        gate.start(STARTS, _wait_on(release, log))

    async def drain() -> None:
        async with gate:
            log.append("drain")

    entering = asyncio.create_task(drain())
    await asyncio.sleep(0.01)
    assert log == ["commit started"]  # the drain waits: the windows are ahead of PostgreSQL
    release.set()
    await entering

    assert log == ["commit started", "commit ended", "drain"]
    assert failures.seen == []
    assert not gate.in_flight


async def test_the_lock_can_be_held_while_the_transaction_goes_on() -> None:
    gate, _ = _gate()
    release, log = asyncio.Event(), list[str]()
    async with gate.overlapping():
        gate.start(STARTS, _wait_on(release, log))
    async with gate.overlapping():  # the next batch is prepared meanwhile
        await asyncio.sleep(0)
        log.append("prepared")
        assert gate.in_flight
        release.set()
        assert await gate.settle()

    assert log == ["commit started", "prepared", "commit ended"]


async def test_a_failed_transaction_is_handed_once_to_whoever_settles_it() -> None:
    gate, failures = _gate()
    release = asyncio.Event()
    release.set()
    async with gate.overlapping():
        gate.start(STARTS, _wait_on(release, [], fail=True))

    async with gate.overlapping():
        assert await gate.settle() is False
        assert await gate.settle() is True  # nothing in flight any more

    [(starts, exc)] = failures.seen
    assert starts == STARTS
    assert str(exc) == "the transaction failed"


async def test_a_cancelled_waiter_leaves_the_transaction_running_and_in_flight() -> None:
    gate, failures = _gate()
    release, log = asyncio.Event(), list[str]()
    async with gate.overlapping():
        gate.start(STARTS, _wait_on(release, log))

    async def enter() -> None:
        async with gate:
            log.append("entered")

    waiter = asyncio.create_task(enter())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert gate.in_flight
    async with asyncio.timeout(1), gate.overlapping():  # the cancelled waiter let the lock go
        pass
    release.set()
    async with gate:
        log.append("entered")
    assert log == ["commit started", "commit ended", "entered"]
    assert failures.seen == []


async def test_a_transaction_starts_only_bound_under_the_lock_and_alone() -> None:
    gate, _ = _gate()
    release = asyncio.Event()
    with pytest.raises(RuntimeError, match="holding the gate"):
        gate.start(STARTS, _wait_on(release, []))  # not holding the lock
    async with gate.overlapping():
        gate.start(STARTS, _wait_on(release, []))
        with pytest.raises(RuntimeError, match="none in flight"):
            gate.start(STARTS, _wait_on(release, []))
        release.set()
        await gate.settle()
    unbound = CommitGate()
    async with unbound.overlapping():
        with pytest.raises(RuntimeError, match="bound"):
            unbound.start(STARTS, _wait_on(release, []))
