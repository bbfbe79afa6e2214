"""Media-server events (SPEC 2.1): the webhook envelope, validated, reduced to what counts."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from stream_health_worker.schemas.errors import (
    EARLIEST_MS,
    LATEST_MS,
    MAX_INT,
    Rejected,
    check_instant,
    has_nul,
    reason,
)


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:  # PostgreSQL text cannot hold it
        raise PydanticCustomError("nul", "contains a \\u0000 character")
    return value


NoNul = AfterValidator(_no_nul)
Uid = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True), NoNul]


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

    attempt: int | None = Field(default=None, strict=True, ge=0, le=MAX_INT)
    total: int | None = Field(default=None, strict=True, ge=0, le=MAX_INT)


class _StreamData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uid: Uid
    state: Annotated[str | None, NoNul] = Field(default=None, max_length=64)
    reconnects: _Reconnects | None = None


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: str = Field(min_length=1, max_length=64)
    server: Annotated[str, NoNul] = Field(min_length=1, max_length=253)
    pid: int = Field(strict=True, ge=0, le=MAX_INT)
    seq: int = Field(strict=True, ge=0, le=MAX_INT)
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


_MASK64 = (1 << 64) - 1
_SERVER_HASHES: dict[str, int] = {}


def event_id(server: str, pid: int, seq: int) -> int:
    """The 64-bit identity of (server, pid, seq): a repeat has the same one.

    The server's name is hashed once (a stable hash: ids are stored); pid and seq are mixed
    in with odd multipliers, so within one server process distinct seqs never collide.
    """
    hashed = _SERVER_HASHES.get(server)
    if hashed is None:
        if len(_SERVER_HASHES) > 65_536:
            _SERVER_HASHES.clear()
        digest = hashlib.blake2b(server.encode(), digest_size=8).digest()
        hashed = _SERVER_HASHES[server] = int.from_bytes(digest, "big")
    return (hashed ^ (pid * 0x9E3779B97F4A7C15) ^ (seq * 0xC2B2AE3D27D4EB4F)) & _MASK64


def _ms(timestamp: datetime | float) -> int:
    if isinstance(timestamp, datetime):
        return int(timestamp.timestamp() * 1000)
    if not math.isfinite(timestamp) or abs(timestamp) > LATEST_MS:
        return -1  # out of range either way, without overflowing
    return int(timestamp * 1000)


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def _plain_ms(timestamp: Any) -> int | None:
    kind = type(timestamp)
    if kind is float or kind is int:
        return (
            int(timestamp * 1000) if EARLIEST_MS // 1000 <= timestamp < LATEST_MS // 1000 else None
        )
    if kind is str and _ISO.fullmatch(timestamp):
        return int(datetime.fromisoformat(timestamp).timestamp() * 1000)
    return None


class _Defer(Exception):  # noqa: N818 - control flow: leave this record to the validator
    """Not plainly valid: the validator decides (and says why)."""


def _text(value: Any, limit: int) -> str:
    if type(value) is not str or not 0 < len(value) <= limit:
        raise _Defer
    return value


def _integer(value: Any, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise _Defer
    return value


def _plain_stream(kind: EventKind, data: Any) -> tuple[str, str | None, Any, Any]:
    if type(data) is not dict:
        raise _Defer
    uid, state, counters = _text(data.get("uid"), 64), data.get("state"), data.get("reconnects")
    if uid != uid.strip() or (state is None and kind is EventKind.STATE):
        raise _Defer
    if state is not None:
        _text(state, 64)
    if counters is None:
        return uid, state, None, None
    if type(counters) is not dict:
        raise _Defer
    attempt = _integer(counters.get("attempt"), optional=True)
    return uid, state, attempt, _integer(counters.get("total"), optional=True)


def _plain(value: bytes) -> MediaEvent | str | None:
    """The common, plainly valid event, without the validator; None defers to it.

    Accepts a subset of what the validator accepts and returns the same result, so
    anything unusual (and every error message) goes through the validator.
    """
    try:
        if b"\\u0000" in value:  # a NUL somewhere: the validator names the field
            raise _Defer
        doc = orjson.loads(value)
        if type(doc) is not dict:
            raise _Defer
        event, server = _text(doc.get("event"), 64), _text(doc.get("server"), 253)
        pid, seq = _integer(doc.get("pid")), _integer(doc.get("seq"))
        at_ms = _plain_ms(doc.get("timestamp"))
        if at_ms is None or not EARLIEST_MS <= at_ms < LATEST_MS:
            raise _Defer
        data = doc.get("data")
        if data is not None and type(data) is not dict:
            raise _Defer
        kind = _KINDS.get(event)
        if kind is None:
            return event
        identity = event_id(server, pid, seq)
        if kind not in STREAM_KINDS:
            extra = data if data is not None and "uid" not in data else None
            return MediaEvent(kind, server.lower(), at_ms, identity, extra=extra)
        uid, state, attempt, total = _plain_stream(kind, data)
    except (orjson.JSONDecodeError, _Defer, ValueError, OverflowError):  # the validator says why
        return None
    return MediaEvent(
        kind,
        server.lower(),
        at_ms,
        identity,
        uid=uid.lower(),
        state=state,
        attempt=attempt,
        total=total,
    )


def parse_event(value: bytes | None) -> MediaEvent | str:
    """The event, or the name of an event type the worker skips; Rejected when invalid."""
    if value is None:
        raise Rejected("value: a media-server event cannot be null")
    plain = _plain(value)
    if plain is not None:
        return plain
    return _validated(value)


def _validated(value: bytes) -> MediaEvent | str:
    """The event through the validator: slower, and says why a record is invalid."""
    try:
        envelope = _Envelope.model_validate_json(value)
    except ValidationError as error:
        raise Rejected(reason(error)) from None
    kind = _KINDS.get(envelope.event)
    if kind is None:
        return envelope.event
    at_ms = check_instant(_ms(envelope.timestamp), "timestamp")
    identity = event_id(envelope.server, envelope.pid, envelope.seq)
    if kind not in STREAM_KINDS:
        extra = envelope.data if isinstance(envelope.data, dict) else None
        if extra is not None and has_nul(extra):
            raise Rejected("data: contains a \\u0000 character")
        return MediaEvent(kind, envelope.server.lower(), at_ms, identity, extra=extra)
    data = envelope.data
    if not isinstance(data, _StreamData):
        try:  # validate again only to say why
            data = _StreamData.model_validate(data)
        except ValidationError as error:
            raise Rejected(reason(error, "data.")) from None
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
