"""Which conditions a stream is in at an instant, and when its window next drains.

These run for every event, so they read the packed window directly (see window.py for
the layout) and the thresholds `Rules` precomputed for the stream's kind of camera
(`rules.effective[increased]`) rather than going through helpers: the arithmetic is the same.
"""

from __future__ import annotations

import struct

from stream_health.domain import window
from stream_health.domain.stream import Rules, StreamWindow

_ENTRY = window.ENTRY_BYTES
_STAMP = struct.Struct(">Q")  # an entry's timestamp, read in place


def _nth_ms(stamps: bytes, index: int) -> int:
    return int(_STAMP.unpack_from(stamps, index * _ENTRY)[0])


def reconnect_counts(stream: StreamWindow, rules: Rules, *, at_ms: int) -> dict[str, int]:
    """The reconnections in each reconnect condition's window at `at_ms`."""
    times = window.times(stream.stamps)
    return {
        name: window.count_times_after(times, at_ms - threshold.period_ms)
        for name, threshold in rules.effective[stream.facts.increased]
    }


def classify(stream: StreamWindow, rules: Rules, *, at_ms: int) -> frozenset[str]:
    """The conditions held at `at_ms`, given those held before (for `clear_below`)."""
    facts = stream.facts
    if not (stream.present and facts.enabled and facts.managed):
        return frozenset()
    held: list[str] = []
    stamps, before = stream.stamps, stream.conditions
    size = len(stamps) // _ENTRY
    for name, state, threshold in rules.judges[facts.increased]:
        if threshold is None:
            if stream.server_state == state:
                held.append(name)
            continue
        needed = threshold.clear_below if name in before else threshold.reconnects
        # At least `needed` entries after at_ms - period <=> the needed-th newest is after it.
        if size >= needed and _nth_ms(stamps, needed - 1) > at_ms - threshold.period_ms:
            held.append(name)
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
    for name, threshold in rules.effective[stream.facts.increased]:
        # Below clear_below it cannot hold now; the next classification removes it.
        if name not in held or size < threshold.clear_below:
            continue
        leaves = _nth_ms(stamps, threshold.clear_below - 1) + threshold.period_ms
        if earliest is None or leaves < earliest:
            earliest = leaves
    return earliest


def listed_counts(stream: StreamWindow, rules: Rules, *, at_ms: int) -> dict[str, int]:
    """The reconnections the admin list shows per held condition, and under ANY_CONDITION.

    A reconnect condition shows the count in its own window; a state condition and "any"
    show the count in the stream's longest window. Empty when the stream is in none.
    """
    names, counts = shown_counts(stream, rules, at_ms=at_ms)
    return dict(zip(names, counts, strict=True))


def shown_counts(
    stream: StreamWindow, rules: Rules, *, at_ms: int
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """`listed_counts` as two aligned tuples: the names (one tuple shared by every stream in
    the same conditions) and their counts. A list flush holds this for every stream it
    writes, so it is kept small: two tuples instead of a dict each."""
    held = stream.conditions
    if not held:
        return (), ()
    times = window.times(stream.stamps)
    increased = stream.facts.increased
    longest = (
        window.count_times_after(times, at_ms - rules.longest_ms[increased])
        if rules.reconnect_thresholds
        else 0
    )
    names, periods = rules.listed_layout(held, increased)
    return names, tuple(
        longest if period_ms is None else window.count_times_after(times, at_ms - period_ms)
        for period_ms in periods
    )


def next_count_change_ms(stream: StreamWindow, rules: Rules, *, after_ms: int) -> int | None:
    """The first instant after `after_ms` at which a count of `listed_counts` falls."""
    if not stream.conditions or not rules.reconnect_thresholds:
        return None
    periods = rules.shown_periods(stream.conditions, stream.facts.increased)
    return _first_leave(window.times(stream.stamps), periods, after_ms)


def next_wake_ms(stream: StreamWindow, rules: Rules, *, after_ms: int) -> int | None:
    """When the owner must next look at the stream: a condition drains or a shown count falls.

    One pass over the timestamps for both (this runs for every window a batch stores).
    """
    held = stream.conditions
    if not held or not rules.reconnect_thresholds:
        return None
    times = window.times(stream.stamps)
    increased = stream.facts.increased
    earliest = _first_leave(times, rules.shown_periods(held, increased), after_ms)
    for name, threshold in rules.effective[increased]:
        if name in held and len(times) >= threshold.clear_below:
            leaves = times[threshold.clear_below - 1] + threshold.period_ms
            if earliest is None or leaves < earliest:
                earliest = leaves
    return earliest


def _first_leave(times: tuple[int, ...], periods: tuple[int, ...], after_ms: int) -> int | None:
    """The first instant after `after_ms` at which a reconnection leaves one of `periods`:
    per period, the oldest one counted (stamped after `after_ms - period`) leaves first."""
    earliest: int | None = None
    for period_ms in periods:
        counted = window.count_times_after(times, after_ms - period_ms)
        if counted and (earliest is None or times[counted - 1] + period_ms < earliest):
            earliest = times[counted - 1] + period_ms
    return earliest
