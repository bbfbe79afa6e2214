"""The owner lock, and the one batch transaction that may still run after its holder let go.

Batches overlap: while batch N's transaction waits on PostgreSQL, batch N+1 is prepared in
memory on top of N's windows. Everything else that touches the windows (a drain, a list
flush, a reconfiguration, a rebalance) enters the gate, which also waits for that
transaction: inside it, the windows in memory are the windows PostgreSQL holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any

# Where a batch starts: (topic, partition) -> its first offset there. Its records need not be
# held while its transaction runs: this is what a failure needs to re-read them.
Starts = Mapping[tuple[str, int], int]
# What to do when a transaction in flight fails (forget its windows, re-read its records),
# run by whoever finds out, inside the gate: nothing is being prepared meanwhile.
OnFailure = Callable[[Starts, BaseException], None]


class CommitGate:
    """`async with gate:` holds the owner lock with no transaction in flight."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._on_failure: OnFailure | None = None
        self._inflight: tuple[Starts, asyncio.Task[Any]] | None = None

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            await self.settle()
        except BaseException:
            self._lock.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()

    def bind(self, on_failure: OnFailure) -> None:
        """Say what to do when a transaction in flight fails (before starting any)."""
        self._on_failure = on_failure

    @asynccontextmanager
    async def overlapping(self) -> AsyncIterator[None]:
        """Hold the owner lock while the transaction in flight (if any) goes on."""
        async with self._lock:
            yield

    @property
    def in_flight(self) -> bool:
        """Whether a transaction was started and not yet settled."""
        return self._inflight is not None

    def start(self, starts: Starts, commit: Coroutine[Any, Any, Any]) -> None:
        """Run a batch's transaction after the lock is let go (settle the previous first)."""
        if not self._lock.locked() or self._inflight is not None or self._on_failure is None:
            commit.close()
            raise RuntimeError("start a transaction bound, holding the gate, with none in flight")
        self._inflight = (starts, asyncio.create_task(commit, name="batch-commit"))

    async def settle(self) -> bool:
        """Wait for the transaction in flight; False if it failed (then `on_failure` ran).

        A waiter that is cancelled leaves the transaction running, and in flight.
        """
        if self._inflight is None:
            return True
        starts, task = self._inflight
        await asyncio.wait({task})  # unlike awaiting the task, cancelling us spares it
        self._inflight = None
        failure = asyncio.CancelledError() if task.cancelled() else task.exception()
        if failure is None:
            return True
        assert self._on_failure is not None  # checked by start
        self._on_failure(starts, failure)
        return False
