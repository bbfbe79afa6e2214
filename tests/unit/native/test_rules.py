"""The compiled domain steps (shared/native/src/rules.rs) against the domain: the scripts the
domain's property tests replay, with every reconnection applied both ways (as `Work` applies
a media-server reconnection: counters, then the reconnection) and every window's next
wake-up computed both ways."""

from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from stream_health.domain import window
from stream_health.domain.classify import next_wake_ms
from stream_health.domain.conditions import (
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)
from stream_health.domain.stream import Cause, Rules, StreamWindow
from stream_health.domain.transitions import on_counters, on_reconnect
from stream_health_core import CompiledRules
from tests.unit.stream_health.domain.model import Config, Reconnect, Script
from tests.unit.stream_health.domain.strategies import scripts
from tests.unit.stream_health.domain.test_transitions import SCRIPT_SETTINGS, UID, apply

_counters = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)),
    st.tuples(st.integers(0, 3), st.none()),
)


@settings(SCRIPT_SETTINGS, max_examples=400)
@given(script=scripts(), data=st.data())
def test_a_reconnection_the_compiled_path_applies_is_applied_as_the_domain_does(
    script: Script, data: st.DataObject
) -> None:
    stream, rules = StreamWindow(UID), script.rules
    core = CompiledRules(rules)
    for step in script.steps:
        if not (isinstance(step, Reconnect) and step.cause is Cause.RECONNECT):
            rules, _, _ = apply(stream, rules, step)
            if isinstance(step, Config):
                core = CompiledRules(rules)
            continue
        at_ms, _ = rules.clamp(step.at_ms, now_ms=step.now_ms)
        attempt, total = data.draw(_counters)
        before, compiled = replace(stream), replace(stream)

        repeat = core.reconnect_quietly(compiled, at_ms, step.event_id, step.now_ms, attempt, total)
        if attempt is not None and total is not None:
            on_counters(stream, at_ms=at_ms, event_id=step.event_id, attempt=attempt, total=total)
        outcome = on_reconnect(
            stream, rules, at_ms=at_ms, event_id=step.event_id, now_ms=step.now_ms
        )

        event("applied compiled" if repeat is not None else "left to the domain")
        if repeat is None:
            assert compiled == before
            continue
        assert compiled == stream
        assert outcome.changes == []
        assert outcome.duplicate == repeat


@settings(SCRIPT_SETTINGS, max_examples=300)
@given(script=scripts(), later=st.lists(st.integers(0, 400), min_size=1, max_size=3))
def test_the_next_wake_up_is_the_domains(script: Script, later: list[int]) -> None:
    stream, rules = StreamWindow(UID), script.rules
    core = CompiledRules(rules)
    for step in script.steps:
        rules, _, _ = apply(stream, rules, step)
        if isinstance(step, Config):
            core = CompiledRules(rules)
        for after_ms in (step.now_ms, *(step.now_ms + d for d in later)):
            expected = next_wake_ms(stream, rules, after_ms=after_ms)
            event("a wake-up" if expected is not None else "none")
            assert core.next_wake_ms(stream, after_ms) == expected


def _rules() -> Rules:
    problematic = ReconnectCondition("problematic", Threshold(3, 1_000, 2))
    return Rules(ConditionSet((problematic, StateCondition("disabled", "disabled"))))


def test_reconnections_of_a_stream_already_in_its_conditions_take_the_compiled_path() -> None:
    rules = _rules()
    compiled, stream = CompiledRules(rules), StreamWindow(UID)
    for at_ms in (10, 20, 30):  # the third enters problematic: the domain applies it
        on_reconnect(stream, rules, at_ms=at_ms, event_id=at_ms, now_ms=at_ms)
    assert stream.conditions == {"problematic"}

    assert compiled.reconnect_quietly(stream, 40, 40, 40, 2, 9) is False
    assert window.timestamps(stream.stamps) == [40, 30, 20]
    assert (stream.last_reconnect_ms, stream.reconnect_attempt, stream.reconnect_total) == (
        40,
        2,
        9,
    )
    assert compiled.reconnect_quietly(stream, 40, 40, 41, 2, 9) is True  # the same event again
    assert (
        compiled.reconnect_quietly(stream, 5, 5, 50, None, None) is False
    )  # older than the window keeps
    assert window.timestamps(stream.stamps) == [40, 30, 20]


def test_a_held_condition_no_longer_configured_is_left_to_the_domain() -> None:
    rules = _rules()
    stream = StreamWindow(UID, conditions=frozenset({"flaky"}))  # judged by other rules
    before = replace(stream)

    assert CompiledRules(rules).reconnect_quietly(stream, 30, 30, 30, None, None) is None
    assert stream == before
    assert on_reconnect(stream, rules, at_ms=30, event_id=30, now_ms=30).changes[0].left == (
        "flaky",
    )
