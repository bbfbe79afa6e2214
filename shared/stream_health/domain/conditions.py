"""Condition rules as the domain sees them: integers in milliseconds, no parsing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Threshold:
    """Enter at `reconnects` within `period_ms`; once in, leave below `clear_below`."""

    reconnects: int
    period_ms: int
    clear_below: int

    def __post_init__(self) -> None:
        if self.reconnects < 1:
            raise ValueError("reconnects must be at least 1")
        if self.period_ms < 1:
            raise ValueError("period_ms must be positive")
        if not 1 <= self.clear_below <= self.reconnects:
            raise ValueError("clear_below must be between 1 and reconnects")


@dataclass(frozen=True, slots=True)
class ReconnectCondition:
    """Holds while enough reconnections fall within a sliding period."""

    name: str
    normal: Threshold
    increased: Threshold | None = None

    def threshold(self, *, increased_reconnect: bool) -> Threshold:
        """The thresholds for a stream whose camera has (or lacks) increased reconnect time."""
        if increased_reconnect and self.increased is not None:
            return self.increased
        return self.normal

    @property
    def longest_period_ms(self) -> int:
        """The longest window this condition can need."""
        periods = [self.normal.period_ms]
        if self.increased is not None:
            periods.append(self.increased.period_ms)
        return max(periods)

    @property
    def most_reconnects(self) -> int:
        """The most timestamps this condition can need to remember."""
        counts = [self.normal.reconnects]
        if self.increased is not None:
            counts.append(self.increased.reconnects)
        return max(counts)


@dataclass(frozen=True, slots=True)
class StateCondition:
    """Holds while the media server reports the stream in `stream_state`."""

    name: str
    stream_state: str


Condition = ReconnectCondition | StateCondition


@dataclass(frozen=True, slots=True)
class ConditionSet:
    """The configured conditions, in configuration order."""

    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.conditions]
        if len(set(names)) != len(names):
            raise ValueError("condition names must be unique")

    @property
    def names(self) -> tuple[str, ...]:
        """The configured names, in order."""
        return tuple(c.name for c in self.conditions)

    @property
    def reconnect_conditions(self) -> tuple[ReconnectCondition, ...]:
        """The conditions that count reconnections."""
        return tuple(c for c in self.conditions if isinstance(c, ReconnectCondition))

    @property
    def longest_period_ms(self) -> int:
        """The longest window any condition needs (0 when none counts reconnections)."""
        return max((c.longest_period_ms for c in self.reconnect_conditions), default=0)


def conditions_to_data(conditions: ConditionSet) -> list[dict[str, object]]:
    """A JSON-able form of the conditions, to remember what streams were judged by."""
    data: list[dict[str, object]] = []
    for c in conditions.conditions:
        if isinstance(c, StateCondition):
            data.append({"name": c.name, "stream_state": c.stream_state})
            continue
        item: dict[str, object] = {"name": c.name, "normal": _threshold_data(c.normal)}
        if c.increased is not None:
            item["increased"] = _threshold_data(c.increased)
        data.append(item)
    return data


def conditions_from_data(data: list[dict[str, Any]]) -> ConditionSet:
    """The conditions `conditions_to_data` wrote."""
    items: list[Condition] = []
    for item in data:
        if "stream_state" in item:
            items.append(StateCondition(item["name"], item["stream_state"]))
            continue
        increased = item.get("increased")
        items.append(
            ReconnectCondition(
                item["name"],
                Threshold(**item["normal"]),
                Threshold(**increased) if increased is not None else None,
            )
        )
    return ConditionSet(tuple(items))


def _threshold_data(threshold: Threshold) -> dict[str, int]:
    return {
        "reconnects": threshold.reconnects,
        "period_ms": threshold.period_ms,
        "clear_below": threshold.clear_below,
    }
