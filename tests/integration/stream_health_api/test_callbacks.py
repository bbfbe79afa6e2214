"""Orchestrator callbacks on the real stack: HTTP -> Kafka -> worker -> PostgreSQL -> HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_health.config.settings import Settings
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_api.analytics import iso_micros
from stream_health_api.app import build_app as build_api
from stream_health_worker.app import build_app as build_worker
from tests.conftest import base_settings, fresh_database, unique_topics
from tests.integration.stream_health_api.harness import (
    CONDITIONS,
    JWT_SECRET,
    SERVICE_TOKEN,
    bearer,
    now_ms,
)
from tests.readback import read_all
from tests.seeds import seed_003

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
CALLBACK = "/api/v1/orchestrator/callback"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    conditions = Path(tmp_path_factory.mktemp("callbacks")) / "conditions.yaml"
    conditions.write_text(CONDITIONS)
    async with fresh_database("callbacks") as url:
        settings = base_settings(
            database_url=url,
            topics=unique_topics(),
            conditions=conditions,
            topic_partitions=3,
            consumer_group=f"callbacks-{uuid.uuid4().hex[:8]}",
            jwt_key=JWT_SECRET,
            service_tokens=hashlib.sha256(SERVICE_TOKEN.encode()).hexdigest(),
        )
        await ensure_topics(settings.kafka_bootstrap, topic_specs(settings.topics, partitions=3))
        worker = build_worker(settings)
        async with worker.router.lifespan_context(worker):
            yield settings


@pytest.fixture(scope="module")
async def api(stack: Settings) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    app = build_api(stack)
    async with app.router.lifespan_context(app):

        def client(source: str = "127.0.0.1") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(source, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://api")

        yield client


async def _publish_job(settings: Settings, job: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.orchestrator_jobs, orjson.dumps(job), key=job["job_uid"].encode()
        )
    finally:
        await producer.stop()


async def _eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


def _job(stream_uid: str) -> dict[str, Any]:
    job_uid = str(uuid.uuid4())
    moment = iso_micros(now_ms() - 600_000)
    return seed_003() | {"job_uid": job_uid, "stream_uid": stream_uid, "updated_at": moment}


async def _changes(settings: Settings, uid: str) -> list[dict[str, Any]]:
    changes = [orjson.loads(v) for _, v in await read_all(settings.topics.changes)]
    return [c for c in changes if c["stream_uid"] == uid]


async def test_a_callback_over_http_reaches_the_analytics_stream_check(
    stack: Settings, api: Callable[..., httpx.AsyncClient]
) -> None:
    job = _job(str(uuid.uuid4()))
    await _publish_job(stack, job)
    async with api() as client:
        posted = await client.post(CALLBACK, json={"streamUid": job["job_uid"], "status": "PAUSE"})

        async def paused() -> Any:
            response = await client.get(f"/api/streams/{job['job_uid']}/", headers=bearer())
            return response.status_code == 200 and response.json()["status"] == 9 and response

        served = await _eventually(paused)

    assert posted.status_code == 201
    assert posted.json()["status"] == 9
    assert served, "the callback's status never reached the endpoint"
    assert served.json()["updated_at"] == posted.json()["received_at"]
    published = [orjson.loads(v) for k, v in await read_all(stack.topics.orchestrator_callbacks)]
    assert posted.json() in published  # 201 came after Kafka held it


async def test_down_callbacks_make_the_camera_stream_problematic(
    stack: Settings, api: Callable[..., httpx.AsyncClient]
) -> None:
    stream_uid = str(uuid.uuid4())
    job = _job(stream_uid)
    await _publish_job(stack, job)
    await asyncio.sleep(1.0)  # the job first: these DOWNs then count at once
    async with api() as client:
        for status in ("DOWN", 7, "down"):
            response = await client.post(
                CALLBACK, json={"streamUid": job["job_uid"], "status": status}
            )
            assert response.status_code == 201

    async def problematic() -> list[dict[str, Any]]:
        changes = await _changes(stack, stream_uid)
        return changes if any("problematic" in c["entered"] for c in changes) else []

    changes = await _eventually(problematic)
    assert [c["cause"] for c in changes] == ["analytics", "analytics"]
    assert changes[-1]["conditions"] == ["incorrect", "problematic"]
    assert [c["seq"] for c in changes] == [1, 2]


async def test_a_callback_before_its_job_is_applied_when_the_job_arrives(
    stack: Settings, api: Callable[..., httpx.AsyncClient]
) -> None:
    stream_uid = str(uuid.uuid4())
    job = _job(stream_uid)
    async with api() as client:
        posted = await client.post(CALLBACK, json={"streamUid": job["job_uid"], "status": "DOWN"})
        await asyncio.sleep(1.0)
        await _publish_job(stack, job)

        async def down() -> Any:
            response = await client.get(f"/api/streams/{job['job_uid']}", headers=bearer())
            return response.status_code == 200 and response.json()["status"] == 7

        served = await _eventually(down)
    changes = await _eventually(lambda: _changes(stack, stream_uid))

    assert posted.status_code == 201
    assert served
    assert [(c["cause"], c["entered"]) for c in changes] == [("analytics", ["incorrect"])]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (orjson.dumps({"status": "DOWN"}), "streamUid"),
        (orjson.dumps({"streamUid": "job-1"}), "status"),
        (orjson.dumps({"streamUid": "job-1", "status": "BROKEN"}), "status"),
        (orjson.dumps({"streamUid": "job-1", "status": 13}), "status"),
        (orjson.dumps({"streamUid": "job 1; DROP", "status": 1}), "streamUid"),
        (orjson.dumps({"streamUid": 5, "status": 1}), "streamUid"),
    ],
)
async def test_a_body_that_is_not_a_callback_gets_422_and_publishes_nothing(
    stack: Settings, api: Callable[..., httpx.AsyncClient], body: bytes, field: str
) -> None:
    before = len(await read_all(stack.topics.orchestrator_callbacks))
    async with api() as client:
        response = await client.post(
            CALLBACK, content=body, headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert len(await read_all(stack.topics.orchestrator_callbacks)) == before


async def test_a_source_outside_the_allowed_cidrs_gets_403_and_publishes_nothing(
    stack: Settings, api: Callable[..., httpx.AsyncClient]
) -> None:
    before = len(await read_all(stack.topics.orchestrator_callbacks))
    async with api("10.20.30.40") as client:
        response = await client.post(CALLBACK, json={"streamUid": "job-2", "status": "DOWN"})

    assert response.status_code == 403
    assert len(await read_all(stack.topics.orchestrator_callbacks)) == before
