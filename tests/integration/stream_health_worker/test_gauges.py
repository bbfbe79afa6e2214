"""The gauges read from PostgreSQL, over rows the worker's own batch code writes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stream_health.config.settings import Settings, TopicNames
from stream_health.db.engine import driver_connection
from stream_health.db.outbox import backlog
from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_worker.app import build_app
from stream_health_worker.gauges import UNKNOWN_SERVER, refresh_outbox, refresh_server_streams
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.relay import Relay
from tests.conftest import base_settings, fresh_database
from tests.integration.stream_health_api.harness import (
    HOUR_MS,
    Fleet,
    list_settings,
    now_ms,
    server_doc,
    stream_doc,
)
from tests.waiting import until


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    # A database of its own: the gauges count every row of the outbox and of the list.
    async with fresh_database("gauges") as url:
        fleet = Fleet(list_settings(url, tmp_path))
        try:
            yield fleet
        finally:
            await fleet.close()


async def _refresh(fleet: Fleet, metrics: WorkerMetrics) -> None:
    async with fleet.sessions() as session:
        conn = await driver_connection(session)
        await refresh_outbox(metrics, conn)
        await refresh_server_streams(
            metrics, conn, conditions=fleet.ctx.owner.rules.conditions.names
        )


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _outbox(metrics: WorkerMetrics) -> tuple[float | None, float | None]:
    return (
        _sample(metrics, "stream_health_outbox_backlog_rows"),
        _sample(metrics, "stream_health_outbox_oldest_age_seconds"),
    )


async def _age_outbox(fleet: Fleet, seconds: int) -> None:
    async with fleet.sessions() as session, session.begin():
        conn = await driver_connection(session)
        await conn.execute(
            "UPDATE outbox SET created_at = created_at - make_interval(secs => $1)", seconds
        )


@pytest.mark.kafka
async def test_the_outbox_gauges_show_what_waits_for_the_relay_until_it_publishes(
    fleet: Fleet,
) -> None:
    metrics = WorkerMetrics()
    await _refresh(fleet, metrics)
    empty = _outbox(metrics)
    uids = [str(uuid.uuid4()) for _ in range(3)]
    # Each stream's first reconnection enters `incorrect`: one state change each.
    await fleet.apply(fleet.event("stream:reconnect", uid, server="ms1.vms.local") for uid in uids)
    await _age_outbox(fleet, 120)  # as if the relay had been down for two minutes
    await _refresh(fleet, metrics)
    rows, age = _outbox(metrics)
    async with fleet.sessions() as session:
        estimated = await backlog(await driver_connection(session), exact_up_to=2)

    settings = fleet.settings
    await ensure_topics(settings.kafka_bootstrap, topic_specs(settings.topics, partitions=1))
    relay = Relay(fleet.sessions, bootstrap=settings.kafka_bootstrap)
    await relay.start()
    try:
        published = await relay.pump()
    finally:
        await relay.stop()
    await _refresh(fleet, metrics)

    assert empty == (0.0, 0.0)
    assert rows == 3
    assert age is not None
    assert 120 <= age < 180
    assert estimated.rows >= 3  # past the cap: read from the id range, never below the truth
    assert published == 3
    assert _outbox(metrics) == (0.0, 0.0)


async def test_streams_per_server_are_counted_by_condition_and_lower_case_domain(
    fleet: Fleet,
) -> None:
    metrics = WorkerMetrics()
    a, b, c, d, unknown = (str(uuid.uuid4()) for _ in range(5))
    await fleet.apply(
        [
            fleet.snapshot("servers", 1, server_doc(1, "MS1.VMS.Local")),
            fleet.snapshot("servers", 2, server_doc(2, "ms2.vms.local")),
            *(
                fleet.snapshot("streams", n, stream_doc(n, uid, camera_id=n, server_id=server))
                for n, (uid, server) in enumerate([(a, 1), (b, 1), (c, 1), (d, 2)], start=1)
            ),
        ]
    )
    at = now_ms() - HOUR_MS // 4
    events = []
    for uid, reconnections in ((a, 3), (b, 3), (c, 1), (d, 3), (unknown, 1)):
        events += [
            fleet.event("stream:reconnect", uid, server="ms1.vms.local", at_ms=at + k * 1000)
            for k in range(reconnections)
        ]
    events.append(
        fleet.event("stream:state", c, server="ms1.vms.local", data={"state": "disabled"})
    )
    await fleet.apply(events)
    await _refresh(fleet, metrics)
    before = _server_series(metrics)

    # Streams leaving every condition leave the counts; a server left with none, the gauge.
    await fleet.apply([fleet.event("stream:delete", uid, server="ms2.vms.local") for uid in (b, d)])
    await _refresh(fleet, metrics)

    assert before == {
        ("incorrect", "ms1.vms.local"): 3,
        ("incorrect", "ms2.vms.local"): 1,
        ("incorrect", UNKNOWN_SERVER): 1,
        ("problematic", "ms1.vms.local"): 2,
        ("problematic", "ms2.vms.local"): 1,
        ("disabled", "ms1.vms.local"): 1,
    }
    assert _server_series(metrics) == {
        ("incorrect", "ms1.vms.local"): 2,
        ("incorrect", UNKNOWN_SERVER): 1,
        ("problematic", "ms1.vms.local"): 1,
        ("disabled", "ms1.vms.local"): 1,
    }


def _server_series(metrics: WorkerMetrics) -> dict[tuple[str, str], float]:
    """The per-server series as /metrics writes them."""
    families = text_string_to_metric_families(generate_latest(metrics.registry).decode())
    return {
        (sample.labels["condition"], sample.labels["server"]): sample.value
        for family in families
        if family.name == "stream_health_server_streams_in_condition"
        for sample in family.samples
    }


def _lag_partitions(metrics: WorkerMetrics, topic: str) -> set[int]:
    return {
        int(sample.labels["partition"])
        for family in metrics.registry.collect()
        if family.name == "stream_health_consumer_lag"
        for sample in family.samples
        if sample.labels["topic"] == topic
    }


def _assigned(app: FastAPI, topic: str) -> set[int]:
    consumer = app.state.subscriber.consumer
    return {tp.partition for tp in consumer.assignment() if tp.topic == topic}


async def _produce(topic: str, partitions: Iterable[int], count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=base_settings().kafka_bootstrap)
    await producer.start()
    try:
        for partition in partitions:
            for seq in range(count):
                uid = str(uuid.uuid4())
                body = {
                    "event": "stream:reconnect",
                    "server": "ms1.vms.local",
                    "pid": partition,
                    "seq": seq,
                    "timestamp": time.time(),
                    "data": {"uid": uid},
                }
                await producer.send(
                    topic, orjson.dumps(body), key=uid.encode(), partition=partition
                )
        await producer.flush()
    finally:
        await producer.stop()


@pytest.mark.kafka
@pytest.mark.slow
async def test_a_worker_stops_exporting_the_lag_of_partitions_a_rebalance_took_away(
    topics: TopicNames,
) -> None:
    # A database of its own: workers taking partitions over re-judge the streams stored there.
    async with fresh_database("lag") as url:
        settings = base_settings(
            database_url=url,
            topics=topics,
            topic_partitions=2,
            consumer_group=f"lag-{uuid.uuid4().hex[:8]}",
        )
        kept, owned = await _share_partitions(settings)

    assert kept == owned[0]
    assert owned[0].isdisjoint(owned[1])


async def _share_partitions(settings: Settings) -> tuple[set[int], tuple[set[int], set[int]]]:
    """One worker consumes both partitions, a second joins; each one's lag series and
    assignment once both have applied records of their own partition since."""
    topics = settings.topics
    await ensure_topics(settings.kafka_bootstrap, topic_specs(topics, partitions=2))
    first, second = build_app(settings), build_app(settings)
    lag_of = {app: app.state.metrics for app in (first, second)}
    async with first.router.lifespan_context(first):
        await _produce(topics.media_events, (0, 1), 20)
        await until(
            lambda: _lag_partitions(lag_of[first], topics.media_events) == {0, 1},
            60,
            "the only worker exports the lag of both partitions",
        )
        async with second.router.lifespan_context(second):
            await until(
                lambda: (
                    len(_assigned(first, topics.media_events)) == 1
                    and len(_assigned(second, topics.media_events)) == 1
                ),
                60,
                "the partitions are shared",
            )
            await _produce(topics.media_events, (0, 1), 20)
            await until(
                lambda: (
                    _lag_partitions(lag_of[second], topics.media_events)
                    == _assigned(second, topics.media_events)
                    # The first has applied records of the partition it kept since, too.
                    and _assigned(first, topics.media_events)
                    <= _lag_partitions(lag_of[first], topics.media_events)
                ),
                60,
                "each worker exports the lag of its partition",
            )
            kept = _lag_partitions(lag_of[first], topics.media_events)
            owned = _assigned(first, topics.media_events), _assigned(second, topics.media_events)
    return kept, owned
