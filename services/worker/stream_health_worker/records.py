"""Name what a raw input record is, without trusting its content."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

import orjson

from stream_health.config.settings import TopicNames


class RawRecord(Protocol):
    """The fields of a Kafka consumer record the worker reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class TopicRole(StrEnum):
    """What a consumed topic carries."""

    MEDIA_EVENTS = "media_events"
    SNAPSHOTS = "snapshots"
    CALLBACKS = "callbacks"
    SIGNALS = "signals"


def topic_roles(topics: TopicNames) -> dict[str, TopicRole]:
    """Each input topic's role."""
    roles = dict.fromkeys(topics.compacted, TopicRole.SNAPSHOTS)
    roles[topics.media_events] = TopicRole.MEDIA_EVENTS
    roles[topics.orchestrator_callbacks] = TopicRole.CALLBACKS
    roles[topics.signals] = TopicRole.SIGNALS
    return roles


def record_type(role: TopicRole, value: bytes | None) -> str:
    """`stream:reconnect`, `snapshot`, `tombstone`, `callback`, or `unparseable`."""
    if role is TopicRole.SNAPSHOTS:
        return "tombstone" if value is None else "snapshot"
    if value is None:
        return "unparseable"
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "unparseable"
    if role is TopicRole.CALLBACKS:
        return "callback" if isinstance(document, dict) else "unparseable"
    event = document.get("event") if isinstance(document, dict) else None
    return event if isinstance(event, str) and 0 < len(event) <= 64 else "unparseable"
