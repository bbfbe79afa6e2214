"""Which conditions a stream is in at an instant, and when its window next drains.

These run for every event, so they read the packed window directly (see window.py for
the layout) rather than through helpers: the arithmetic is the same.
"""

from __future__ import annotations

from stream_health.domain import window
from stream_health.domain.conditions import StateCondition, Threshold
from stream_health.domain.stream import Rules, StreamWindow

_ENTRY = window.ENTRY_BYTES


def _threshold(normal: Threshold, increased: Threshold | None, stream: StreamWindow) -> Threshold:
    return increased if increased is not None and stream.facts.increased else normal


def _nth_ms(stamps: bytes, index: int) -> int:
    start = index * _ENTRY
    return int.from_bytes(stamps[start : start + 8], "big")


def reconnect_counts(stream: StreamWindow, rules: Rules, *, at_ms: int) -> dict[str, int]:
    """The reconnections in each reconnect condition's window at `at_ms`."""
    return {
        name: window.count_after(stream.stamps, at_ms - _threshold(n, i, stream).period_ms)
        for name, n, i in rules.reconnect_thresholds
    }


def classify(stream: StreamWindow, rules: Rules, *, at_ms: int) -> frozenset[str]:
    """The conditions held at `at_ms`, given those held before (for `clear_below`)."""
    if not (stream.present and stream.facts.enabled and stream.facts.managed):
        return frozenset()
    held: list[str] = []
    stamps, before = stream.stamps, stream.conditions
    size = len(stamps) // _ENTRY
    for condition in rules.conditions.conditions:
        if isinstance(condition, StateCondition):
            if stream.server_state == condition.stream_state:
                held.append(condition.name)
            continue
        threshold = _threshold(condition.normal, condition.increased, stream)
        needed = threshold.clear_below if condition.name in before else threshold.reconnects
        # At least `needed` entries after at_ms - period <=> the needed-th newest is after it.
        if size >= needed and _nth_ms(stamps, needed - 1) > at_ms - threshold.period_ms:
            held.append(condition.name)
    return rules.interned(held)


def next_drain_ms(stream: StreamWindow, rules: Rules) -> int | None:
    """The first instant at which a held reconnect condition stops holding, if any.

    Counts only fall as time passes, so no condition can be entered without an event: the
    earliest leave of a held one is the only instant the stream changes on its own.
    """
    held = stream.conditions
    if not held:
        return None
    stamps = stream.stamps
    size = len(stamps) // _ENTRY
    earliest: int | None = None
    for name, normal, increased in rules.reconnect_thresholds:
        if name not in held:
            continue
        threshold = _threshold(normal, increased, stream)
        if size < threshold.clear_below:
            continue  # cannot hold now; the next classification removes it
        leaves = _nth_ms(stamps, threshold.clear_below - 1) + threshold.period_ms
        if earliest is None or leaves < earliest:
            earliest = leaves
    return earliest


ANY_CONDITION = "*"  # not a valid condition name: the list's "in any condition"


def listed_counts(stream: StreamWindow, rules: Rules, *, at_ms: int) -> dict[str, int]:
    """The reconnections the admin list shows per held condition, and under ANY_CONDITION.

    A reconnect condition shows the count in its own window; a state condition and "any"
    show the count in the stream's longest window. Empty when the stream is in none.
    """
    if not stream.conditions:
        return {}
    counts: dict[str, int] = {}
    longest_ms, longest = -1, 0
    for name, normal, increased in rules.reconnect_thresholds:
        period_ms = _threshold(normal, increased, stream).period_ms
        count = window.count_after(stream.stamps, at_ms - period_ms)
        counts[name] = count
        if period_ms > longest_ms:
            longest_ms, longest = period_ms, count
    shown = {name: counts.get(name, longest) for name in stream.conditions}
    shown[ANY_CONDITION] = longest
    return shown


def next_count_change_ms(stream: StreamWindow, rules: Rules, *, after_ms: int) -> int | None:
    """The first instant after `after_ms` at which a count of `listed_counts` falls."""
    if not stream.conditions or not rules.reconnect_thresholds:
        return None
    periods: set[int] = set()
    longest_ms = 0  # the longest window: shown under ANY_CONDITION and by state conditions
    for name, normal, increased in rules.reconnect_thresholds:
        period_ms = _threshold(normal, increased, stream).period_ms
        longest_ms = max(longest_ms, period_ms)
        if name in stream.conditions:
            periods.add(period_ms)
    periods.add(longest_ms)
    earliest: int | None = None
    for period_ms in periods:
        counted = window.count_after(stream.stamps, after_ms - period_ms)
        if counted:  # the oldest counted reconnection leaves the window first
            leaves = _nth_ms(stream.stamps, counted - 1) + period_ms
            earliest = leaves if earliest is None else min(earliest, leaves)
    return earliest


def next_wake_ms(stream: StreamWindow, rules: Rules, *, after_ms: int) -> int | None:
    """When the owner must next look at the stream: a condition drains or a shown count falls."""
    drain = next_drain_ms(stream, rules)
    count = next_count_change_ms(stream, rules, after_ms=after_ms)
    if drain is None or count is None:
        return count if drain is None else drain
    return min(drain, count)
