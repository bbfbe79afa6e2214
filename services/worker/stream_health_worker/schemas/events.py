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

from stream_health_core import EventReader
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


# Epoch seconds of the 'YYYY-MM-DDTHH:MM:SS' prefixes of recent timestamps: events of one
# second share it, so the common form ('.mmmZ') is parsed with a lookup and three digits.
_SECONDS: dict[str, int | None] = {}
_DIGITS = frozenset("0123456789")


def _utc_seconds(prefix: str) -> int | None:
    """Epoch seconds of `prefix` read as UTC; None when it is not a plain date and time."""
    found = _SECONDS.get(prefix, -1)
    if found != -1:
        return found
    if len(_SECONDS) >= 4096:
        _SECONDS.clear()
    seconds = _plain_ms(prefix + "Z")  # the general path: checked and read as fromisoformat
    found = _SECONDS[prefix] = None if seconds is None else seconds // 1000
    return found


def _plain_ms(timestamp: Any) -> int | None:
    kind = type(timestamp)
    if kind is float or kind is int:
        return (
            int(timestamp * 1000) if EARLIEST_MS // 1000 <= timestamp < LATEST_MS // 1000 else None
        )
    if kind is not str:
        return None
    if len(timestamp) == 24 and timestamp[19] == "." and timestamp[23] == "Z":
        millis = timestamp[20:23]
        seconds = _utc_seconds(timestamp[:19])
        if seconds is not None and _DIGITS.issuperset(millis):
            # As fromisoformat(...).timestamp() * 1000 computes it, float steps included.
            return int((seconds * 1_000_000 + int(millis) * 1000) / 1_000_000 * 1000)
    if _ISO.fullmatch(timestamp):
        return int(datetime.fromisoformat(timestamp).timestamp() * 1000)
    return None


class _Defer(Exception):  # noqa: N818 - control flow: leave this record to the validator
    """Not plainly valid: the validator decides (and says why)."""


def _plain_stream(kind: EventKind, data: Any) -> tuple[str, str | None, Any, Any]:
    if type(data) is not dict:
        raise _Defer
    uid, state, counters = data.get("uid"), data.get("state"), data.get("reconnects")
    if type(uid) is not str or not 0 < len(uid) <= 64 or uid != uid.strip():
        raise _Defer
    if state is None:
        if kind is _STATE:
            raise _Defer
    elif type(state) is not str or not 0 < len(state) <= 64:
        raise _Defer
    if counters is None:
        return uid, state, None, None
    if type(counters) is not dict:
        raise _Defer
    attempt, total = counters.get("attempt"), counters.get("total")
    if (attempt is not None and (type(attempt) is not int or not 0 <= attempt <= MAX_INT)) or (
        total is not None and (type(total) is not int or not 0 <= total <= MAX_INT)
    ):
        raise _Defer
    return uid, state, attempt, total


_STATE = EventKind.STATE  # enum members read through the class cost a descriptor call
_DATA = frozenset({dict, type(None)})  # the types `data` may plainly have


def _plain(value: bytes) -> MediaEvent | str | None:
    """The common, plainly valid event, without the validator; None defers to it.

    Accepts a subset of what the validator accepts and returns the same result, so
    anything unusual (and every error message) goes through the validator. Inline checks:
    this runs for every event.
    """
    try:
        return _plain_event(value)
    except (orjson.JSONDecodeError, _Defer, ValueError, OverflowError):  # the validator says why
        return None


def _plain_event(value: bytes) -> MediaEvent | str:
    if b"\\u0000" in value:  # a NUL somewhere: the validator names the field
        raise _Defer
    doc = orjson.loads(value)
    if type(doc) is not dict:
        raise _Defer
    event, server, pid, seq = doc.get("event"), doc.get("server"), doc.get("pid"), doc.get("seq")
    if (
        type(event) is not str
        or type(server) is not str
        or type(pid) is not int
        or type(seq) is not int
        or not 0 < len(event) <= 64
        or not 0 < len(server) <= 253
        or not 0 <= pid <= MAX_INT
        or not 0 <= seq <= MAX_INT
    ):
        raise _Defer
    at_ms = _plain_ms(doc.get("timestamp"))
    data = doc.get("data")
    if at_ms is None or not EARLIEST_MS <= at_ms < LATEST_MS or type(data) not in _DATA:
        raise _Defer
    kind = _KINDS.get(event)
    if kind is None:
        return event
    identity = event_id(server, pid, seq)
    if kind not in STREAM_KINDS:
        if data is not None and "uid" in data:
            # Statistics or stream data? The validator keeps it as statistics unless it is
            # valid stream data: let it decide.
            raise _Defer
        return MediaEvent(kind, server.lower(), at_ms, identity, extra=data)
    uid, state, attempt, total = _plain_stream(kind, data)
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


# The compiled reader (shared/native/src/events.rs) of the common stream events: a subset of
# `_plain` that returns the same results, a fifth of its time per event. `_plain` stays the
# reference model the property tests hold it to, and reads whatever it leaves (None).
_READER = EventReader(
    MediaEvent,
    {kind.value: kind for kind in STREAM_KINDS},
    EventKind.STATE.value,
    MAX_INT,
    EARLIEST_MS,
    LATEST_MS,
    reconnect_name=EventKind.RECONNECT.value,
)
_read = _READER.read
# Runs of plainly valid stream events, routed in one call: `Work.media_run`.
route_run = _READER.route_run


def parse_event(value: bytes | None) -> MediaEvent | str:
    """The event, or the name of an event type the worker skips; Rejected when invalid."""
    if value is None:
        raise Rejected("value: a media-server event cannot be null")
    event = _read(value)
    if event is not None:
        return event
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
