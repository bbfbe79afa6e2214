"""Records the worker publishes: state changes (SPEC 2.5), dead letters (2.6), signals."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime

from stream_health import jsonbytes
from stream_health.db.outbox import Outgoing
from stream_health.domain.stream import StateChange
from stream_health_core import state_change_value
from stream_health_worker.schemas.signals import CountedReconnect, Recheck, encode_signal

# event_id = uuid5(namespace, "uid/seq"): the same change always has the same id.
CHANGE_NAMESPACE = uuid.UUID("0c4f6b1e-8f3a-5d59-9a43-6b1f2f0d7c11")


_NAMESPACE_BYTES = CHANGE_NAMESPACE.bytes
# 'YYYY-MM-DDTHH:MM:SS' of recent seconds: a change stamps two instants, mostly recent ones.
_SECONDS: dict[int, str] = {}


def iso_ms(at_ms: int) -> str:
    """ISO 8601 in UTC with milliseconds and a Z."""
    seconds, millis = divmod(at_ms, 1000)
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        prefix = datetime.fromtimestamp(seconds, tz=UTC).isoformat()[:19]
        _SECONDS[seconds] = prefix
    return f"{prefix}.{millis:03d}Z"


def change_event_id(uid: str, seq: int) -> str:
    """The stable id of a stream's `seq`-th change (consumers dedupe on it): uuid5 of
    "uid/seq" in CHANGE_NAMESPACE, computed as uuid.uuid5 does, without the UUID object."""
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + f"{uid}/{seq}".encode(), usedforsecurity=False).digest()[
            :16
        ]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def state_change(change: StateChange, *, topic: str, emitted_ms: int) -> Outgoing:
    """The state-change record, keyed by stream uid so a stream's changes stay in order.

    Its value is written by the compiled `state_change_value` (shared/native/src/changes.rs),
    byte for byte what orjson writes for `state_change_document`, in a seventh of its time.
    """
    facts = change.facts
    value = state_change_value(
        _NAMESPACE_BYTES,
        change.uid,
        change.seq,
        facts.stream_id,
        facts.camera_id,
        facts.server_id,
        change.conditions,
        change.entered,
        change.left,
        change.reconnects,
        change.cause,
        change.at_ms,
        emitted_ms,
    )
    return Outgoing(topic, change.uid.encode(), value)


def state_change_document(change: StateChange, *, emitted_ms: int) -> dict[str, object]:
    """The state-change record's document (SPEC 2.5): the reference model of its bytes."""
    facts = change.facts
    return {
        "event_id": change_event_id(change.uid, change.seq),
        "stream_id": facts.stream_id,
        "stream_uid": change.uid,
        "camera_id": facts.camera_id,
        "server_id": facts.server_id,
        "seq": change.seq,
        "conditions": list(change.conditions),
        "entered": list(change.entered),
        "left": list(change.left),
        "reconnects": change.reconnects,
        "cause": change.cause,  # a StrEnum: serialised as its value
        "at": iso_ms(change.at_ms),
        "emitted_at": iso_ms(emitted_ms),
    }


def _as_text(raw: bytes | None) -> tuple[str | None, str]:
    if raw is None:
        return None, "utf-8"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def dead_letter(
    *,
    topic: str,
    dlq_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    failed_ms: int,
) -> Outgoing:
    """The rejected record, whole, with the reason; keyed by its original key."""
    key_text, key_encoding = _as_text(key)
    value_text, value_encoding = _as_text(value)
    document = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key_text,
        "value": value_text,
        "error": error,
        "failed_at": iso_ms(failed_ms),
        "key_encoding": key_encoding,
        "value_encoding": value_encoding,
    }
    return Outgoing(dlq_topic, key, jsonbytes.dumps(document))


def signal(signal: Recheck | CountedReconnect, *, topic: str) -> Outgoing:
    """A signal for the owner of `signal.uid`, keyed like that uid's media events."""
    return Outgoing(topic, signal.uid.encode(), encode_signal(signal))
