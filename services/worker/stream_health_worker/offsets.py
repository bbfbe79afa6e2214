"""On partition assignment: seek to the offsets stored in PostgreSQL and take windows over."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.db import repository
from stream_health.db.engine import driver_connection
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.owner import WindowOwner

log = logging.getLogger(__name__)


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """PostgreSQL, not Kafka, holds the committed position: start each partition there."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        consumer_group: str,
        owner: WindowOwner,
        owned_topics: Collection[str],
        lock: AbstractAsyncContextManager[Any],
        metrics: WorkerMetrics,
    ) -> None:
        self._sessions = sessions
        self._group = consumer_group
        self._owner = owner
        self._owned_topics = frozenset(owned_topics)
        self._lock = lock
        self._metrics = metrics
        self._consumer: Callable[[], Any] = lambda: None

    def bind(self, consumer: Callable[[], Any]) -> None:
        """Give the listener the way to reach the consumer once it exists."""
        self._consumer = consumer

    def _stream_partitions(self, tps: list[TopicPartition]) -> set[int]:
        return {tp.partition for tp in tps if tp.topic in self._owned_topics}

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            self._owner.revoked(self._stream_partitions(revoked))
        self._metrics.forget_partitions((tp.topic, tp.partition) for tp in revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # A batch applied while partitions were being revoked may have set their lag again.
        self._metrics.keep_partitions((tp.topic, tp.partition) for tp in assigned)
        consumer = self._consumer()
        if consumer is None or not assigned:
            return
        # If this fails the batch transaction still skips what was applied: only slower.
        async with self._lock, self._sessions() as session:
            stored = await repository.load_offsets(
                session, consumer_group=self._group, topics={tp.topic for tp in assigned}
            )
            await self._owner.assigned(
                await driver_connection(session), self._stream_partitions(assigned)
            )
        for tp in assigned:
            if (offset := stored.get((tp.topic, tp.partition))) is not None:
                consumer.seek(tp, offset)
        log.info(
            "worker.partitions_assigned",
            extra={"partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in assigned)},
        )
