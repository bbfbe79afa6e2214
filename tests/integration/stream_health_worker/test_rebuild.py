"""A rebuild replays the inputs through the worker into another database: the same views,
nothing published to the live outputs, resumable."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_health.config.settings import Settings
from stream_health.db import repository
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.db.listing import named
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_api.analytics import iso_micros
from stream_health_worker.app import build_app
from stream_health_worker.outputs import iso_ms
from stream_health_worker.rebuild import Progress, RebuildError, plan_rebuild, run_rebuild
from tests.conftest import base_settings, fresh_database, unique_topics
from tests.readback import read_all
from tests.seeds import seed_003

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# Every table the worker keeps as a view (not its bookkeeping: offsets, counters, outbox).
VIEWS = {
    "inventory_servers": "id",
    "inventory_cameras": "id",
    "inventory_streams": "id",
    "stream_windows": "uid",
    "server_activity": "domain",
    "condition_counts": "condition",
    "stream_list": "uid, condition",
    "stream_list_facts": "uid, condition",
    "analytics_jobs": "job_uid",
    "analytics_pending_downs": "job_uid, event_id",
}
A, B, C = (str(uuid.uuid4()) for _ in range(3))
JOB = str(uuid.uuid4())


async def _eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)
    return result


async def _query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            conn = await driver_connection(session)
            return [dict(row) for row in await conn.fetch(sql, *args)]
    finally:
        await engine.dispose()


# Numbers a rebuild draws anew: the same streams and conditions, numbered in another order.
NUMBERS = {"list_key", "condition_id", "stream_key"}


async def _views(database_url: str) -> dict[str, list[dict[str, Any]]]:
    def source(table: str) -> str:
        return f"{named(table)} AS l" if table.startswith("stream_list") else table

    return {
        table: [
            {k: v for k, v in row.items() if k not in NUMBERS}
            for row in await _query(database_url, f"SELECT * FROM {source(table)} ORDER BY {order}")
        ]
        for table, order in VIEWS.items()
    }


def _event(kind: str, uid: str, seq: int, at_ms: int, **data: Any) -> bytes:
    return orjson.dumps(
        {
            "event": kind,
            "server": "ms1.vms.local",
            "pid": 7,
            "seq": seq,
            "timestamp": iso_ms(at_ms),
            "data": {"uid": uid, **data},
        }
    )


def _stream(id_: int, uid: str) -> bytes:
    return orjson.dumps(
        {
            "id": id_,
            "uuid": uid,
            "camera_id": 10,
            "server_id": 1,
            "is_enabled": True,
            "url": f"rtsp://admin:secret{id_}@10.0.0.{id_}/live",
            "updated_at": "2026-11-20 10:00:00",
        }
    )


async def _produce(settings: Settings) -> None:
    topics, t0 = settings.topics, time.time_ns() // 1_000_000
    job = seed_003() | {"job_uid": JOB, "stream_uid": A, "updated_at": iso_micros(t0 - 60_000)}
    callback = {"streamUid": JOB, "status": 7, "received_at": iso_micros(t0 - 500)}
    records = [
        (topics.inventory_servers, b"1", orjson.dumps({"id": 1, "domain": "ms1.vms.local"})),
        (topics.inventory_cameras, b"10", orjson.dumps({"id": 10, "name": "Gate"})),
        (topics.inventory_streams, b"100", _stream(100, A)),
        (topics.inventory_streams, b"101", _stream(101, B)),
        (topics.orchestrator_jobs, JOB.encode(), orjson.dumps(job)),
        (topics.orchestrator_callbacks, JOB.encode(), orjson.dumps(callback)),  # a DOWN
        (topics.media_events, A.encode(), _event("stream:reconnect", A, 1, t0 - 3000)),
        (topics.media_events, A.encode(), _event("stream:reconnect", A, 2, t0 - 2000)),
        (topics.media_events, B.encode(), _event("stream:reconnect", B, 3, t0 - 1000)),
        (topics.media_events, C.encode(), _event("stream:state", C, 4, t0, state="disabled")),
        (topics.media_events, C.encode(), b'{"event": "stream:reconnect"'),  # a dead letter
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[Settings]:
    """A live worker's database after it applied the inputs (DOWN signal included); stopped."""
    async with fresh_database("rebuild_live") as url:
        settings = base_settings(
            database_url=url,
            topics=unique_topics(),
            topic_partitions=2,
            consumer_group=f"live-{uuid.uuid4().hex[:8]}",
        )
        await ensure_topics(settings.kafka_bootstrap, topic_specs(settings.topics, partitions=2))
        await _produce(settings)
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            held = "SELECT length(stamps) / 16 AS n FROM stream_windows WHERE uid = $1"

            async def settled() -> bool:
                rows = await _query(url, held, A)
                outbox = await _query(url, "SELECT id FROM outbox")
                return bool(rows) and rows[0]["n"] == 3 and not outbox

            await _eventually(settled)  # 2 media reconnects + the DOWN, relayed
        yield settings


async def _changes(topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in await read_all(topic)]


async def test_a_rebuild_makes_the_same_views_and_publishes_nothing_live(live: Settings) -> None:
    live_changes = await _changes(live.topics.changes)
    live_dead = await read_all(live.topics.dlq)
    seen: list[Progress] = []
    async with fresh_database("rebuild_target") as target:
        plan = await plan_rebuild(live, target)
        final = await run_rebuild(plan, seen.append, poll_s=0.2)
        rebuilt = await _views(target)
        outbox = await _query(target, "SELECT topic FROM outbox")
        engine = make_engine(target, pool_size=1)
        async with make_sessions(engine)() as session:
            groups = await repository.consumer_groups(session)
        await engine.dispose()
        again = await plan_rebuild(live, target)  # an interrupted rebuild, run again
        await run_rebuild(again, seen.append, poll_s=0.2)
        resumed = await _views(target)

    assert rebuilt == await _views(live.database_url)
    assert final.complete
    assert final.done == final.totals == plan.totals()
    assert final.totals[live.topics.media_events] == 5
    assert seen[0].done[live.topics.media_events] <= 5
    assert not outbox  # state changes dropped, signals relayed: nothing left to publish later
    assert groups == {plan.settings.consumer_group}
    assert plan.settings.topics.signals != live.topics.signals
    assert await read_all(plan.settings.topics.signals)  # its signals went to its own topic
    assert await _changes(live.topics.changes) == live_changes  # no duplicate on the live topic
    assert await read_all(live.topics.dlq) == live_dead
    assert (again.resumed, again.settings.consumer_group) == (True, plan.settings.consumer_group)
    assert resumed == rebuilt  # nothing applied twice


async def test_a_rebuild_publishes_its_changes_to_the_topic_it_is_given(live: Settings) -> None:
    replayed = unique_topics().changes
    async with fresh_database("rebuild_flagged") as target:
        plan = await plan_rebuild(live, target, changes_topic=replayed)
        await run_rebuild(plan, lambda _: None, poll_s=0.2)

    live_ids = sorted(c["event_id"] for c in await _changes(live.topics.changes))
    assert len(live_ids) == 3  # A and B entered incorrect, C disabled
    assert sorted(c["event_id"] for c in await _changes(replayed)) == live_ids
    assert live.topics.dlq in plan.discard  # no topic given for dead letters: dropped


async def test_a_rebuild_refuses_the_live_database_and_another_workers_state(
    live: Settings,
) -> None:
    with pytest.raises(RebuildError, match="is the live database"):
        await plan_rebuild(live, live.database_url)
    elsewhere = live.model_copy(update={"database_url": base_settings().database_url})
    with pytest.raises(RebuildError, match="holds the state of consumer group"):
        await plan_rebuild(elsewhere, live.database_url)
