"""The compiled parts of stream-health's worker (shared/native/src): faster paths to results
the Python code also computes, and which the property tests compare with it."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Self, TypeVar, final

_Event = TypeVar("_Event")
_Record = TypeVar("_Record")

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
        *,
        reconnect_name: str = "stream:reconnect",
    ) -> None: ...
    def read(self, value: bytes) -> _Event | None: ...
    def route_run(
        self,
        records: list[Any],
        start: int,
        topic: str,
        now_ms: int,
        max_skew_ms: int,
        ops: list[tuple[int, str, Any]],
        wanted: dict[int, set[str]],
        latest: dict[str, tuple[int, Any]],
        applied: dict[tuple[str, str], int],
    ) -> tuple[int, int]:
        """`records[start:]` of `topic` routed as `Work.media_event` does while `read` takes
        their values: (index of the first left to Python, how many times were clamped)."""

class WindowState:
    """A stream window's storage (`stream_health.domain.stream.StreamWindow` subclasses it
    with defaults): each field as a slotted dataclass's attribute; equal when all are."""

    uid: str
    stamps: bytes
    last_reconnect_ms: int | None
    server_state: str | None
    server_state_version: int
    present: bool
    presence_version: int
    deleted_ms: int
    reconnect_attempt: int | None
    reconnect_total: int | None
    counters_version: int
    facts: Any
    conditions: frozenset[str]
    seq: int

    def __new__(
        cls,
        uid: str,
        stamps: bytes,
        last_reconnect_ms: int | None,
        server_state: str | None,
        server_state_version: int,
        present: bool,
        presence_version: int,
        deleted_ms: int,
        reconnect_attempt: int | None,
        reconnect_total: int | None,
        counters_version: int,
        facts: Any,
        conditions: frozenset[str],
        seq: int,
        /,
    ) -> Self: ...

@final
class Timer:
    """The window owner's timer: per partition, each stream's next wake-up."""

    def __init__(self, stale_share: int, stale_floor: int) -> None: ...
    def reset(self, partition: int) -> None: ...
    def drop_partition(self, partition: int) -> None: ...
    def doubt(self, partition: int) -> None: ...
    def schedule(self, partition: int, uid: str, instant: int | None) -> None: ...
    def due(self, now_ms: int, owned: set[int]) -> dict[int, set[str]]: ...
    def compact(self) -> None: ...
    @property
    def current(self) -> int: ...
    def __len__(self) -> int: ...

@final
class CompiledRules:
    """A `Rules` read once, for the domain's steps that run for most events."""

    def __init__(self, rules: Any, change: Callable[..., Any], cause: Any) -> None: ...
    def reconnect(
        self,
        window: Any,
        at_ms: int,
        event_id: int,
        now_ms: int,
        attempt: int | None,
        total: int | None,
    ) -> Any:
        """A reconnection (with its counters, None: none) when nothing drains before it: True
        for a repeat, False when applied and nothing changed, the `StateChange` (made by
        `change`, cause RECONNECT) when it entered conditions; None (window untouched) for the
        domain."""

    def server_state(
        self,
        window: Any,
        at_ms: int,
        event_id: int,
        now_ms: int,
        state: str,
        attempt: int | None,
        total: int | None,
    ) -> Any:
        """A state report (with its counters) when nothing drains before it: True for a
        repeat, False when applied (or older than the state held) and nothing changed, the
        `StateChange` (cause STREAM_STATE) when conditions changed; None for the domain."""

    def apply_run(
        self,
        ops: list[tuple[int, str, Any]],
        start: int,
        windows: dict[int, dict[str, Any]],
        now_ms: int,
        dirty: dict[int, set[str]],
        changes: list[Any],
        event_type: type,
        reconnect: Any,
        state: Any,
    ) -> tuple[int, int]:
        """`ops[start:]` (partition, uid, event) applied in order while each is an
        `event_type` of kind `reconnect` or `state` that `reconnect` / `server_state` take,
        on `windows[partition][uid]`: changed windows join `dirty[partition]`, changes join
        `changes`. Returns the index of the first op left to Python and the repeats met."""

    def next_wake_ms(self, window: Any, after_ms: int) -> int | None:
        """`classify.next_wake_ms(window, rules, after_ms=after_ms)`."""
    def rows(
        self,
        dirty: dict[int, set[str]],
        windows: dict[int, dict[str, Any]],
        timer: Timer,
        now_ms: int,
    ) -> list[tuple[int, Any, int | None]]:
        """Per window of `dirty`: its next wake-up after `now_ms`, scheduled on `timer` under
        the window's own uid, and (partition, window, wake-up); then `timer.compact()`."""

def first_offsets(records: Iterable[Any]) -> dict[tuple[str, int], int]:
    """Each (topic, partition) of `records` and its lowest offset there."""

def missing(
    wanted: Mapping[int, Iterable[str]], windows: Mapping[int, Mapping[str, Any]]
) -> list[tuple[int, str]]:
    """The (partition, uid) pairs of `wanted` that `windows` does not hold, in order."""

def add_own_uids(into: set[str], uids: Iterable[str], windows: Mapping[str, Any]) -> None:
    """Add each uid to `into` as its window in `windows` holds it (`window.uid`), else as
    given."""

def fresh(
    records: Iterable[_Record],
    stored: Mapping[tuple[str, int], tuple[int, ...]],
    next_offsets: dict[tuple[str, int], int],
    skipped: dict[str, int],
) -> list[_Record]:
    """The records at or past `max(stored[tp][0], next_offsets.get(tp, 0))`, in order; the
    others count in `skipped[topic]`; a kept one moves `next_offsets[tp]` past it."""

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

def window_copy(items: list[tuple[int, Any, int | None]]) -> bytes:
    """PostgreSQL binary COPY data of (partition, window, drain instant) rows, in the
    columns of stream_windows."""

def event_id(server: str, pid: int, seq: int) -> int:
    """The 64-bit identity of (server, pid, seq)."""

def utc_millis(text: str) -> int | None:
    """The milliseconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp; None when it is not one."""

def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data`, unsigned (stream_health.kafka.partitioning.murmur2)."""

def partition_index(key: bytes, count: int) -> int:
    """The position, among `count` partitions, the default partitioner picks for `key`."""
