"""Hypothesis strategies for the domain: rules, inventory facts and scripts of signals.

Numbers are kept small on purpose (times of a few hundred ms, a handful of ids, capacities up
to 5) so that equal timestamps, window boundaries and repeated events are hit often.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from hypothesis import strategies as st

from stream_health.domain import window
from stream_health.domain.conditions import (
    Condition,
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)
from stream_health.domain.stream import Cause, Rules, StreamFacts
from tests.unit.stream_health.domain.model import (
    Config,
    Counters,
    Event,
    Facts,
    Presence,
    Reconnect,
    Script,
    ServerState,
    Step,
    Tick,
)

CONDITION_NAMES = ("incorrect", "problematic", "flaky", "disabled", "paused")
SERVER_STATES = ("disabled", "paused", "active")

periods_ms = st.one_of(st.integers(1, 12), st.integers(1, 300))
server_states = st.sampled_from(SERVER_STATES)
state_condition_states = st.sampled_from(SERVER_STATES[:2])
reconnect_causes = st.sampled_from([Cause.RECONNECT, Cause.ANALYTICS])
event_ids = st.integers(0, window.MAX_ID)
clock_advances_ms = st.one_of(st.just(0), st.integers(1, 5), st.integers(1, 150))

reuse_an_earlier_time = st.sampled_from([False, False, False, True])

# Mostly switched on, so that most scripts spend most of their time eligible.
mostly_true = st.sampled_from([True, True, True, False])

stream_facts = st.builds(
    StreamFacts,
    stream_id=st.sampled_from([None, 733]),
    camera_id=st.sampled_from([None, 745]),
    server_id=st.sampled_from([None, 59]),
    enabled=mostly_true,
    increased=st.booleans(),
    managed=mostly_true,
)

# Strategies depending on a number are built once per number: building is not free.


@cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


@cache
def thresholds(*, low: int, high: int) -> st.SearchStrategy[Threshold]:
    """Thresholds needing `low` to `high` reconnections, with any valid clear_below."""

    @st.composite
    def draw_threshold(draw: st.DrawFn) -> Threshold:
        needed = draw(_integers(low, high))
        return Threshold(needed, draw(periods_ms), draw(_integers(1, needed)))

    return draw_threshold()


@cache
def condition_sets(*, capacity: int) -> st.SearchStrategy[ConditionSet]:
    """Conditions whose largest `reconnects` (normal or increased) is exactly `capacity`.

    Every config of one script has the same capacity: a window remembers only `capacity`
    entries, so a config needing more could not be judged on what was forgotten (see
    test_growing_capacity_counts_only_what_the_smaller_window_kept).
    """
    any_threshold = thresholds(low=1, high=max(capacity, 1))
    exact = thresholds(low=capacity, high=capacity) if capacity else any_threshold
    maybe_increased = st.none() | any_threshold
    state_condition = st.builds(StateCondition, st.just(""), state_condition_states)
    other = (
        st.builds(ReconnectCondition, st.just(""), any_threshold, maybe_increased) | state_condition
        if capacity
        else state_condition
    )
    pinned = st.one_of(
        st.builds(ReconnectCondition, st.just(""), exact, maybe_increased),
        st.builds(ReconnectCondition, st.just(""), any_threshold, exact),
    )

    @st.composite
    def draw_conditions(draw: st.DrawFn) -> ConditionSet:
        names = draw(st.permutations(CONDITION_NAMES))
        conditions: list[Condition] = draw(st.lists(other, max_size=3))
        if capacity:
            conditions.insert(draw(_integers(0, len(conditions))), draw(pinned))
        return ConditionSet(
            tuple(replace(c, name=n) for c, n in zip(conditions, names, strict=False))
        )

    return draw_conditions()


@st.composite
def rules(draw: st.DrawFn, *, capacity: int, max_future_skew_ms: int) -> Rules:
    """Rules of the given capacity and clock tolerance."""
    return Rules(draw(condition_sets(capacity=capacity)), max_future_skew_ms=max_future_skew_ms)


@cache
def _event_offsets_ms(skew_ms: int) -> st.SearchStrategy[int]:
    """An event's own time minus processing time: around now, late, and too far ahead."""
    return st.one_of(
        st.integers(-3, 3), st.integers(-320, 0), st.integers(skew_ms - 2, skew_ms + 30)
    )


STEP_KINDS = st.sampled_from(
    (
        *("reconnect",) * 5,
        *("repeat",) * 2,
        "state",
        "presence",
        "counters",
        "facts",
        "config",
        "tick",
    )
)


@st.composite
def scripts(draw: st.DrawFn, *, max_steps: int = 40) -> Script:
    """A stream's life: signals in non-decreasing processing time, repeats and stale events too.

    The stream starts unknown to inventory; facts arrive (and change) later as `Facts` steps.
    Reconnection times are clamped by `Rules.clamp` when applied, as the worker does; state,
    presence and counter times reach the domain as drawn (its last-writer-wins order is on
    the times it is given), including times beyond the skew.
    """
    capacity = draw(st.sampled_from((1, 2, 3, 4, 5, 0)))  # 0: no reconnect condition at all
    skew = draw(_integers(0, 40))
    first = draw(rules(capacity=capacity, max_future_skew_ms=skew))
    current = first
    offsets = _event_offsets_ms(skew)
    used_ids: set[int] = set()

    def fresh_id() -> int:
        event_id = draw(event_ids)
        while event_id in used_ids:  # every event has its own id; a repeat reuses one
            event_id = (event_id + 1) % (window.MAX_ID + 1)
        used_ids.add(event_id)
        return event_id

    now = draw(_integers(0, 50))
    events: list[Event] = []
    steps: list[Step] = []
    for _ in range(draw(_integers(1, max_steps))):
        now += draw(clock_advances_ms)
        kind = draw(STEP_KINDS)
        at = max(0, now + draw(offsets))
        if draw(reuse_an_earlier_time) and events:  # equal stamps across kinds of events
            at = events[draw(_integers(0, len(events) - 1))].at_ms
        step: Step
        if kind == "repeat" and events:
            step = replace(events[draw(_integers(0, len(events) - 1))], now_ms=now)
        elif kind in {"reconnect", "repeat"}:
            step = Reconnect(now, at, fresh_id(), draw(reconnect_causes))
        elif kind == "state":
            step = ServerState(now, at, fresh_id(), draw(server_states))
        elif kind == "presence":
            step = Presence(now, at, fresh_id(), draw(st.booleans()))
        elif kind == "counters":
            step = Counters(now, at, fresh_id(), draw(_integers(0, 9)), draw(_integers(0, 99)))
        elif kind == "facts":
            step = Facts(now, draw(stream_facts))
        elif kind == "config":
            if draw(st.booleans()):
                current = draw(rules(capacity=capacity, max_future_skew_ms=skew))
            step = Config(now, current)
        else:
            step = Tick(now)
        if isinstance(step, Reconnect | ServerState | Presence | Counters):
            events.append(step)
        steps.append(step)
    return Script(first, tuple(steps))


@st.composite
def scripts_with_extra_ticks(draw: st.DrawFn) -> tuple[Script, Script]:
    """A script, and the same script with drain ticks inserted at arbitrary (valid) times."""
    script = draw(scripts())
    ticked: list[Step] = []
    previous = script.steps[0].now_ms
    for step in script.steps:
        ticks = draw(st.lists(_integers(previous, step.now_ms), max_size=2))
        ticked += [Tick(at) for at in sorted(ticks)]
        ticked.append(step)
        previous = step.now_ms
    return script, Script(script.rules, tuple(ticked))
