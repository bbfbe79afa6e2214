"""Seek to the offsets stored in PostgreSQL whenever partitions are assigned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.db import repository

log = logging.getLogger(__name__)


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """PostgreSQL, not Kafka, holds the committed position: start each partition there."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], consumer_group: str) -> None:
        self._sessions = sessions
        self._group = consumer_group
        self._consumer: Callable[[], Any] = lambda: None
        self.assigned: set[tuple[str, int]] = set()

    def bind(self, consumer: Callable[[], Any]) -> None:
        """Give the listener the way to reach the consumer once it exists."""
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.assigned -= {(tp.topic, tp.partition) for tp in revoked}

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in assigned}
        consumer = self._consumer()
        if consumer is None or not assigned:
            return
        # If this fails the batch transaction still skips what was applied: only slower.
        async with self._sessions() as session:
            stored = await repository.load_offsets(
                session, consumer_group=self._group, topics={tp.topic for tp in assigned}
            )
        for tp in assigned:
            if (offset := stored.get((tp.topic, tp.partition))) is not None:
                consumer.seek(tp, offset)
        log.info(
            "partitions_assigned",
            extra={"partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in assigned)},
        )
