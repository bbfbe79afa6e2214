"""An api process over a populated database, shared by the modules that attack it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stream_health.config.settings import Settings
from stream_health.kafka.topics import ensure_topics, topic_specs
from tests.conftest import fresh_database
from tests.e2e.processes import Service, free_port, service_env
from tests.integration.stream_health_api.harness import (
    JWT_SECRET,
    SERVICE_TOKEN,
    Fleet,
    list_settings,
    populate,
)


@pytest.fixture(scope="module")
async def populated(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with fresh_database("schema") as url:
        listed = list_settings(url, tmp_path_factory.mktemp("schema"))
        # The callback endpoint publishes: its topic exists, named for this test only.
        await ensure_topics(listed.kafka_bootstrap, topic_specs(listed.topics, partitions=1))
        fleet = Fleet(listed)
        try:
            await populate(fleet)
        finally:
            await fleet.close()
        yield listed


@pytest.fixture(scope="module")
def api(populated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    port = free_port()
    env = service_env(
        database_url=populated.database_url,
        topics=populated.topics,
        extra={
            "STREAM_HEALTH_API_PORT": str(port),
            "STREAM_HEALTH_CONDITIONS": str(populated.conditions),
            "STREAM_HEALTH_JWT_KEY": JWT_SECRET,
            "STREAM_HEALTH_SERVICE_TOKENS": hashlib.sha256(SERVICE_TOKEN.encode()).hexdigest(),
        },
    )
    service = Service("api", env, port, Path(tmp_path_factory.mktemp("api")) / "api.log")
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()
