import asyncio
from typing import Any

from stream_health.db.outbox import Pending
from stream_health.kafka.partitioning import partition_for
from stream_health_worker.relay import Relay, _send
from tests.producers import FakeProducer


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


def _rows(spec: list[tuple[str, bytes | None]]) -> list[Pending]:
    return [Pending(i, topic, key, b"v%d" % i) for i, (topic, key) in enumerate(spec)]


async def test_rows_go_out_in_batches_per_partition_each_in_row_order() -> None:
    keys = [b"stream-%d" % (i % 7) for i in range(40)]
    rows = _rows([("changes" if i % 3 else "signals", key) for i, key in enumerate(keys)])
    producer = FakeProducer(capacity=4)

    futures = await _send(producer, rows)

    assert len(futures) == len(producer.sent)
    published: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
    for topic, partition, records in producer.sent:
        assert 1 <= len(records) <= 4
        published.setdefault((topic, partition), []).extend(records)
    expected: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
    for row in rows:
        assert row.key is not None
        partition = partition_for(row.key, sorted(producer.partitions))
        expected.setdefault((row.topic, partition), []).append((row.key, row.value))
    assert published == expected  # every row once, where a keyed send puts it, in order


async def test_rows_without_a_key_are_spread_over_the_partitions() -> None:
    rows = _rows([("dlq", None)] * 6)
    producer = FakeProducer(capacity=100)

    await _send(producer, rows)

    assert sorted((p, [v for _, v in records]) for _, p, records in producer.sent) == [
        (0, [b"v0", b"v3"]),
        (1, [b"v1", b"v4"]),
        (2, [b"v2", b"v5"]),
    ]
