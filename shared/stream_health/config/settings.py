"""Typed settings from the environment (SPEC section 6); built by a factory, never global."""

from __future__ import annotations

import re
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stream_health.config.conditions import load_conditions
from stream_health.config.durations import parse_duration_ms
from stream_health.domain.analytics import status_number
from stream_health.domain.conditions import ConditionSet

LOCAL_DATABASE_URL = "postgresql+asyncpg://stream_health:stream_health@127.0.0.1:5432/stream_health"
ENV_PREFIX = "STREAM_HEALTH_"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SECONDS = re.compile(r"^-?\d+(?:\.\d+)?$")


class SettingsError(ValueError):
    """The environment holds an invalid setting; the message names each variable and why."""


class TopicNames(BaseModel):
    """Every Kafka topic the product reads or writes (SPEC section 2)."""

    media_events: str = "mediaserver.events"
    inventory_streams: str = "vms.inventory.streams"
    inventory_cameras: str = "vms.inventory.cameras"
    inventory_servers: str = "vms.inventory.servers"
    orchestrator_jobs: str = "orchestrator.jobs"
    orchestrator_callbacks: str = "orchestrator.callbacks"
    changes: str = "stream-health.changes"
    dlq: str = "stream-health.dlq"
    # Internal: signals for a stream's window owner, keyed and partitioned like media events.
    signals: str = "stream-health.signals"

    @field_validator("*")
    @classmethod
    def _legal(cls, name: str) -> str:
        if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
            raise ValueError("a topic name is 1 to 249 of A-Z a-z 0-9 . _ -")
        return name

    @model_validator(mode="after")
    def _distinct(self) -> TopicNames:
        names = self.model_dump()
        if len(set(names.values())) != len(names):
            raise ValueError("every topic needs its own name (an output read as an input loops)")
        return self

    @property
    def inputs(self) -> tuple[str, ...]:
        """The topics the worker consumes."""
        return (
            self.inventory_servers,
            self.inventory_cameras,
            self.inventory_streams,
            self.orchestrator_jobs,
            self.media_events,
            self.signals,
            self.orchestrator_callbacks,
        )

    @property
    def owned_by_stream(self) -> tuple[str, ...]:
        """Topics keyed by stream uid and co-partitioned: one owner per stream across them."""
        return (self.media_events, self.signals)

    @property
    def compacted(self) -> tuple[str, ...]:
        """The snapshot topics, kept by key rather than by time."""
        return (
            self.inventory_streams,
            self.inventory_cameras,
            self.inventory_servers,
            self.orchestrator_jobs,
        )


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# A batch of 5,000 records costs a few MB in hand (records, their parsed events, window rows):
# at 10,000 the benchmark's worker peaked ~20 MiB higher, at no measured gain in speed.
BATCH_RECORDS = 5_000


class Settings(BaseSettings):
    """Everything configurable, each with the default of the local stack."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = LOCAL_DATABASE_URL
    conditions: Path | None = None
    service_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    jwt_key: SecretStr | None = None
    callback_allow: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32"), ip_network("::1/128")]
    )
    topics: TopicNames = Field(default_factory=TopicNames)
    topic_partitions: int = Field(default=12, ge=1, le=1024)
    consumer_group: str = Field(default="stream-health-worker", min_length=1, max_length=255)
    server_stale_after: timedelta = timedelta(minutes=5)
    max_future_skew: timedelta = timedelta(minutes=5)
    # How often the worker rewrites the admin-list rows of the windows it stored since.
    list_flush_interval: timedelta = timedelta(seconds=1)
    # While the worker works through a backlog (its batches come back full), the list waits
    # this long between flushes: it cannot be current then, and each flush slows the catch-up.
    list_backlog_interval: timedelta = timedelta(seconds=30)
    # The longest the api keeps a rendered list page for identical requests (0: not at all).
    # A page goes sooner, as soon as PostgreSQL reports a commit to the data it shows.
    list_cache_ttl: timedelta = timedelta(seconds=60)
    # How long after its query a kept page may still be served once the data under it changed
    # (0: never; a page goes with the change). Above 0 the list may trail its data by that much.
    list_cache_max_lag: timedelta = timedelta(0)
    # Records the worker applies per batch (one transaction), and the most it fetches ahead per
    # partition: smaller holds less in memory and applies fewer events per second
    # (bench/RESULTS.md, 2026-12-06 22:00 / 22:05).
    batch_records: int = Field(default=BATCH_RECORDS, ge=1, le=100_000)
    fetch_partition_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    expose_stream_credentials: bool = False
    # Callback statuses that count as a reconnection of the job's camera stream (SPEC 2.4).
    analytics_down_statuses: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [7])
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    worker_host: str = "127.0.0.1"
    worker_port: int = Field(default=8081, ge=1, le=65535)
    log_level: str = "INFO"
    # Tracing: STREAM_HEALTH_TRACING=1/0 decides; unset, an OTLP endpoint switches it on.
    tracing: bool | None = None
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        servers = [part.strip() for part in value.split(",")]
        for server in servers:
            host, _, port = server.rpartition(":") if ":" in server else (server, "", "9092")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port, comma-separated (e.g. kafka-1:9092)")
        return ",".join(servers)

    @field_validator(
        "server_stale_after",
        "max_future_skew",
        "list_flush_interval",
        "list_backlog_interval",
        "list_cache_ttl",
        "list_cache_max_lag",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        # From the environment a duration is text: plain seconds (`300`), or as periods are
        # written (`40s`, `5m`, ISO 8601 `PT5M`). pydantic alone reads only ISO 8601 there.
        if not isinstance(value, str):
            return value
        text = value.strip()
        if _SECONDS.match(text):
            return timedelta(seconds=float(text))
        try:
            # Zero passes here: each field's own validator says whether it may be zero.
            return timedelta(milliseconds=parse_duration_ms(text, allow_zero=True))
        except ValueError:  # its message quotes the value: settings errors never do
            raise ValueError(
                "must be a duration: seconds (300), 40s, 10m, 1h, 7d or ISO 8601 (PT5M)"
            ) from None

    @field_validator(
        "server_stale_after", "max_future_skew", "list_flush_interval", "list_backlog_interval"
    )
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration (seconds, or ISO 8601 such as PT5M)")
        return value

    @field_validator("list_cache_ttl", "list_cache_max_lag")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must be a duration of 0 (off) or more: seconds (1), 2s, PT1S")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str) -> str:
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value.removeprefix(prefix)
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a PostgreSQL DSN (postgresql://user:password@host:port/db)")
        return value

    @field_validator("service_tokens", mode="before")
    @classmethod
    def _digests(cls, value: Any) -> Any:
        digests = _split_commas(value)
        for digest in digests:
            if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
                raise ValueError("each service token is the SHA-256 hex digest of the token")
        return [d.lower() for d in digests]

    @field_validator("analytics_down_statuses", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> Any:
        numbers = []
        for status in _split_commas(value):
            number = status_number(status)
            if number is None:
                raise ValueError(f"not an orchestrator status: {status!r} (e.g. DOWN or 7)")
            numbers.append(number)
        return numbers

    @field_validator("callback_allow", mode="before")
    @classmethod
    def _cidrs(cls, value: Any) -> Any:
        return _split_commas(value)

    @property
    def tracing_enabled(self) -> bool:
        """Whether to export OpenTelemetry traces (the exporter reads OTEL_EXPORTER_OTLP_*)."""
        return self.tracing if self.tracing is not None else bool(self.otlp_endpoint)

    def secret_values(self) -> tuple[str, ...]:
        """Configured secrets that logs mask verbatim (a DSN's password is masked as a url)."""
        return (self.jwt_key.get_secret_value(),) if self.jwt_key is not None else ()

    def load_conditions(self) -> ConditionSet:
        """The configured `stream_conditions` (ConditionsError when the file is invalid)."""
        return load_conditions(self.conditions)


def describe_settings_error(error: ValidationError) -> list[str]:
    """One line per invalid setting, naming its variable; never the value (it may be secret)."""
    lines: dict[str, None] = {}
    for item in error.errors():
        names: list[str] = []
        for part in item["loc"]:  # field names, up to a list index or a union member's tag
            if not isinstance(part, str) or not part.isidentifier():
                break
            names.append(part)
        variable = ENV_PREFIX + "__".join(names).upper() if names else "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines[f"{variable}: {message}"] = None
    return list(lines)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI flags) on top.

    SettingsError when invalid: it names the variables, and does not chain pydantic's error,
    whose text repeats the input (a database password, a raw token) into tracebacks.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(describe_settings_error(exc))) from None
