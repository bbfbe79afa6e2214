"""The outbox relay: publish committed outbox rows to Kafka in id order, then delete them.

One relay runs at a time across all workers (a transaction-scoped advisory lock), so rows
are published in the order they were written; per stream that is the order of its changes.
A crash between publishing and deleting publishes rows again: at least once, same ids.

A send that fails or outlasts SEND_TIMEOUT_S retires the producer: the next pump publishes
the same rows with a new one. aiokafka's idempotent producer retries a batch forever, and
after a fatal error (an out-of-order sequence once a killed broker is back) it fails every
later send, so keeping it would leave the outbox stuck until the worker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.db.engine import driver_connection
from stream_health.db.outbox import Pending, remove, take
from stream_health.kafka.partitioning import partition_for

log = logging.getLogger(__name__)

RELAY_LOCK = 0x5354_4845_414C_5448  # "STHEALTH": any constant both workers agree on
BATCH_ROWS = 5_000
IDLE_S = 0.2
RETRY_S = 1.0
SEND_TIMEOUT_S = 30.0  # queueing one pump's rows and their acks; longer: a new producer
STOP_TIMEOUT_S = 5.0  # a retired producer's flush of what it still holds


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    """An idempotent producer: retries never duplicate or reorder within a partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="stream-health-relay",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
    )


class Relay:
    """Moves the outbox to Kafka whenever woken, or every IDLE_S."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        bootstrap: str,
        discard: Collection[str] = (),
        producers: Callable[[str], AIOKafkaProducer] = make_producer,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        """`discard`: topics whose rows are deleted unpublished (a rebuild's state changes).
        `producers` makes a producer for the bootstrap servers (the first one, and each one
        after a failed send)."""
        self._sessions = sessions
        self._bootstrap = bootstrap
        self._discard = frozenset(discard)
        self._producers = producers
        self._send_timeout_s = send_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._retired = 0  # producers retired after a failed send
        self.wake = asyncio.Event()
        self._closing = False
        self._published = 0
        self.discarded = 0

    async def start(self) -> None:
        """Connect the producer (it must be made inside the event loop)."""
        self._started = True
        await self._connect()

    async def stop(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            await self._producer.stop()

    async def _connect(self) -> AIOKafkaProducer:
        producer = self._producers(self._bootstrap)
        try:
            await producer.start()
        except BaseException:
            await _retire(producer)
            raise
        self._producer = producer
        return producer

    async def pump(self) -> int:
        """Publish one slice of the outbox; how many rows went out (0: none, or not our turn)."""
        async with self._sessions() as session, session.begin():
            conn = await driver_connection(session)
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
                return 0
            rows = await take(conn, limit=BATCH_ROWS)
            if not rows:
                return 0
            if not self._started:
                raise RuntimeError("relay not started")
            producer = self._producer or await self._connect()
            kept = [r for r in rows if r.topic not in self._discard]
            try:  # queueing too: a producer without metadata waits for it
                await asyncio.wait_for(_deliver(producer, kept), self._send_timeout_s)
            except Exception:
                self._producer = None
                self._retired += 1
                await _retire(producer)
                raise
            await remove(conn, ids=[r.id for r in rows])
        self._published += len(kept)
        self.discarded += len(rows) - len(kept)
        log.debug("relay.published", extra={"rows": len(kept), "discarded": len(rows) - len(kept)})
        return len(rows)

    def take_retired(self) -> int:
        """Producers retired since the last call (for a counter)."""
        retired, self._retired = self._retired, 0
        return retired

    def take_published(self) -> int:
        """Rows published since the last call (for a counter)."""
        published, self._published = self._published, 0
        return published

    def close(self) -> None:
        """Ask `run` to return once the outbox is empty (or its pump fails)."""
        self._closing = True
        self.wake.set()

    async def run(self) -> None:
        """Relay until closed or cancelled; errors are logged and retried (nothing is lost).

        Closed, it returns between pumps, never inside one: a pump cut off after Kafka
        acknowledged its rows but before their deletion committed would publish them again.
        """
        while True:
            try:
                moved = await self.pump()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay.failed")
                if self._closing:
                    return
                await asyncio.sleep(RETRY_S)
                continue
            if self._closing and moved == 0:
                return
            if moved < BATCH_ROWS and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=IDLE_S)
                self.wake.clear()


async def _deliver(producer: AIOKafkaProducer, rows: list[Pending]) -> None:
    """Queue `rows` and wait until Kafka has acknowledged every one."""
    await asyncio.gather(*await _send(producer, rows))


async def _retire(producer: AIOKafkaProducer) -> None:
    """Close a producer that failed; cut it off if it has not closed after STOP_TIMEOUT_S
    (what it still holds is still in the outbox)."""
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
    except Exception:
        log.warning("relay.producer_cut_off", exc_info=True)
        await _cut_off(producer)


async def _cut_off(producer: AIOKafkaProducer) -> None:
    """Stop a producer that would not close: cancel its sender and close its connections.

    Left running, it would go on retrying the batches it holds, and could deliver them once
    the broker is back, after rows a newer producer published: a stream's older change
    behind a newer one. aiokafka has no public way to abort a producer; `stop` cut short
    leaves the sender running, so its task is reached here directly.
    """
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None and not task.done():
        task.cancel()
    # Without its sender, `stop` returns at once (a no-op if a stop cut short marked it closed).
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
    client = getattr(producer, "client", None)
    if client is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), STOP_TIMEOUT_S)


async def _send(producer: AIOKafkaProducer, rows: list[Pending]) -> list[asyncio.Future[Any]]:
    """Queue `rows` as record batches: per partition, in row order.

    A keyed row goes to the partition the default partitioner picks, computed here (aiokafka's
    own murmur2 is pure Python and runs per record); rows without a key are spread over the
    partitions in turn. Building the batches here spares the producer's per-record path (a
    future and an accumulator lookup per record): what remains per record is one append.
    """
    listed: dict[str, list[int]] = {}
    routed: dict[tuple[str, int], list[Pending]] = {}
    turn = 0
    for row in rows:
        partitions = listed.get(row.topic)
        if partitions is None:
            partitions = listed[row.topic] = list(await producer.partitions_for(row.topic))
        if row.key is not None:
            partition = partition_for(row.key, partitions)
        else:
            partition, turn = partitions[turn % len(partitions)], turn + 1
        queued = routed.get((row.topic, partition))
        if queued is None:
            queued = routed[(row.topic, partition)] = []
        queued.append(row)
    sent = []
    for (topic, partition), queued in routed.items():
        batch = producer.create_batch()
        for row in queued:
            if batch.append(timestamp=None, key=row.key, value=row.value) is None:  # full
                sent.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(timestamp=None, key=row.key, value=row.value)  # a first one fits
        sent.append(await producer.send_batch(batch, topic, partition=partition))
    return sent
