"""A consumer record as the worker's batch code reads it, for feeding it without Kafka."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
