import uuid
from pathlib import Path

import httpx
import pytest

from stream_health.config.settings import TopicNames
from tests.e2e.processes import Service, free_port, service_env

pytestmark = pytest.mark.kafka


def test_api_is_ready_with_database_and_kafka(
    migrated_database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(
        database_url=migrated_database_url,
        topics=topics,
        extra={"STREAM_HEALTH_API_PORT": str(port)},
    )
    api = Service("api", env, port, tmp_path / "api.log")
    try:
        api.wait_ready()
        ready = httpx.get(f"{api.url}/readyz").json()
        metrics = httpx.get(f"{api.url}/metrics")
    finally:
        api.stop()

    assert ready == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}
    assert metrics.status_code == 200
    assert "stream_health_api_requests_total" in metrics.text


def test_api_is_not_ready_when_migrations_are_missing(
    migrated_database_url: str, topics: TopicNames, tmp_path: Path
) -> None:
    port = free_port()
    unmigrated = migrated_database_url.rsplit("/", 1)[0] + "/postgres"
    env = service_env(
        database_url=unmigrated, topics=topics, extra={"STREAM_HEALTH_API_PORT": str(port)}
    )
    api = Service("api", env, port, tmp_path / f"api-{uuid.uuid4().hex}.log")
    try:
        api.wait_ready(path="/healthz")  # alive: it answers, however loaded the machine is
        response = httpx.get(f"{api.url}/readyz")
    finally:
        api.stop()

    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith(
        "fail: RuntimeError: database at migration None"
    )
