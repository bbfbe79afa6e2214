"""One stream's state as the window owner holds it, and the rules it is judged by."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stream_health.domain import window
from stream_health.domain.conditions import (
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)
from stream_health_core import WindowState

ANY_CONDITION = "*"  # not a valid condition name: the list's "in any condition"

# What a stream is judged by, per condition in configuration order: (name, the stream state
# it matches, None) for a state condition, (name, None, thresholds) for a reconnect condition.
Judge = tuple[str, str | None, Threshold | None]


class Cause(StrEnum):
    """Why a stream's set of conditions changed (SPEC 2.5)."""

    RECONNECT = "reconnect"
    WINDOW_DRAINED = "window_drained"
    STREAM_STATE = "stream_state"
    ANALYTICS = "analytics"
    INVENTORY = "inventory"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """What inventory says about a stream; the defaults are those of an unknown stream."""

    stream_id: int | None = None
    camera_id: int | None = None
    server_id: int | None = None
    enabled: bool = True  # the stream's is_enabled: an admin switch
    increased: bool = False  # the camera's is_increased_reconnect
    managed: bool = True  # the server's is_stream_condition_management_enabled


UNKNOWN = StreamFacts()


@dataclass(frozen=True, slots=True)
class Rules:
    """The configured conditions plus the clock tolerance, with what follows from them."""

    conditions: ConditionSet
    max_future_skew_ms: int = 5 * 60 * 1000
    capacity: int = field(init=False)
    reconnect_conditions: tuple[ReconnectCondition, ...] = field(init=False)
    # (name, normal, increased) per reconnect condition: read for every event.
    reconnect_thresholds: tuple[tuple[str, Threshold, Threshold | None], ...] = field(init=False)
    names: tuple[str, ...] = field(init=False)
    reconnect_names: frozenset[str] = field(init=False)
    # Indexed by the camera's is_increased_reconnect (False: 0, True: 1): the thresholds in
    # force, per reconnect condition (name, thresholds) and per condition (Judge); and the
    # longest period among them (0 when no condition counts reconnections).
    effective: tuple[tuple[tuple[str, Threshold], ...], ...] = field(init=False)
    judges: tuple[tuple[Judge, ...], ...] = field(init=False)
    longest_ms: tuple[int, int] = field(init=False)
    _sets: dict[tuple[str, ...], frozenset[str]] = field(init=False, repr=False, compare=False)
    _periods: dict[tuple[frozenset[str], bool], tuple[int, ...]] = field(
        init=False, repr=False, compare=False
    )
    _layouts: dict[tuple[frozenset[str], bool], tuple[tuple[str, ...], tuple[int | None, ...]]] = (
        field(init=False, repr=False, compare=False)
    )

    def __post_init__(self) -> None:
        reconnect = self.conditions.reconnect_conditions
        object.__setattr__(self, "reconnect_conditions", reconnect)
        object.__setattr__(self, "capacity", max((c.most_reconnects for c in reconnect), default=0))
        thresholds = tuple((c.name, c.normal, c.increased) for c in reconnect)
        object.__setattr__(self, "reconnect_thresholds", thresholds)
        object.__setattr__(self, "_sets", {})
        object.__setattr__(self, "_periods", {})
        object.__setattr__(self, "_layouts", {})
        object.__setattr__(self, "names", self.conditions.names)
        object.__setattr__(self, "reconnect_names", frozenset(c.name for c in reconnect))
        effective = tuple(
            tuple((c.name, c.threshold(increased_reconnect=kind)) for c in reconnect)
            for kind in (False, True)
        )
        object.__setattr__(self, "effective", effective)
        judges = tuple(
            tuple(
                (c.name, c.stream_state, None)
                if isinstance(c, StateCondition)
                else (c.name, None, c.threshold(increased_reconnect=kind))
                for c in self.conditions.conditions
            )
            for kind in (False, True)
        )
        object.__setattr__(self, "judges", judges)
        longest = tuple(max((t.period_ms for _, t in e), default=0) for e in effective)
        object.__setattr__(self, "longest_ms", longest)

    def interned(self, names: list[str]) -> frozenset[str]:
        """One shared frozenset per distinct set of names (streams hold few distinct sets)."""
        key = tuple(names)
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = frozenset(names)
        return found

    def shown_periods(self, held: frozenset[str], increased: bool) -> tuple[int, ...]:
        """The distinct periods of the counts the admin list shows for a stream in `held`
        (`listed_layout`'s, the longest standing for those that show it)."""
        key = (held, increased)
        found = self._periods.get(key)
        if found is None:
            longest = self.longest_ms[increased]
            _, periods = self.listed_layout(held, increased)
            shown = (longest if period is None else period for period in periods)
            found = self._periods[key] = tuple(dict.fromkeys(shown))
        return found

    def listed_layout(
        self, held: frozenset[str], increased: bool
    ) -> tuple[tuple[str, ...], tuple[int | None, ...]]:
        """The names the admin list shows a stream in `held` under (each held condition, then
        ANY_CONDITION), and the period of each one's count: a held reconnect condition's own,
        None for the others (they show the count in the longest period). One pair of tuples
        per distinct `held`, shared by every stream in it."""
        key = (held, increased)
        found = self._layouts.get(key)
        if found is None:
            own = dict(self.effective[increased])
            names = (*held, ANY_CONDITION)
            periods = tuple(own[n].period_ms if n in own else None for n in names)
            found = self._layouts[key] = (names, periods)
        return found

    def clamp(self, at_ms: int, *, now_ms: int) -> tuple[int, bool]:
        """An event time, clamped to now when too far ahead; and whether it was."""
        if at_ms > now_ms + self.max_future_skew_ms:
            return now_ms, True
        return max(at_ms, 0), False


def version(at_ms: int, event_id: int) -> int:
    """An order on events: by time, then by id (last writer wins on this)."""
    return (at_ms << 64) | event_id


class StreamWindow(WindowState):
    """Everything the owner keeps per stream; memory stays bounded by the rules' capacity.

    Its storage is compiled (shared/native/src/window.rs): the integers live in the object,
    not in int objects of their own. The attributes read and write as those of a slotted
    dataclass; equal when every field is.
    """

    __slots__ = ()

    facts: StreamFacts  # the storage holds any object (shared/native/stream_health_core.pyi)

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as the dataclass was

    def __new__(
        cls,
        uid: str,
        *,
        stamps: bytes = window.EMPTY,
        last_reconnect_ms: int | None = None,
        server_state: str | None = None,
        server_state_version: int = -1,
        present: bool = True,
        presence_version: int = -1,
        deleted_ms: int = -1,
        reconnect_attempt: int | None = None,
        reconnect_total: int | None = None,
        counters_version: int = -1,
        facts: StreamFacts = UNKNOWN,
        conditions: frozenset[str] = frozenset(),
        seq: int = 0,
    ) -> StreamWindow:
        return super().__new__(
            cls,
            uid,
            stamps,
            last_reconnect_ms,
            server_state,
            server_state_version,
            present,
            presence_version,
            deleted_ms,
            reconnect_attempt,
            reconnect_total,
            counters_version,
            facts,
            conditions,
            seq,
        )

    @property
    def eligible(self) -> bool:
        """Whether the stream may be in any condition at all (SPEC 2.2)."""
        return self.present and self.facts.enabled and self.facts.managed

    def fields(self) -> dict[str, Any]:
        """Every field by name, in declaration order."""
        return {name: getattr(self, name) for name in WINDOW_FIELDS}

    def replace(self, **changes: Any) -> StreamWindow:
        """A copy, with `changes` (as `dataclasses.replace`)."""
        return StreamWindow(**(self.fields() | changes))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.fields().items())
        return f"StreamWindow({shown})"


WINDOW_FIELDS = (
    "uid",
    "stamps",
    "last_reconnect_ms",
    "server_state",
    "server_state_version",
    "present",
    "presence_version",
    "deleted_ms",
    "reconnect_attempt",
    "reconnect_total",
    "counters_version",
    "facts",
    "conditions",
    "seq",
)


@dataclass(frozen=True, slots=True)
class StateChange:
    """A change of one stream's set of conditions (SPEC 2.5), before it is serialised."""

    uid: str
    seq: int
    conditions: tuple[str, ...]
    entered: tuple[str, ...]
    left: tuple[str, ...]
    reconnects: dict[str, int]
    cause: Cause
    at_ms: int
    facts: StreamFacts
