"""A scripted scenario through the real worker, Kafka and PostgreSQL; exact outputs asserted."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_health.config.settings import Settings, TopicNames
from stream_health.db import repository
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_worker.app import build_app
from stream_health_worker.outputs import change_event_id, iso_ms
from tests.conftest import base_settings
from tests.readback import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CONDITIONS = """
stream_conditions:
  incorrect:   {reconnects: 1, period: 8s}
  problematic: {reconnects: 3, period: 6s, clear_below: 2}
  disabled:    {stream_state: disabled}
"""
A, B, C = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture
async def worker(
    migrated_database_url: str, topics: TopicNames, tmp_path: Path
) -> AsyncIterator[Settings]:
    conditions = tmp_path / "conditions.yaml"
    conditions.write_text(CONDITIONS)
    settings = base_settings(
        database_url=migrated_database_url,
        topics=topics,
        conditions=conditions,
        topic_partitions=3,
        consumer_group=f"scenario-{uuid.uuid4().hex[:8]}",
    )
    await ensure_topics(settings.kafka_bootstrap, topic_specs(topics, partitions=3))
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        yield settings


def _event(kind: str, uid: str, seq: int, at_ms: int, **data: Any) -> bytes:
    body = {
        "event": kind,
        "device": "mediaserver",
        "server": "ms1.vms.local",
        "pid": 7,
        "seq": seq,
        "timestamp": iso_ms(at_ms),
        "data": {"uid": uid, **data},
    }
    return orjson.dumps(body)


def _stream(id_: int, uid: str, *, enabled: bool) -> bytes:
    return orjson.dumps(
        {
            "id": id_,
            "uuid": uid,
            "camera_id": 10,
            "server_id": 1,
            "is_enabled": enabled,
            "url": "rtsp://admin:secret@10.0.0.1/live",
            "updated_at": "2026-11-20 10:00:00",
        }
    )


async def _produce(topic_records: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=base_settings().kafka_bootstrap, enable_idempotence=True
    )
    await producer.start()
    try:
        for topic, key, value in topic_records:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def _wait_applied(settings: Settings, topic: str, records: int) -> None:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        for _ in range(300):
            async with make_sessions(engine)() as session:
                counts = await repository.consumed_counts(session)
            if sum(n for (t, _), n in counts.items() if t == topic) >= records:
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    raise AssertionError(f"{topic}: fewer than {records} records applied")


async def _wait_changes(
    topic: str, count: int, timeout_s: float, *, uids: set[str]
) -> list[dict[str, Any]]:
    # Only these streams: the test database is shared, and a worker that takes a partition
    # over under other conditions reclassifies every stream stored for it.
    deadline = time.monotonic() + timeout_s
    while True:
        changes = [orjson.loads(value) for _, value in await read_all(topic)]
        changes = [c for c in changes if c["stream_uid"] in uids]
        if len(changes) >= count or time.monotonic() > deadline:
            return changes
        await asyncio.sleep(0.5)


async def _windows(settings: Settings) -> dict[str, Any]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            conn = await driver_connection(session)
            rows = await conn.fetch(
                "SELECT uid, conditions, seq, stream_id, enabled, length(stamps) / 16 AS held, "
                "drain_at_ms FROM stream_windows WHERE uid = ANY($1::text[])",
                [A, B, C],
            )
    finally:
        await engine.dispose()
    return {row["uid"]: dict(row) for row in rows}


def _change(
    uid: str, seq: int, conditions: list[str], entered: list[str], left: list[str], **rest: Any
) -> dict[str, Any]:
    return {
        "event_id": change_event_id(uid, seq),
        "stream_uid": uid,
        "seq": seq,
        "conditions": conditions,
        "entered": entered,
        "left": left,
        **rest,
    }


async def test_scripted_scenario_publishes_exactly_the_expected_changes(
    worker: Settings,
) -> None:
    topics = worker.topics
    server = {"id": 1, "domain": "ms1.vms.local", "updated_at": "2026-11-20 10:00:00"}
    camera = {"id": 10, "name": "Gate", "is_increased_reconnect": 0}
    await _produce(
        [
            (topics.inventory_servers, b"1", orjson.dumps(server)),
            (topics.inventory_cameras, b"10", orjson.dumps(camera)),
            (topics.inventory_streams, b"100", _stream(100, A, enabled=True)),
            (topics.inventory_streams, b"101", _stream(101, B, enabled=False)),
        ]
    )
    await _wait_applied(worker, topics.inventory_streams, 2)
    await _wait_applied(worker, topics.inventory_cameras, 1)
    t0 = time.time_ns() // 1_000_000
    events = [
        (A, _event("stream:reconnect", A, 1, t0)),
        (A, _event("stream:reconnect", A, 2, t0 + 100)),
        (A, _event("stream:reconnect", A, 2, t0 + 100)),  # a repeat: no effect
        (A, _event("stream:reconnect", A, 3, t0 + 200)),
        (B, _event("stream:reconnect", B, 4, t0 + 250)),  # B is switched off by an admin
        (B, _event("stream:reconnect", B, 5, t0 + 260)),
        (C, _event("stream:state", C, 6, t0 + 300, state="disabled")),  # unknown to inventory
        (C, _event("stream:foo", C, 7, t0 + 310)),  # skipped and counted
        (C, b'{"event": "stream:reconnect", "server": '),  # dead letter
    ]
    await _produce([(topics.media_events, uid.encode(), value) for uid, value in events])

    changes = await _wait_changes(topics.changes, 5, timeout_s=40, uids={A, B, C})
    windows = await _windows(worker)
    dead = [orjson.loads(value) for _, value in await read_all(topics.dlq)]

    mine = sorted(changes, key=lambda c: (c["stream_uid"] != A, c["seq"]))
    ids = {"stream_id": 100, "camera_id": 10, "server_id": 1}
    unknown = {"stream_id": None, "camera_id": None, "server_id": None}
    expected = [
        _change(A, 1, ["incorrect"], ["incorrect"], [], cause="reconnect", at=iso_ms(t0), **ids),
        _change(
            A, 2, ["incorrect", "problematic"], ["problematic"], [], cause="reconnect",
            at=iso_ms(t0 + 200), reconnects={"incorrect": 3, "problematic": 3}, **ids,
        ),
        # problematic holds down to clear_below=2: it leaves when the 2nd newest (t0+100) ages out
        _change(
            A, 3, ["incorrect"], [], ["problematic"], cause="window_drained",
            at=iso_ms(t0 + 100 + 6000), reconnects={"incorrect": 3, "problematic": 1}, **ids,
        ),
        _change(
            A, 4, [], [], ["incorrect"], cause="window_drained",
            at=iso_ms(t0 + 200 + 8000), reconnects={"incorrect": 0, "problematic": 0}, **ids,
        ),
        _change(
            C, 1, ["disabled"], ["disabled"], [], cause="stream_state",
            at=iso_ms(t0 + 300), reconnects={"incorrect": 0, "problematic": 0}, **unknown,
        ),
    ]  # fmt: skip
    expected[0]["reconnects"] = {"incorrect": 1, "problematic": 1}
    assert [{k: c[k] for k in e} for c, e in zip(mine, expected, strict=True)] == expected
    for change in mine:
        if change["cause"] == "window_drained":  # left within a second of draining
            lag_ms = _ms(change["emitted_at"]) - _ms(change["at"])
            assert 0 <= lag_ms <= 1000, change
    assert windows[A]["drain_at_ms"] is None  # nothing left to drain, also after a restart
    assert (windows[A]["conditions"], windows[A]["seq"], windows[A]["held"]) == ([], 4, 3)
    assert (windows[B]["seq"], windows[B]["held"], windows[B]["enabled"]) == (0, 0, False)
    assert (windows[C]["conditions"], windows[C]["stream_id"]) == (["disabled"], None)
    assert len(dead) == 1
    assert dead[0]["error"].startswith("value: Invalid JSON")
    assert dead[0]["value"] == '{"event": "stream:reconnect", "server": '


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


async def test_a_configuration_change_reclassifies_streams_with_cause_config(
    migrated_database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "stream_conditions:\n"
        "  incorrect: {reconnects: 1, period: 1h}\n"
        "  problematic: {reconnects: 10, period: 1h}\n"
    )
    settings = base_settings(
        database_url=migrated_database_url,
        topics=topics,
        conditions=tmp_path / "conditions.yaml",
        topic_partitions=2,
        consumer_group=f"config-{uuid.uuid4().hex[:8]}",
    )
    (tmp_path / "conditions.yaml").write_text(CONDITIONS.replace("6s", "1h").replace("8s", "1h"))
    await ensure_topics(settings.kafka_bootstrap, topic_specs(topics, partitions=2))
    uid = str(uuid.uuid4())
    t0 = time.time_ns() // 1_000_000
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        await _produce(
            [
                (topics.media_events, uid.encode(), _event("stream:reconnect", uid, s, t0 + s))
                for s in range(4)
            ]
        )
        await _wait_applied(settings, topics.media_events, 4)
        before = await _wait_changes(topics.changes, 2, timeout_s=30, uids={uid})
    app = build_app(settings.model_copy(update={"conditions": strict}))
    async with app.router.lifespan_context(app):
        after = await _wait_changes(topics.changes, 3, timeout_s=30, uids={uid})

    assert [(c["seq"], c["conditions"], c["cause"]) for c in before] == [
        (1, ["incorrect"], "reconnect"),
        (2, ["incorrect", "problematic"], "reconnect"),
    ]
    assert after[2]["seq"] == 3
    assert (after[2]["conditions"], after[2]["left"]) == (["incorrect"], ["problematic"])
    assert after[2]["cause"] == "config"
    # The window held the newest 3 (the old conditions' largest `reconnects`): a raised
    # threshold counts what was kept, and is exact again as new reconnections arrive.
    assert after[2]["reconnects"] == {"incorrect": 3, "problematic": 3}
    assert len(after) == 3


async def test_a_window_drains_on_time_after_a_restart_with_no_further_events(
    migrated_database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    conditions = tmp_path / "conditions.yaml"
    conditions.write_text("stream_conditions:\n  incorrect: {reconnects: 1, period: 8s}\n")
    settings = base_settings(
        database_url=migrated_database_url,
        topics=topics,
        conditions=conditions,
        topic_partitions=2,
        consumer_group=f"restart-{uuid.uuid4().hex[:8]}",
    )
    await ensure_topics(settings.kafka_bootstrap, topic_specs(topics, partitions=2))
    uid = str(uuid.uuid4())
    t0 = time.time_ns() // 1_000_000
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        await _produce(
            [(topics.media_events, uid.encode(), _event("stream:reconnect", uid, 1, t0))]
        )
        entered = await _wait_changes(topics.changes, 1, timeout_s=30, uids={uid})
    # The worker is gone before the window drains (at t0 + 8 s); a new one must still
    # let the stream leave on time, from the drain instant it stored.
    assert time.time_ns() // 1_000_000 < t0 + 8_000
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        changes = await _wait_changes(topics.changes, 2, timeout_s=30, uids={uid})

    assert [(c["seq"], c["conditions"], c["cause"]) for c in entered] == [
        (1, ["incorrect"], "reconnect")
    ]
    left = changes[1]
    assert (left["seq"], left["conditions"], left["left"]) == (2, [], ["incorrect"])
    assert (left["cause"], left["at"]) == ("window_drained", iso_ms(t0 + 8_000))
    assert _ms(left["emitted_at"]) - _ms(left["at"]) <= 1_000
