"""Internal signals for a stream's window owner, on a topic co-partitioned with media events.

Whatever concerns a stream's window but arrives keyed by something else (an inventory change
keyed by stream id, an orchestrator callback keyed by job uid) is re-keyed by stream uid onto
`stream-health.signals`, so the one owner of that uid's partition applies it (SPEC 5).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from stream_health import jsonbytes
from stream_health.domain.stream import Cause
from stream_health_worker.schemas.errors import Rejected, reason
from stream_health_worker.schemas.events import Uid


class Recheck(BaseModel):
    """Inventory changed something about the stream: re-read its facts from PostgreSQL."""

    model_config = ConfigDict(frozen=True)

    type: Literal["recheck"] = "recheck"
    uid: Uid


class CountedReconnect(BaseModel):
    """A reconnection reported by another source (an analytics DOWN), with a stable id."""

    model_config = ConfigDict(frozen=True)

    type: Literal["reconnect"] = "reconnect"
    uid: Uid
    at_ms: int = Field(ge=0)
    event_id: int = Field(ge=0, lt=1 << 64)
    cause: Cause = Cause.ANALYTICS


Signal = Annotated[Recheck | CountedReconnect, Field(discriminator="type")]
_SIGNAL: TypeAdapter[Recheck | CountedReconnect] = TypeAdapter(Signal)


def parse_signal(value: bytes | None) -> Recheck | CountedReconnect:
    """The signal in a record of the signals topic; Rejected when it is not one."""
    if value is None:
        raise Rejected("value: a signal cannot be null")
    try:
        return _SIGNAL.validate_json(value)
    except ValidationError as error:
        raise Rejected(reason(error)) from None


def encode_signal(signal: Recheck | CountedReconnect) -> bytes:
    """The record value for a signal."""
    return jsonbytes.dumps(signal.model_dump(mode="json"))
