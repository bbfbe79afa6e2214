"""The relay over a real outbox: a producer that failed is replaced, and nothing is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.db.engine import driver_connection
from stream_health.db.outbox import Outgoing, enqueue
from stream_health_worker import relay as relay_module
from stream_health_worker.relay import Relay, _cut_off, make_producer
from tests.conftest import base_settings, fresh_sessions
from tests.producers import FakeProducer
from tests.waiting import until

pytestmark = pytest.mark.integration

ROWS = [Outgoing("changes", b"stream-%d" % (i % 5), b"change-%d" % i) for i in range(12)]


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with fresh_sessions("relay") as made:
        yield made


async def _outbox(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        conn = await driver_connection(session)
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))


async def _relay_through(
    sessions: async_sessionmaker[AsyncSession], producers: list[FakeProducer]
) -> Relay:
    """Enqueue ROWS, then relay them with `producers` made in turn, until the outbox empties."""
    async with sessions() as session, session.begin():
        await enqueue(await driver_connection(session), records=ROWS)
    made = iter(producers)
    relay = Relay(sessions, bootstrap="unused", producers=lambda _: next(made), send_timeout_s=0.3)
    await relay.start()
    running = asyncio.create_task(relay.run())
    try:
        await until(_empty(sessions), 10.0, "the outbox emptied")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return relay


def _empty(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], Awaitable[bool]]:
    async def empty() -> bool:
        return await _outbox(sessions) == 0

    return empty


def _published(producer: FakeProducer) -> list[bytes]:
    return sorted(value for _, _, records in producer.sent for _, value in records)


@pytest.mark.parametrize(
    "dead",
    [
        FakeProducer(failing=OutOfOrderSequenceNumber()),  # fails every send from now on
        FakeProducer(silent=True),  # takes the batches and never answers
        FakeProducer(blind=True),  # never gets the topics' partitions
    ],
    ids=["fatal-error", "no-answer", "no-metadata"],
)
async def test_a_producer_that_failed_is_retired_and_a_new_one_publishes_every_row(
    sessions: async_sessionmaker[AsyncSession], dead: FakeProducer
) -> None:
    good = FakeProducer()

    relay = await _relay_through(sessions, [dead, good])

    assert dead.stopped
    assert relay.take_retired() == 1
    assert relay.take_retired() == 0  # taken
    assert _published(good) == sorted(row.value for row in ROWS)  # all of them, once


async def test_a_failed_producer_that_will_not_close_is_cut_off_and_retries_nothing_later(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "STOP_TIMEOUT_S", 0.2)
    dead = FakeProducer(silent=True, stuck=True)  # unanswered, and its flush never ends
    good = FakeProducer()

    await _relay_through(sessions, [dead, good])

    assert dead.sender_task is not None
    assert dead.sender_task.cancelled()  # it cannot deliver its batches after the new ones
    assert dead.client.closed
    assert _published(good) == sorted(row.value for row in ROWS)


@pytest.mark.kafka
async def test_a_real_producer_has_the_sender_task_the_cut_off_cancels() -> None:
    # `_cut_off` reaches into aiokafka (no public abort): this fails if a new aiokafka moves
    # what it reaches for, instead of the cut-off silently doing nothing.
    producer = make_producer(base_settings().kafka_bootstrap)
    await producer.start()
    task = producer._sender.sender_task
    assert task is not None
    assert not task.done()

    await _cut_off(producer)
    await asyncio.sleep(0)

    assert task.done()
