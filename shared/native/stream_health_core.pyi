"""The compiled parts of stream-health's worker (shared/native/src): faster paths to results
the Python code also computes, and which the property tests compare with it."""

from collections.abc import Callable
from typing import Generic, TypeVar, final

_Event = TypeVar("_Event")

@final
class EventReader(Generic[_Event]):
    """Reads the common, plainly valid media-server stream events; None for the rest."""

    def __init__(
        self,
        event_type: Callable[..., _Event],
        kinds: dict[str, object],
        needs_state: str,
        max_int: int,
        earliest_ms: int,
        latest_ms: int,
    ) -> None: ...
    def read(self, value: bytes) -> _Event | None: ...

def state_change_value(
    namespace: bytes,
    uid: str,
    seq: int,
    stream_id: int | None,
    camera_id: int | None,
    server_id: int | None,
    conditions: tuple[str, ...],
    entered: tuple[str, ...],
    left: tuple[str, ...],
    reconnects: dict[str, int],
    cause: str,
    at_ms: int,
    emitted_ms: int,
) -> bytes:
    """The JSON of one state change, as orjson writes `outputs.state_change_document`."""

def event_id(server: str, pid: int, seq: int) -> int:
    """The 64-bit identity of (server, pid, seq)."""

def utc_millis(text: str) -> int | None:
    """The milliseconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp; None when it is not one."""
