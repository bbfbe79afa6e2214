import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from faststream.message.message import AckStatus

from stream_health.config.settings import Settings
from stream_health_worker import app as app_module


@pytest.fixture
def no_cycle_collection() -> Iterator[None]:
    """Only reference counting frees objects: what a cycle holds stays until the end."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.mark.usefixtures("no_cycle_collection")
@pytest.mark.parametrize("traced", [False, True])
async def test_a_consumed_batch_is_freed_as_soon_as_its_handler_returns(traced: bool) -> None:
    # With the worker's subscriber, a batch must not outlive its handling: a message that
    # references itself waits for a full collection, and the worker held ~16 batches that way.
    settings = Settings()
    broker = KafkaBroker()
    listener: Any = None  # TestKafkaBroker assigns no partitions
    subscriber = app_module._subscriber(broker, settings, listener, traced=traced)
    handled: list[weakref.ref[Any]] = []
    bodies: list[bytes] = []
    headers: list[int] = []

    async def consume(message: KafkaMessage) -> None:
        bodies.extend(record.value for record in message.raw_message)
        headers.append(len(message.batch_headers))
        handled.append(weakref.ref(message))

    subscriber(consume)
    async with TestKafkaBroker(broker):
        for value in (b'{"a": 1}', b"not json"):
            await broker.publish(value, settings.topics.media_events)

    assert bodies == [b'{"a": 1}', b"not json"]  # the values reach the handler as bytes
    # Untraced, no record's headers are decoded (batch_message); traced, FastStream's parser
    # decodes them for its telemetry, one dict per record.
    assert headers == ([1, 1] if traced else [0, 0])
    assert len(handled) == 2
    assert [ref() for ref in handled] == [None, None]


def test_the_subscriber_takes_batches_and_fetches_as_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_BATCH_RECORDS", "2500")
    monkeypatch.setenv("STREAM_HEALTH_FETCH_PARTITION_BYTES", "262144")
    settings = Settings()
    listener: Any = None  # positions from PostgreSQL: not what this test is about

    subscriber = app_module._subscriber(KafkaBroker(), settings, listener, traced=False)

    assert subscriber.max_records == 2_500
    assert subscriber._connection_args["max_partition_fetch_bytes"] == 262_144


def test_a_batch_message_is_its_records_and_is_never_acknowledged_to_kafka() -> None:
    records = tuple(
        ConsumerRecord("t", 0, offset, 1_700_000_000_000 + offset, 0, None, b"v", None, 1, 1, [])
        for offset in (41, 42, 43)
    )

    message = app_module.batch_message(records)

    assert message.raw_message is records
    assert message.message_id == "41-43-1700000000041"
    assert message.committed is AckStatus.ACKED  # FastStream commits nothing for it
