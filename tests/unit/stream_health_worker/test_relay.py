import asyncio
from typing import Any

from stream_health_worker.relay import Relay


async def test_a_closed_relay_finishes_its_pump_and_empties_the_outbox_then_returns() -> None:
    sessions: Any = None
    relay = Relay(sessions, bootstrap="127.0.0.1:1")
    outbox = [3, 2]  # rows each pump finds: two more pumps' worth after the one under way
    in_pump = asyncio.Event()
    release = asyncio.Event()
    finished: list[int] = []

    async def pump() -> int:
        if not finished:  # the first pump waits (Kafka acknowledging) while close() comes
            in_pump.set()
            await release.wait()
        moved = outbox.pop(0) if outbox else 0
        finished.append(moved)
        return moved

    relay.pump = pump  # type: ignore[method-assign]
    outbox.insert(0, 5)
    running = asyncio.create_task(relay.run())
    await in_pump.wait()
    relay.close()
    release.set()
    await asyncio.wait_for(running, timeout=2)

    assert finished == [5, 3, 2, 0]  # the pump under way completed; the rest went out too
    assert running.done()
    assert not running.cancelled()
