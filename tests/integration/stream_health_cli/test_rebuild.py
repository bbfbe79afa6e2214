"""`stream-health rebuild` as an operator runs it: a process, the environment, exit codes."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from stream_health.config.settings import Settings
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_worker.outputs import iso_ms
from tests.conftest import base_settings, unique_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_HEALTH_TOPICS__")}
    env |= {
        f"STREAM_HEALTH_TOPICS__{name.upper()}": topic
        for name, topic in settings.topics.model_dump().items()
    }
    return env | {"STREAM_HEALTH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap}


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream_health_cli.main", *args],
        env=_environment(settings),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


async def _connect(url: str, database: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        database=database,
    )


@pytest.fixture
def database_name() -> Iterator[str]:
    name = f"stream_health_rebuild_cli_{uuid.uuid4().hex[:8]}"
    yield name

    async def drop() -> None:
        admin = await _connect(base_settings().database_url, "postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    import asyncio  # noqa: PLC0415

    asyncio.run(drop())


@pytest.fixture
async def published() -> Settings:
    settings = base_settings(topics=unique_topics(), topic_partitions=2)
    await ensure_topics(settings.kafka_bootstrap, topic_specs(settings.topics, partitions=2))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for seq in range(3):
            event = {
                "event": "stream:reconnect",
                "server": "ms1.vms.local",
                "pid": 1,
                "seq": seq,
                "timestamp": iso_ms(time.time_ns() // 1_000_000 - 1000 + seq),
                "data": {"uid": "3f1c2a4e-0000-4000-8000-000000000001"},
            }
            await producer.send_and_wait(
                settings.topics.media_events, orjson.dumps(event), key=b"3f1c2a4e"
            )
    finally:
        await producer.stop()
    return settings


def test_rebuild_into_a_new_database_reports_and_exits_zero(
    published: Settings, database_name: str
) -> None:
    done = _cli(published, "rebuild", "--database", database_name)

    assert done.returncode == 0, done.stderr
    assert f"created database {database_name}" in done.stderr
    assert "state changes: dropped (not published)" in done.stderr
    assert "3 offsets of 6 topics replayed" in done.stdout
    assert "STREAM_HEALTH_CONSUMER_GROUP=stream-health-worker.rebuild-" in done.stdout

    async def windows() -> list[asyncpg.Record]:
        conn = await _connect(published.database_url, database_name)
        try:
            return list(
                await conn.fetch("SELECT uid, length(stamps) / 16 AS n FROM stream_windows")
            )
        finally:
            await conn.close()

    import asyncio  # noqa: PLC0415

    rows = asyncio.run(windows())
    assert [(r["uid"], r["n"]) for r in rows] == [("3f1c2a4e-0000-4000-8000-000000000001", 3)]


def test_rebuild_refuses_the_live_database_with_exit_two(published: Settings) -> None:
    live = make_url(published.database_url).database or ""

    done = _cli(published, "rebuild", "--database", live)

    assert done.returncode == 2
    assert "is the live database" in done.stderr
    assert "password" not in done.stderr
