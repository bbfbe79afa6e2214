import asyncio

from aiokafka import TopicPartition
from prometheus_client import generate_latest

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.domain.stream import Rules
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.offsets import SeekToStoredOffsets
from stream_health_worker.owner import WindowOwner


def _lag(metrics: WorkerMetrics, topic: str, partition: int) -> float | None:
    return metrics.registry.get_sample_value(
        "stream_health_consumer_lag", {"topic": topic, "partition": str(partition)}
    )


def _listener(metrics: WorkerMetrics, topics: TopicNames) -> SeekToStoredOffsets:
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    return SeekToStoredOffsets(
        sessions=None,  # type: ignore[arg-type]  # revocation reads no database
        consumer_group="g",
        owner=owner,
        owned_topics=topics.owned_by_stream,
        lock=asyncio.Lock(),
        metrics=metrics,
    )


async def test_revoked_partitions_stop_exporting_their_lag() -> None:
    topics = TopicNames()
    metrics = WorkerMetrics()
    for partition in (0, 1):
        metrics.set_lag(topics.media_events, partition, 10 + partition)
        metrics.set_lag(topics.signals, partition, 20 + partition)
    listener = _listener(metrics, topics)

    await listener.on_partitions_revoked(
        [TopicPartition(topics.media_events, 1), TopicPartition(topics.signals, 1)]
    )

    assert _lag(metrics, topics.media_events, 0) == 10
    assert _lag(metrics, topics.signals, 0) == 20
    assert _lag(metrics, topics.media_events, 1) is None
    assert _lag(metrics, topics.signals, 1) is None
    assert b'partition="1"' not in generate_latest(metrics.registry)


async def test_an_assignment_drops_the_lag_of_every_partition_not_in_it() -> None:
    # A batch finishing while its partitions are revoked may set their lag once more.
    topics = TopicNames()
    metrics = WorkerMetrics()
    metrics.set_lag(topics.media_events, 0, 5)
    metrics.set_lag(topics.media_events, 3, 7)
    listener = _listener(metrics, topics)  # no consumer bound: only the metrics change

    await listener.on_partitions_assigned([TopicPartition(topics.media_events, 3)])

    assert _lag(metrics, topics.media_events, 0) is None
    assert _lag(metrics, topics.media_events, 3) == 7


def test_forgetting_a_partition_that_exported_nothing_is_harmless() -> None:
    metrics = WorkerMetrics()

    metrics.forget_partitions([("mediaserver.events", 4)])
    metrics.keep_partitions([])

    assert _lag(metrics, "mediaserver.events", 4) is None


def test_the_server_gauge_shows_exactly_the_latest_series() -> None:
    metrics = WorkerMetrics()

    metrics.show_server_streams({("problematic", "a"): 3, ("problematic", "b"): 1})
    metrics.show_server_streams({("problematic", "a"): 4, ("incorrect", "b"): 2})

    def value(condition: str, server: str) -> float | None:
        labels = {"condition": condition, "server": server}
        return metrics.registry.get_sample_value(
            "stream_health_server_streams_in_condition", labels
        )

    assert value("problematic", "a") == 4
    assert value("problematic", "b") is None  # no longer in the condition: the series goes
    assert value("incorrect", "b") == 2
