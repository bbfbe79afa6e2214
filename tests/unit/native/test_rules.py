"""The compiled domain steps (shared/native/src/rules.rs) against the domain: the scripts the
domain's property tests replay, with every reconnection applied both ways (as `Work` applies
a media-server reconnection: counters, then the reconnection), the state changes it makes
included, and every window's next wake-up computed both ways."""

from collections.abc import Callable, Iterator
from typing import TypeVar

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
from stream_health.domain.stream import Cause, Rules, StateChange, StreamWindow
from stream_health.domain.transitions import Outcome, on_counters, on_reconnect, on_server_state
from stream_health_core import CompiledRules, Timer
from tests.unit.native.test_timer import ModelTimer
from tests.unit.stream_health.domain.model import Config, Reconnect, Script, ServerState, Step
from tests.unit.stream_health.domain.strategies import scripts
from tests.unit.stream_health.domain.test_transitions import SCRIPT_SETTINGS, UID, apply

_counters = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)),
    st.tuples(st.integers(0, 3), st.none()),
)


T = TypeVar("T", Reconnect, ServerState)


def _compiled(rules: Rules) -> CompiledRules:
    return CompiledRules(rules, StateChange, Cause)


def _replay(
    script: Script, kind: type[T], keep: Callable[[T], bool] = lambda _: True
) -> Iterator[tuple[StreamWindow, Rules, CompiledRules, T]]:
    """The script's steps applied by the domain, except those of `kind` that `keep` picks:
    yielded with the window, the rules and their compiled form as they stand, for the test
    to apply both ways (the window is the domain's: the test applies the step to it)."""
    stream, rules = StreamWindow(UID), script.rules
    core = _compiled(rules)
    step: Step
    for step in script.steps:
        if isinstance(step, kind) and keep(step):
            yield stream, rules, core, step
            continue
        rules, _, _ = apply(stream, rules, step)
        if isinstance(step, Config):
            core = _compiled(rules)


def _same_as_the_domain(
    applied: object,
    compiled: StreamWindow,
    before: StreamWindow,
    domain: StreamWindow,
    outcome: Outcome,
) -> None:
    """A compiled step left the window alone (None), or did to it what the domain did to
    its copy, with the same verdict and change."""
    if applied is None:
        event("left to the domain")
        assert compiled == before
        return
    assert compiled == domain
    # The rules' one set of these names, and one string per state.
    assert compiled.conditions is domain.conditions
    assert compiled.server_state is domain.server_state
    if isinstance(applied, StateChange):
        event("applied compiled, with a change" + (", leaving" if applied.left else ""))
        assert outcome.changes == [applied]
        assert not outcome.duplicate
    else:
        event("applied compiled")
        assert outcome.changes == []
        assert outcome.duplicate == applied


@settings(SCRIPT_SETTINGS, max_examples=400)
@given(script=scripts(), data=st.data())
def test_a_reconnection_the_compiled_path_applies_is_applied_as_the_domain_does(
    script: Script, data: st.DataObject
) -> None:
    for stream, rules, core, step in _replay(
        script, Reconnect, lambda step: step.cause is Cause.RECONNECT
    ):
        at_ms, _ = rules.clamp(step.at_ms, now_ms=step.now_ms)
        attempt, total = data.draw(_counters)
        before, compiled = stream.replace(), stream.replace()

        applied = core.reconnect(compiled, at_ms, step.event_id, step.now_ms, attempt, total)
        if attempt is not None and total is not None:
            on_counters(stream, at_ms=at_ms, event_id=step.event_id, attempt=attempt, total=total)
        outcome = on_reconnect(
            stream, rules, at_ms=at_ms, event_id=step.event_id, now_ms=step.now_ms
        )

        _same_as_the_domain(applied, compiled, before, stream, outcome)


@settings(SCRIPT_SETTINGS, max_examples=400)
@given(script=scripts(), data=st.data())
def test_a_state_report_the_compiled_path_applies_is_applied_as_the_domain_does(
    script: Script, data: st.DataObject
) -> None:
    for stream, rules, core, step in _replay(script, ServerState):
        attempt, total = data.draw(_counters)
        before, compiled = stream.replace(), stream.replace()
        # A fresh string each time, as each event decodes its own: both ways keep one copy.
        state = "".join(list(step.state))

        applied = core.server_state(
            compiled, step.at_ms, step.event_id, step.now_ms, state, attempt, total
        )
        if attempt is not None and total is not None:
            on_counters(
                stream, at_ms=step.at_ms, event_id=step.event_id, attempt=attempt, total=total
            )
        outcome = on_server_state(
            stream,
            rules,
            at_ms=step.at_ms,
            event_id=step.event_id,
            state=state,
            now_ms=step.now_ms,
        )

        _same_as_the_domain(applied, compiled, before, stream, outcome)


@settings(SCRIPT_SETTINGS, max_examples=300)
@given(script=scripts(), later=st.lists(st.integers(0, 400), min_size=1, max_size=3))
def test_the_next_wake_up_is_the_domains(script: Script, later: list[int]) -> None:
    stream, rules = StreamWindow(UID), script.rules
    core = _compiled(rules)
    for step in script.steps:
        rules, _, _ = apply(stream, rules, step)
        if isinstance(step, Config):
            core = _compiled(rules)
        for after_ms in (step.now_ms, *(step.now_ms + d for d in later)):
            expected = next_wake_ms(stream, rules, after_ms=after_ms)
            event("a wake-up" if expected is not None else "none")
            assert core.next_wake_ms(stream, after_ms) == expected


def _rules() -> Rules:
    problematic = ReconnectCondition("problematic", Threshold(3, 1_000, 2))
    return Rules(ConditionSet((problematic, StateCondition("disabled", "disabled"))))


def test_reconnections_of_a_stream_already_in_its_conditions_take_the_compiled_path() -> None:
    rules = _rules()
    compiled, stream = _compiled(rules), StreamWindow(UID)
    for at_ms in (10, 20, 30):  # the third enters problematic: the domain applies it
        on_reconnect(stream, rules, at_ms=at_ms, event_id=at_ms, now_ms=at_ms)
    assert stream.conditions == {"problematic"}

    assert compiled.reconnect(stream, 40, 40, 40, 2, 9) is False
    assert window.timestamps(stream.stamps) == [40, 30, 20]
    assert (stream.last_reconnect_ms, stream.reconnect_attempt, stream.reconnect_total) == (
        40,
        2,
        9,
    )
    assert compiled.reconnect(stream, 40, 40, 41, 2, 9) is True  # the same event again
    assert compiled.reconnect(stream, 5, 5, 50, None, None) is False  # older than the window keeps
    assert window.timestamps(stream.stamps) == [40, 30, 20]


def test_a_held_condition_no_longer_configured_is_left_to_the_domain() -> None:
    rules = _rules()
    stream = StreamWindow(UID, conditions=frozenset({"flaky"}))  # judged by other rules
    before = stream.replace()

    assert _compiled(rules).reconnect(stream, 30, 30, 30, None, None) is None
    assert stream == before
    assert on_reconnect(stream, rules, at_ms=30, event_id=30, now_ms=30).changes[0].left == (
        "flaky",
    )


def test_a_reconnection_that_enters_a_condition_is_applied_compiled_and_returns_its_change() -> (
    None
):
    rules = _rules()
    compiled, stream = _compiled(rules), StreamWindow(UID)
    assert compiled.reconnect(stream, 10, 10, 10, None, None) is False
    assert compiled.reconnect(stream, 20, 20, 20, None, None) is False

    change = compiled.reconnect(stream, 30, 30, 35, 4, 7)

    assert change == StateChange(
        uid=UID,
        seq=1,
        conditions=("problematic",),
        entered=("problematic",),
        left=(),
        reconnects={"problematic": 3},
        cause=Cause.RECONNECT,
        at_ms=30,  # the event's time; judged at now (35)
        facts=stream.facts,
    )
    assert stream.conditions is rules.interned(["problematic"])
    assert (stream.seq, stream.reconnect_attempt, stream.last_reconnect_ms) == (1, 4, 30)


def test_a_state_report_enters_and_leaves_its_condition_compiled_and_a_repeat_changes_nothing() -> (
    None
):
    rules = _rules()
    compiled, stream = _compiled(rules), StreamWindow(UID)

    entered = compiled.server_state(stream, 10, 1, 12, "disabled", None, None)
    left = compiled.server_state(stream, 20, 2, 22, "running", 5, 50)

    assert entered == StateChange(
        uid=UID,
        seq=1,
        conditions=("disabled",),
        entered=("disabled",),
        left=(),
        reconnects={"problematic": 0},
        cause=Cause.STREAM_STATE,
        at_ms=10,
        facts=stream.facts,
    )
    assert isinstance(left, StateChange)
    assert (left.seq, left.conditions, left.entered, left.left) == (2, (), (), ("disabled",))
    assert (stream.server_state, stream.reconnect_attempt, stream.reconnect_total) == (
        "running",
        5,
        50,
    )
    assert compiled.server_state(stream, 20, 2, 23, "running", 5, 50) is True  # the same report
    assert compiled.server_state(stream, 15, 9, 24, "disabled", None, None) is False  # older
    assert (stream.server_state, stream.seq) == ("running", 2)


@settings(SCRIPT_SETTINGS, max_examples=150)
@given(
    script=scripts(),
    picks=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 40)), max_size=40),
    later=st.lists(st.integers(0, 2_000), min_size=1, max_size=4),
)
def test_rows_are_the_dirty_windows_wake_ups_scheduled_under_their_own_uids(
    script: Script, picks: list[tuple[int, int]], later: list[int]
) -> None:
    # Windows at different points of one history (so different wake-ups), in two partitions;
    # `dirty` names them by equal copies of their uids, as events do.
    stream, rules = StreamWindow(UID), script.rules
    core = _compiled(rules)
    snapshots: list[StreamWindow] = []
    for step in script.steps:
        rules, _, _ = apply(stream, rules, step)
        if isinstance(step, Config):
            core = _compiled(rules)
        snapshots.append(stream.replace(uid=f"s-{len(snapshots)}"))
    now_ms = script.steps[-1].now_ms if script.steps else 0
    windows: dict[int, dict[str, StreamWindow]] = {0: {}, 1: {}}
    dirty: dict[int, set[str]] = {}
    for partition, n in picks:
        window = snapshots[n % len(snapshots)] if snapshots else StreamWindow(f"s-{n}")
        windows[partition][window.uid] = window
        dirty.setdefault(partition, set()).add("".join(list(window.uid)))  # an equal copy
    timer, model = Timer(4, 8), ModelTimer(4, 8)

    rows = core.rows(dirty, windows, timer, now_ms)

    expected = []
    for partition, uids in dirty.items():
        for uid in uids:
            window = windows[partition][uid]
            instant = core.next_wake_ms(window, now_ms)
            model.schedule(partition, window.uid, instant)
            expected.append((partition, window, instant))
    model.compact()
    assert [(p, id(w), i) for p, w, i in rows] == [(p, id(w), i) for p, w, i in expected]
    for after in sorted(now_ms + d for d in later):
        due = timer.due(after, {0, 1})
        assert due == model.due(after, {0, 1})
        held = {id(w.uid) for cache in windows.values() for w in cache.values()}
        assert all(id(uid) in held for uids in due.values() for uid in uids)
