import os
from datetime import timedelta
from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from stream_health.config.settings import (
    LOCAL_DATABASE_URL,
    Settings,
    SettingsError,
    TopicNames,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAM_HEALTH_"):
            monkeypatch.delenv(name)


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings()

    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.database_url == LOCAL_DATABASE_URL
    assert settings.conditions is None
    assert settings.service_tokens == []
    assert settings.jwt_key is None
    assert settings.callback_allow == [ip_network("127.0.0.1/32"), ip_network("::1/128")]
    assert settings.topics.media_events == "mediaserver.events"
    assert settings.server_stale_after == timedelta(minutes=5)


def test_spec_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = "AB" * 32
    monkeypatch.setenv("STREAM_HEALTH_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("STREAM_HEALTH_DATABASE_URL", "postgresql://u:p@db:5432/sh")
    monkeypatch.setenv("STREAM_HEALTH_CONDITIONS", "/etc/stream-health/conditions.yaml")
    monkeypatch.setenv("STREAM_HEALTH_SERVICE_TOKENS", f"{digest}, {'cd' * 32}")
    monkeypatch.setenv("STREAM_HEALTH_JWT_KEY", "s3cret-key")
    monkeypatch.setenv("STREAM_HEALTH_CALLBACK_ALLOW", "10.1.0.0/16,fd00::/8")
    monkeypatch.setenv("STREAM_HEALTH_TOPICS__CHANGES", "custom.changes")

    settings = Settings()

    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/sh"
    assert str(settings.conditions) == "/etc/stream-health/conditions.yaml"
    assert settings.service_tokens == ["ab" * 32, "cd" * 32]
    assert settings.jwt_key is not None
    assert settings.jwt_key.get_secret_value() == "s3cret-key"
    assert "s3cret-key" not in repr(settings)  # secrets never print
    assert settings.callback_allow == [ip_network("10.1.0.0/16"), ip_network("fd00::/8")]
    assert settings.topics.changes == "custom.changes"
    assert settings.topics.media_events == "mediaserver.events"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("STREAM_HEALTH_SERVICE_TOKENS", "plain-token", "service_tokens"),
        ("STREAM_HEALTH_CALLBACK_ALLOW", "not-a-cidr", "callback_allow"),
        ("STREAM_HEALTH_DATABASE_URL", "mysql://db/x", "database_url"),
        ("STREAM_HEALTH_TOPIC_PARTITIONS", "0", "topic_partitions"),
        ("STREAM_HEALTH_MAX_FUTURE_SKEW", "soon", "max_future_skew"),
        ("STREAM_HEALTH_SERVER_STALE_AFTER", "0", "server_stale_after"),
        ("STREAM_HEALTH_LIST_FLUSH_INTERVAL", "-2s", "list_flush_interval"),
        ("STREAM_HEALTH_LIST_FLUSH_INTERVAL", "0s", "list_flush_interval"),
        ("STREAM_HEALTH_SERVER_STALE_AFTER", "PT0S", "server_stale_after"),
        ("STREAM_HEALTH_LIST_CACHE_TTL", "-1", "list_cache_ttl"),
        ("STREAM_HEALTH_LIST_CACHE_TTL", "soon", "list_cache_ttl"),
        ("STREAM_HEALTH_LIST_CACHE_MAX_LAG", "-1s", "list_cache_max_lag"),
        ("STREAM_HEALTH_BATCH_RECORDS", "0", "batch_records"),
        ("STREAM_HEALTH_FETCH_PARTITION_BYTES", "1024", "fetch_partition_bytes"),
    ],
)
def test_invalid_environment_names_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as caught:
        Settings()

    assert caught.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("300", 300), ("1.5", 1.5), (" 90 ", 90), ("40s", 40), ("10m", 600), ("PT5M", 300)],
)
def test_durations_from_the_environment_read_as_seconds_or_periods(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_MAX_FUTURE_SKEW", value)
    monkeypatch.setenv("STREAM_HEALTH_LIST_FLUSH_INTERVAL", value)

    settings = Settings()

    assert settings.max_future_skew.total_seconds() == seconds
    assert settings.list_flush_interval.total_seconds() == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 60), ("0", 0), ("0s", 0), ("PT0S", 0), ("2.5", 2.5), ("2s", 2)],
)
def test_the_list_cache_ttl_defaults_to_a_minute_and_zero_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: float
) -> None:
    if value is not None:
        monkeypatch.setenv("STREAM_HEALTH_LIST_CACHE_TTL", value)

    assert Settings().list_cache_ttl.total_seconds() == seconds


@pytest.mark.parametrize(("value", "seconds"), [(None, 0), ("5", 5), ("PT2S", 2)])
def test_the_list_cache_max_lag_defaults_to_none(
    monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: float
) -> None:
    if value is not None:
        monkeypatch.setenv("STREAM_HEALTH_LIST_CACHE_MAX_LAG", value)

    assert Settings().list_cache_max_lag.total_seconds() == seconds


def test_compacted_topics_are_the_snapshot_topics() -> None:
    topics = Settings().topics

    assert set(topics.compacted) == {
        "vms.inventory.streams",
        "vms.inventory.cameras",
        "vms.inventory.servers",
        "orchestrator.jobs",
    }
    assert topics.changes not in topics.inputs
    assert topics.dlq not in topics.inputs


def test_load_settings_names_variables_and_hides_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAM_HEALTH_DATABASE_URL", "mysql://admin:hunter2@db/x")
    monkeypatch.setenv("STREAM_HEALTH_TOPICS__DLQ", "no spaces allowed")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert "STREAM_HEALTH_DATABASE_URL: must be a PostgreSQL DSN" in message
    assert "STREAM_HEALTH_TOPICS__DLQ: a topic name is" in message
    assert "hunter2" not in message
    assert caught.value.__cause__ is None  # pydantic's error (which quotes input) is not chained
    assert caught.value.__suppress_context__


def test_topic_names_must_be_distinct() -> None:
    with pytest.raises(ValidationError, match="its own name"):
        TopicNames(changes="mediaserver.events")


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("kafka-1:9092, kafka-2:9093", "kafka-1:9092,kafka-2:9093"),
        ("kafka", "kafka"),  # the client's default port
        ("[::1]:9092", "[::1]:9092"),
    ],
)
def test_kafka_bootstrap_accepts_host_port_lists(value: str, normalised: str) -> None:
    assert Settings(kafka_bootstrap=value).kafka_bootstrap == normalised


def test_log_level_is_any_case_of_a_logging_level() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
