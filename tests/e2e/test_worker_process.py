import asyncio
import hashlib
import re
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from stream_health.config.settings import TopicNames
from stream_health.db import repository
from stream_health.db.engine import make_engine, make_sessions
from stream_health.db.listing import named
from stream_health.db.windows import LIST_BEHIND, load_windows
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_worker.app import build_rules
from tests.conftest import base_settings, fresh_database
from tests.e2e.processes import Service, free_port, service_env
from tests.faults.driver import asyncpg_dsn
from tests.readback import listed_rows, read_all
from tests.waiting import until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def worker_env(migrated_database_url: str, topics: TopicNames) -> dict[str, str]:
    port = free_port()
    return service_env(
        database_url=migrated_database_url,
        topics=topics,
        extra={
            "STREAM_HEALTH_WORKER_PORT": str(port),
            "STREAM_HEALTH_CONSUMER_GROUP": f"e2e-{uuid.uuid4().hex[:8]}",
            "STREAM_HEALTH_TOPIC_PARTITIONS": "4",
        },
    )


async def _produce(
    topics: TopicNames, count: int, pause_every: int = 0
) -> Counter[tuple[str, str]]:
    bootstrap = base_settings().kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    sent: Counter[tuple[str, str]] = Counter()
    try:
        for i in range(count):
            uid = f"{topics.media_events}-{i % 97}"
            event = "stream:reconnect" if i % 10 else "stream:state"
            state = "disabled" if i % 20 == 0 else "active"
            body = {
                "event": event,
                "server": "ms1",
                "pid": 1,
                "seq": i,
                "timestamp": time.time(),
                "data": {"uid": uid, "state": state},
            }
            await producer.send(topics.media_events, orjson.dumps(body), key=uid.encode())
            sent[(topics.media_events, event)] += 1
            if i % 100 == 0:
                await producer.send(topics.inventory_streams, None, key=str(i).encode())
                sent[(topics.inventory_streams, "tombstone")] += 1
            if pause_every and i % pause_every == 0:
                await asyncio.sleep(0.05)  # keep records arriving while the worker is killed
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _applied(database_url: str, topics: TopicNames) -> Counter[tuple[str, str]]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            counts = await repository.consumed_counts(session)
    finally:
        await engine.dispose()
    mine = {topics.media_events, topics.inventory_streams}
    return Counter({k: v for k, v in counts.items() if k[0] in mine})


async def _wait_for(
    database_url: str, topics: TopicNames, total: int, timeout_s: float
) -> Counter[tuple[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        applied = await _applied(database_url, topics)
        if sum(applied.values()) >= total or time.monotonic() > deadline:
            return applied
        await asyncio.sleep(0.3)


async def test_worker_serves_ops_endpoints_and_applies_every_record(
    worker_env: dict[str, str], topics: TopicNames, migrated_database_url: str, tmp_path: Path
) -> None:
    worker = Service(
        "worker", worker_env, int(worker_env["STREAM_HEALTH_WORKER_PORT"]), tmp_path / "w.log"
    )
    try:
        await asyncio.to_thread(worker.wait_ready)
        sent = await _produce(topics, 500)
        applied = await _wait_for(migrated_database_url, topics, sum(sent.values()), 60)
        async with httpx.AsyncClient(base_url=worker.url) as client:
            metrics = (await client.get("/metrics")).text
            health = await client.get("/healthz")
    finally:
        worker.stop()

    assert applied == sent
    assert health.json() == {"status": "ok"}
    assert (
        f'stream_health_records_consumed_total{{topic="{topics.media_events}",type="stream:reconnect"}} 450.0'
        in metrics
    )


async def test_records_apply_exactly_once_across_kill_9_restarts(
    worker_env: dict[str, str], topics: TopicNames, migrated_database_url: str, tmp_path: Path
) -> None:
    await ensure_topics(base_settings().kafka_bootstrap, topic_specs(topics, partitions=4))
    count = 30_000
    total = count + (count + 99) // 100  # the events plus one tombstone per hundred
    port = int(worker_env["STREAM_HEALTH_WORKER_PORT"])
    producing: asyncio.Task[Counter[tuple[str, str]]] | None = None
    kills = 0
    for attempt in range(3):
        worker = Service("worker", worker_env, port, tmp_path / f"w{attempt}.log")
        await asyncio.to_thread(worker.wait_ready)
        if producing is None:  # records start arriving once the first worker consumes
            producing = asyncio.create_task(_produce(topics, count, pause_every=500))
        applied = await _wait_for(migrated_database_url, topics, total * (attempt + 1) // 6, 60)
        if sum(applied.values()) < total:
            kills += 1
        worker.kill()
    assert producing is not None
    sent = await producing
    worker = Service("worker", worker_env, port, tmp_path / "final.log")
    try:
        await asyncio.to_thread(worker.wait_ready)
        await _wait_for(migrated_database_url, topics, total, 90)
        await asyncio.sleep(2)  # anything applied twice would show up by now
        applied = await _applied(migrated_database_url, topics)
        await _wait_outbox_empty(migrated_database_url, 30)
    finally:
        worker.stop()

    assert sum(sent.values()) == total
    # Kills land mid-stream (the first always does); the proof needs at least one.
    assert kills >= 1, "every kill came after the worker had applied everything"
    assert applied == sent
    changes = [value for _, value in await read_all(topics.changes)]
    by_id: dict[str, bytes] = {}
    seqs: dict[str, list[int]] = {}
    for value in changes:
        change = orjson.loads(value)
        if change["event_id"] in by_id:
            # A redelivered change is the same record, byte for byte, under the same event_id.
            assert by_id[change["event_id"]] == value
            continue
        by_id[change["event_id"]] = value
        seqs.setdefault(change["stream_uid"], []).append(change["seq"])
    assert len(seqs) == 97
    for uid, numbers in seqs.items():
        assert numbers == list(range(1, len(numbers) + 1)), uid


async def _wait_outbox_empty(database_url: str, timeout_s: float) -> None:
    engine = make_engine(database_url, pool_size=1)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                left = (await connection.execute(text("SELECT count(*) FROM outbox"))).scalar()
            if left == 0:
                return
            await asyncio.sleep(0.3)
    finally:
        await engine.dispose()
    raise AssertionError("the relay did not empty the outbox")


async def _list_state(database_url: str, prefix: str) -> tuple[dict[Any, int], dict[Any, int], int]:
    """(list rows, the rows the stored windows call for now, windows still flagged)."""
    rules = build_rules(base_settings())
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            f"SELECT uid, condition, disconnections FROM {named('stream_list')} l WHERE uid LIKE $1",
            f"{prefix}%",
        )
        uids = [
            r["uid"]
            for r in await connection.fetch(
                "SELECT uid FROM stream_windows WHERE uid LIKE $1", f"{prefix}%"
            )
        ]
        windows = await load_windows(connection, uids=uids)
        flagged = await connection.fetchval(
            f"SELECT count(*) FROM ({LIST_BEHIND} AND w.uid LIKE $1) b", f"{prefix}%"
        )
    finally:
        await connection.close()
    called_for = listed_rows(windows, rules, time.time_ns() // 1_000_000)
    listed = {(r["uid"], r["condition"]): r["disconnections"] for r in rows}
    return listed, called_for, int(flagged)


async def test_the_list_waits_for_the_flush_interval_and_a_clean_stop_flushes_it(
    worker_env: dict[str, str], topics: TopicNames, tmp_path: Path
) -> None:
    # A database of its own: on assignment a worker flushes every flagged window it owns.
    async with fresh_database("listflush") as url:
        env = worker_env | {
            "STREAM_HEALTH_DATABASE_URL": url,
            "STREAM_HEALTH_LIST_FLUSH_INTERVAL": "3600",  # no flush by the timer in this test
        }
        worker = Service("worker", env, int(env["STREAM_HEALTH_WORKER_PORT"]), tmp_path / "w.log")
        try:
            await asyncio.to_thread(worker.wait_ready)
            sent = await _produce(topics, 400)
            await _wait_for(url, topics, sum(sent.values()), 60)
            await asyncio.sleep(1.5)  # a few ticks of the timer: none may flush yet
            held, _, held_flagged = await _list_state(url, topics.media_events)
        finally:
            worker.stop()
        stopped, called_for, stopped_flagged = await _list_state(url, topics.media_events)

    assert held == {}  # the interval holds the flush back...
    assert held_flagged == 97  # ...while the windows it will write are flagged
    assert len(stopped) > 97  # every stream: a row per condition it is in, and one under *
    assert stopped == called_for  # a clean stop leaves the list as the windows say
    assert stopped_flagged == 0


async def test_the_apis_kept_list_page_follows_what_the_worker_commits(
    worker_env: dict[str, str], topics: TopicNames, tmp_path: Path
) -> None:
    token = uuid.uuid4().hex
    async with fresh_database("listlive") as url:
        env = worker_env | {"STREAM_HEALTH_DATABASE_URL": url}
        api_port = free_port()
        api_env = service_env(
            database_url=url,
            topics=topics,
            extra={
                "STREAM_HEALTH_API_PORT": str(api_port),
                "STREAM_HEALTH_SERVICE_TOKENS": hashlib.sha256(token.encode()).hexdigest(),
            },  # the page cache at its default: on, pages kept up to a minute
        )
        worker = Service("worker", env, int(env["STREAM_HEALTH_WORKER_PORT"]), tmp_path / "w.log")
        api = Service("api", api_env, api_port, tmp_path / "api.log")
        try:
            await asyncio.to_thread(worker.wait_ready)
            await asyncio.to_thread(api.wait_ready)
            async with httpx.AsyncClient(
                base_url=api.url, headers={"Authorization": f"Bearer {token}"}
            ) as client:

                async def total() -> int:
                    page = await client.get("/api/admin/v1/streams/inactive?per_page=1")
                    return int(page.json()["meta"]["total"])

                async def listening() -> bool:
                    metrics = (await client.get("/metrics")).text
                    return "stream_health_api_list_cache_listening 1.0" in metrics

                await until(listening, 30, "the api listening for list changes")
                empty = [await total(), await total()]  # the second from the cache
                sent = await _produce(topics, 400)
                await _wait_for(url, topics, sum(sent.values()), 60)
                # Well within the cache's minute: the worker's list flush is heard.
                await until(lambda: _positive(total()), 20, "the streams listed")
                metrics = (await client.get("/metrics")).text
        finally:
            api.stop()
            worker.stop()

    hits = re.search(r'stream_health_api_list_cache_requests_total\{outcome="hit"\} (\S+)', metrics)
    assert empty == [0, 0]
    assert hits is not None
    assert float(hits.group(1)) >= 1  # the second empty page came from the cache


async def _positive(count: Any) -> bool:
    return int(await count) > 0
