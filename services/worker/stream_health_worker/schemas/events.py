"""Media-server events (SPEC 2.1): the webhook envelope, validated, reduced to what counts."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from stream_health_worker.schemas.errors import Rejected

Uid = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class EventKind(StrEnum):
    """The event types the worker acts on; any other is skipped and counted."""

    RECONNECT = "stream:reconnect"
    STATE = "stream:state"
    CREATE = "stream:create"
    DELETE = "stream:delete"
    PULSE = "service:pulse"
    UP = "service:up"
    DOWN = "service:down"


STREAM_KINDS = frozenset({EventKind.RECONNECT, EventKind.STATE, EventKind.CREATE, EventKind.DELETE})
_KINDS = {k.value: k for k in EventKind}


class _Reconnects(BaseModel):
    model_config = ConfigDict(extra="ignore")

    attempt: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)


class _StreamData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uid: Uid
    state: str | None = Field(default=None, max_length=64)
    reconnects: _Reconnects | None = None


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: str = Field(min_length=1, max_length=64)
    server: str = Field(min_length=1, max_length=253)
    pid: int
    seq: int
    timestamp: AwareDatetime | float
    # One pass: stream data validates here; anything else (a pulse's statistics) stays a dict.
    data: Annotated[_StreamData | dict[str, Any] | None, Field(union_mode="left_to_right")] = None


class MediaEvent(NamedTuple):
    """A valid event: `uid` for stream events, `extra` for a pulse's statistics."""

    kind: EventKind
    server: str
    at_ms: int
    event_id: int
    uid: str | None = None
    state: str | None = None
    attempt: int | None = None
    total: int | None = None
    extra: dict[str, Any] | None = None


def event_id(server: str, pid: int, seq: int) -> int:
    """The 64-bit identity of (server, pid, seq): a repeat has the same one."""
    digest = hashlib.blake2b(f"{server}\x00{pid}\x00{seq}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _ms(timestamp: datetime | float) -> int:
    if isinstance(timestamp, datetime):
        return int(timestamp.timestamp() * 1000)
    return int(timestamp * 1000)


def _reason(error: ValidationError, prefix: str = "") -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{prefix}{where}: {first['msg']}"


def parse_event(value: bytes | None) -> MediaEvent | str:
    """The event, or the name of an event type the worker skips; Rejected when invalid."""
    if value is None:
        raise Rejected("value: a media-server event cannot be null")
    try:
        envelope = _Envelope.model_validate_json(value)
    except ValidationError as error:
        raise Rejected(_reason(error)) from None
    kind = _KINDS.get(envelope.event)
    if kind is None:
        return envelope.event
    at_ms = _ms(envelope.timestamp)
    if at_ms < 0:
        raise Rejected("timestamp: before 1970")
    identity = event_id(envelope.server, envelope.pid, envelope.seq)
    if kind not in STREAM_KINDS:
        extra = envelope.data if isinstance(envelope.data, dict) else None
        return MediaEvent(kind, envelope.server.lower(), at_ms, identity, extra=extra)
    data = envelope.data
    if not isinstance(data, _StreamData):
        try:  # validate again only to say why
            data = _StreamData.model_validate(data)
        except ValidationError as error:
            raise Rejected(_reason(error, "data.")) from None
    if kind is EventKind.STATE and data.state is None:
        raise Rejected("data.state: Field required for stream:state")
    counters = data.reconnects
    return MediaEvent(
        kind,
        envelope.server.lower(),
        at_ms,
        identity,
        uid=data.uid.lower(),  # canonical, as inventory stores it (keys are lowercase uuids)
        state=data.state,
        attempt=counters.attempt if counters else None,
        total=counters.total if counters else None,
    )
