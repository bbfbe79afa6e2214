"""Which conditions a stream is in at an instant, and when its window next drains."""

from __future__ import annotations

from stream_health.domain import window
from stream_health.domain.conditions import ReconnectCondition, StateCondition
from stream_health.domain.stream import Rules, StreamWindow


def reconnect_counts(stream: StreamWindow, rules: Rules, *, at_ms: int) -> dict[str, int]:
    """The reconnections in each reconnect condition's window at `at_ms`."""
    increased = stream.facts.increased
    return {
        c.name: window.count_after(
            stream.stamps, at_ms - c.threshold(increased_reconnect=increased).period_ms
        )
        for c in rules.reconnect_conditions
    }


def classify(stream: StreamWindow, rules: Rules, *, at_ms: int) -> frozenset[str]:
    """The conditions held at `at_ms`, given those held before (for `clear_below`)."""
    if not stream.eligible:
        return frozenset()
    held: list[str] = []
    for condition in rules.conditions.conditions:
        if isinstance(condition, StateCondition):
            if stream.server_state == condition.stream_state:
                held.append(condition.name)
        elif _reconnects_hold(stream, condition, at_ms=at_ms):
            held.append(condition.name)
    return frozenset(held)


def _reconnects_hold(stream: StreamWindow, condition: ReconnectCondition, *, at_ms: int) -> bool:
    threshold = condition.threshold(increased_reconnect=stream.facts.increased)
    needed = threshold.clear_below if condition.name in stream.conditions else threshold.reconnects
    if window.size(stream.stamps) < needed:
        return False
    # At least `needed` entries after at_ms - period <=> the needed-th newest is after it.
    return window.stamp_ms(stream.stamps, needed - 1) > at_ms - threshold.period_ms


def next_drain_ms(stream: StreamWindow, rules: Rules) -> int | None:
    """The first instant at which a held reconnect condition stops holding, if any.

    Counts only fall as time passes, so no condition can be entered without an event: the
    earliest leave of a held one is the only instant the stream changes on its own.
    """
    earliest: int | None = None
    increased = stream.facts.increased
    for condition in rules.reconnect_conditions:
        if condition.name not in stream.conditions:
            continue
        threshold = condition.threshold(increased_reconnect=increased)
        index = threshold.clear_below - 1
        if window.size(stream.stamps) <= index:
            continue  # cannot hold now; the next classification removes it
        leaves = window.stamp_ms(stream.stamps, index) + threshold.period_ms
        if earliest is None or leaves < earliest:
            earliest = leaves
    return earliest
