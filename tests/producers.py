"""Stand-ins for the relay's producer: the batch API it uses, with what was sent recorded."""

from __future__ import annotations

import asyncio
from typing import Any


class FakeBatch:
    """A record batch that holds `capacity` records (the first one always fits)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, *, timestamp: float | None, key: bytes | None, value: bytes) -> Any:
        if self.records and len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()


class FakeClient:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class FakeSender:
    """aiokafka's sender as far as the relay reaches it: the task that retries batches."""

    def __init__(self) -> None:
        self.sender_task: asyncio.Task[None] | None = None


class FakeProducer:
    """Acknowledges every batch at once, or, `failing` with it, fails them all; `silent`:
    never answers (a broker that took the batches and died); `stuck`: `stop` never returns
    (a flush of batches that never go out); `blind`: never learns the topics' partitions (no
    broker to ask)."""

    def __init__(
        self,
        capacity: int = 100,
        partitions: int = 3,
        *,
        failing: BaseException | None = None,
        silent: bool = False,
        stuck: bool = False,
        blind: bool = False,
    ) -> None:
        self.capacity = capacity
        self.partitions = set(range(partitions))
        self.failing = failing
        self.silent = silent
        self.stuck = stuck
        self.blind = blind
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []
        self.started = self.stopped = False
        self._sender = FakeSender()
        self.client = FakeClient()

    async def start(self) -> None:
        self.started = True
        self._sender.sender_task = asyncio.create_task(asyncio.sleep(3600))

    async def stop(self) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.stopped = True
        if self._sender.sender_task is not None:
            self._sender.sender_task.cancel()

    @property
    def sender_task(self) -> asyncio.Task[None] | None:
        """Its sender's retrying task (None before `start`)."""
        return self._sender.sender_task

    async def partitions_for(self, topic: str) -> set[int]:
        if self.blind:
            await asyncio.Event().wait()
        return self.partitions

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.capacity)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failing is not None:
            future.set_exception(self.failing)
        elif not self.silent:
            self.sent.append((topic, partition, batch.records))
            future.set_result(None)
        return future
