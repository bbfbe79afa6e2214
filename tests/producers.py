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


class FakeProducer:
    """Acknowledges every batch at once, or, `failing` with it, fails them all; `silent`:
    never answers (a broker that took the batches and died)."""

    def __init__(
        self,
        capacity: int = 100,
        partitions: int = 3,
        *,
        failing: BaseException | None = None,
        silent: bool = False,
    ) -> None:
        self.capacity = capacity
        self.partitions = set(range(partitions))
        self.failing = failing
        self.silent = silent
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, topic: str) -> set[int]:
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
