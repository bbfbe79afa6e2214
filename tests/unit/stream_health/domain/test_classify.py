from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_health.domain import window
from stream_health.domain.classify import (
    classify,
    listed_counts,
    next_count_change_ms,
    next_drain_ms,
    next_wake_ms,
    reconnect_counts,
    shown_counts,
)
from stream_health.domain.conditions import (
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)
from stream_health.domain.stream import ANY_CONDITION, Rules, StreamFacts, StreamWindow
from tests.unit.stream_health.domain.strategies import rules as rules_strategy
from tests.unit.stream_health.domain.strategies import stream_facts

UID = "9f5ed653-7bcb-4603-97e4-2efddc0de61e"


def stream_with(*stamps: int, held: frozenset[str] = frozenset(), **fields: object) -> StreamWindow:
    """A stream whose window holds `stamps` (any order) and which holds `held` already."""
    packed = window.EMPTY
    for event_id, at_ms in enumerate(stamps):
        packed, _ = window.insert(packed, window.entry(at_ms, event_id), capacity=len(stamps))
    stream = StreamWindow(UID, stamps=packed, conditions=held)
    for name, value in fields.items():
        setattr(stream, name, value)
    return stream


def only(threshold: Threshold) -> Rules:
    return Rules(ConditionSet((ReconnectCondition("problematic", threshold),)))


IN = frozenset({"problematic"})
OUT: frozenset[str] = frozenset()


# --- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamps", "threshold", "held", "at_ms", "expected"),
    [
        ((10, 20, 30), Threshold(3, 50, 3), OUT, 30, IN),  # three within (-20, 30]
        ((10, 20, 30), Threshold(3, 50, 3), OUT, 59, IN),  # 10 > 59 - 50: still within
        ((10, 20, 30), Threshold(3, 50, 3), OUT, 60, OUT),  # 10 is not > 60 - 50: out
        ((10, 20, 30), Threshold(4, 50, 4), OUT, 30, OUT),  # three is not four
        ((10, 10, 10), Threshold(3, 1, 3), OUT, 10, IN),  # equal stamps all count
        ((10, 10, 10), Threshold(3, 1, 3), OUT, 11, OUT),  # a 1 ms period ends 1 ms later
        ((10, 20, 30), Threshold(3, 50, 2), IN, 60, IN),  # held: two (20, 30) keep it in
        ((10, 20, 30), Threshold(3, 50, 2), OUT, 60, OUT),  # not held: two cannot enter
        ((10, 20, 30), Threshold(3, 50, 2), IN, 70, OUT),  # held: one left is below 2
        ((10, 20, 30), Threshold(3, 50, 1), IN, 79, IN),  # clear_below 1 holds to the last
        ((10, 20, 30), Threshold(3, 50, 1), IN, 80, OUT),  # until the last leaves
        ((100,), Threshold(1, 50, 1), OUT, 60, IN),  # a stamp ahead of the instant counts
        ((), Threshold(1, 50, 1), IN, 0, OUT),  # an empty window holds nothing
    ],
)
def test_a_reconnect_condition_holds_while_enough_stamps_are_within_its_period(
    stamps: tuple[int, ...],
    threshold: Threshold,
    held: frozenset[str],
    at_ms: int,
    expected: frozenset[str],
) -> None:
    stream = stream_with(*stamps, held=held)

    assert classify(stream, only(threshold), at_ms=at_ms) == expected


RULES = Rules(
    ConditionSet(
        (
            ReconnectCondition("incorrect", Threshold(1, 100, 1)),
            ReconnectCondition("problematic", Threshold(3, 50, 2), Threshold(4, 80, 3)),
            StateCondition("disabled", "disabled"),
        )
    )
)


def test_increased_thresholds_apply_to_cameras_with_increased_reconnect_time() -> None:
    stream = stream_with(10, 20, 30, 70)
    increased = stream.replace(facts=StreamFacts(increased=True))

    # At 75: normal counts (25, 75] -> 2 of 3; increased counts (-5, 75] -> 4 of 4.
    assert classify(stream, RULES, at_ms=75) == {"incorrect"}
    assert classify(increased, RULES, at_ms=75) == {"incorrect", "problematic"}
    assert reconnect_counts(stream, RULES, at_ms=75) == {"incorrect": 4, "problematic": 2}
    assert reconnect_counts(increased, RULES, at_ms=75) == {"incorrect": 4, "problematic": 4}


@pytest.mark.parametrize(
    "stream",
    [
        stream_with(10, 20, 30, server_state="disabled", present=False),  # deleted from its server
        stream_with(
            10, 20, 30, server_state="disabled", facts=StreamFacts(enabled=False)
        ),  # switched off
        stream_with(
            10, 20, 30, server_state="disabled", facts=StreamFacts(managed=False)
        ),  # unmanaged server
    ],
)
def test_an_ineligible_stream_holds_no_condition(stream: StreamWindow) -> None:
    eligible = stream.replace(present=True, facts=StreamFacts())

    assert classify(stream, RULES, at_ms=30) == frozenset()
    assert classify(eligible, RULES, at_ms=30) == {"incorrect", "problematic", "disabled"}


@pytest.mark.parametrize(
    ("server_state", "expected"),
    [
        ("disabled", {"disabled"}),  # the configured state
        ("active", set()),  # any other state
        ("Disabled", set()),  # states are compared exactly
        (None, set()),  # never reported
    ],
)
def test_a_state_condition_holds_while_the_server_reports_its_state(
    server_state: str | None, expected: set[str]
) -> None:
    assert classify(stream_with(server_state=server_state), RULES, at_ms=0) == expected


@pytest.mark.parametrize(
    ("stamps", "held", "facts", "expected"),
    [
        ((), OUT, StreamFacts(), None),  # nothing held, nothing drains
        ((10, 20, 30), OUT, StreamFacts(), None),  # counts only fall: nothing can be entered
        ((10, 20, 30), frozenset({"incorrect"}), StreamFacts(), 130),  # newest (30) + 100
        ((10, 20, 30), IN, StreamFacts(), 70),  # 2nd newest (20) + 50 (clear_below 2)
        ((10, 20, 30), IN | {"incorrect"}, StreamFacts(), 70),  # the earliest of both
        ((10, 20, 30), IN, StreamFacts(increased=True), 90),  # 3rd newest (10) + 80 (clear_below 3)
        ((30,), IN, StreamFacts(), None),  # held with too few stamps: already out
        ((10, 20, 30), frozenset({"disabled"}), StreamFacts(), None),  # states do not drain
    ],
)
def test_next_drain_is_when_the_first_held_reconnect_condition_falls_below_clear_below(
    stamps: tuple[int, ...], held: frozenset[str], facts: StreamFacts, expected: int | None
) -> None:
    assert next_drain_ms(stream_with(*stamps, held=held, facts=facts), RULES) == expected


# --- properties ---------------------------------------------------------------------------


@st.composite
def judged_streams(draw: st.DrawFn) -> tuple[StreamWindow, Rules, int]:
    """A stream judged at some instants under random rules, and the last instant judged."""
    capacity = draw(st.integers(1, 5))
    rules = draw(rules_strategy(capacity=capacity, max_future_skew_ms=0))
    stamps = window.EMPTY
    for event_id, at_ms in enumerate(draw(st.lists(st.integers(0, 200), max_size=12))):
        stamps, _ = window.insert(stamps, window.entry(at_ms, event_id), capacity=capacity)
    stream = StreamWindow(
        UID,
        stamps=stamps,
        server_state=draw(st.sampled_from([None, "disabled", "paused"])),
        facts=draw(stream_facts),
    )
    judged = 0
    for judged in sorted(draw(st.lists(st.integers(0, 400), min_size=1, max_size=3))):
        stream.conditions = classify(stream, rules, at_ms=judged)
    return stream, rules, judged


@settings(max_examples=200)
@given(judged_streams())
def test_next_drain_is_the_first_instant_at_which_the_classification_changes(
    judged: tuple[StreamWindow, Rules, int],
) -> None:
    stream, rules, judged_ms = judged
    horizon = 200 + max((c.longest_period_ms for c in rules.reconnect_conditions), default=0) + 1

    # Brute force: try every instant after the last judgment.
    first_change = next(
        (
            t
            for t in range(judged_ms + 1, horizon + 1)
            if classify(stream, rules, at_ms=t) != stream.conditions
        ),
        None,
    )

    assert next_drain_ms(stream, rules) == first_change
    if first_change is not None:
        assert classify(stream, rules, at_ms=first_change) < stream.conditions  # only leaves


# --- what the admin list shows, and when it changes ----------------------------------------


def test_listed_counts_show_each_held_windows_count_and_the_longest_under_any() -> None:
    rules = Rules(
        ConditionSet(
            (
                ReconnectCondition("incorrect", Threshold(1, 100, 1)),
                ReconnectCondition("problematic", Threshold(3, 20, 3)),
                StateCondition("disabled", "disabled"),
            )
        )
    )
    stream = stream_with(10, 50, 85, 90, 95, held=frozenset({"incorrect", "disabled"}))

    counts = listed_counts(stream, rules, at_ms=100)

    # incorrect: stamps after 0 (five); disabled and any show the longest window's count.
    assert counts == {"incorrect": 5, "disabled": 5, ANY_CONDITION: 5}
    assert listed_counts(stream_with(10, 20), rules, at_ms=100) == {}  # in no condition


@settings(max_examples=300)
@given(
    rules=rules_strategy(capacity=6, max_future_skew_ms=0),
    stamps=st.lists(st.integers(0, 2_000), max_size=6),
    held_mask=st.integers(0, 2**6 - 1),
    retired=st.booleans(),
    increased=st.booleans(),
    at_ms=st.integers(0, 3_000),
)
def test_listed_counts_match_counting_the_stamps_of_each_shown_period(
    rules: Rules,
    stamps: list[int],
    held_mask: int,
    retired: bool,
    increased: bool,
    at_ms: int,
) -> None:
    held = {n for i, n in enumerate(rules.names) if held_mask >> i & 1}
    if retired:
        held.add("retired")  # held under an earlier configuration, no longer configured
    stream = stream_with(*stamps, held=frozenset(held))
    stream.facts = StreamFacts(increased=increased)

    # Brute force, from the configuration: a held reconnect condition shows the stamps
    # within its own period (its increased one for such cameras), every other name and
    # "any" those within the longest period (none when nothing counts reconnections).
    periods = {
        c.name: c.threshold(increased_reconnect=increased).period_ms
        for c in rules.reconnect_conditions
    }

    def within(period_ms: int) -> int:
        return sum(1 for t in stamps if t > at_ms - period_ms)

    longest = within(max(periods.values())) if periods else 0
    expected = {n: within(periods[n]) if n in periods else longest for n in held}
    if held:
        expected[ANY_CONDITION] = longest

    assert listed_counts(stream, rules, at_ms=at_ms) == expected


def test_streams_in_the_same_conditions_share_one_tuple_of_shown_names() -> None:
    rules = Rules(ConditionSet((ReconnectCondition("problematic", Threshold(2, 50, 1)),)))
    first = shown_counts(stream_with(10, 20, held=IN), rules, at_ms=40)
    second = shown_counts(stream_with(30, held=IN), rules, at_ms=40)

    assert first == (("problematic", ANY_CONDITION), (2, 2))
    assert second == (("problematic", ANY_CONDITION), (1, 1))
    assert first[0] is second[0]  # what a list flush holds per stream: the counts alone
    assert shown_counts(stream_with(10, 20), rules, at_ms=40) == ((), ())


@settings(max_examples=300)
@given(
    rules=rules_strategy(capacity=6, max_future_skew_ms=0),
    stamps=st.lists(st.integers(0, 2_000), max_size=6),
    held_mask=st.integers(0, 2**6 - 1),
    after_ms=st.integers(0, 3_000),
    probes=st.lists(st.integers(0, 5_000), max_size=8),
)
def test_shown_counts_change_only_at_the_next_count_change(
    rules: Rules, stamps: list[int], held_mask: int, after_ms: int, probes: list[int]
) -> None:
    names = rules.names
    held = frozenset(n for i, n in enumerate(names) if held_mask >> i & 1)
    stream = stream_with(*stamps, held=held)

    change = next_count_change_ms(stream, rules, after_ms=after_ms)

    shown = listed_counts(stream, rules, at_ms=after_ms)
    end = after_ms + 5_000 if change is None else change
    for probe in (after_ms + p for p in probes):
        if probe < end:
            assert listed_counts(stream, rules, at_ms=probe) == shown
    if change is not None:
        assert change > after_ms
        assert listed_counts(stream, rules, at_ms=change) != shown
        wake = next_wake_ms(stream, rules, after_ms=after_ms)
        assert wake is not None
        assert wake <= change
