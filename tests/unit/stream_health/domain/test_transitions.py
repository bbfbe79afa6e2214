from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, Phase, given, settings

from stream_health.domain import window
from stream_health.domain.classify import classify, next_drain_ms
from stream_health.domain.conditions import (
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)
from stream_health.domain.stream import (
    UNKNOWN,
    Cause,
    Rules,
    StateChange,
    StreamFacts,
    StreamWindow,
)
from stream_health.domain.transitions import (
    drain,
    on_counters,
    on_facts,
    on_presence,
    on_reconnect,
    on_rules,
    on_server_state,
)
from tests.unit.stream_health.domain.model import (
    Config,
    Counters,
    Facts,
    ModelStream,
    Presence,
    Reconnect,
    Script,
    ServerState,
    Step,
    Tick,
)
from tests.unit.stream_health.domain.strategies import scripts, scripts_with_extra_ticks

UID = "9f5ed653-7bcb-4603-97e4-2efddc0de61e"

# incorrect: 1 within 100 ms; problematic: 3 within 50 ms, leaving below 2; disabled by state.
RULES = Rules(
    ConditionSet(
        (
            ReconnectCondition("incorrect", Threshold(1, 100, 1)),
            ReconnectCondition("problematic", Threshold(3, 50, 2), increased=Threshold(4, 80, 4)),
            StateCondition("disabled", "disabled"),
        )
    ),
    max_future_skew_ms=20,
)
KNOWN = StreamFacts(stream_id=733, camera_id=745, server_id=59)


def reconnect(
    stream: StreamWindow,
    at_ms: int,
    event_id: int,
    *,
    now_ms: int | None = None,
    rules: Rules = RULES,
) -> list[StateChange]:
    """One reconnection, processed at its own time unless `now_ms` says otherwise."""
    outcome = on_reconnect(
        stream, rules, at_ms=at_ms, event_id=event_id, now_ms=at_ms if now_ms is None else now_ms
    )
    return outcome.changes


def summary(
    changes: list[StateChange],
) -> list[tuple[int, Cause, int, tuple[str, ...], tuple[str, ...]]]:
    """(seq, cause, at, entered, left) of each change: what a reader checks first."""
    return [(c.seq, c.cause, c.at_ms, c.entered, c.left) for c in changes]


# --- examples -----------------------------------------------------------------------------


def test_stream_enters_problematic_at_the_reconnect_that_fills_the_window() -> None:
    stream = StreamWindow(UID)
    changes = reconnect(stream, 10, 1) + reconnect(stream, 20, 2) + reconnect(stream, 30, 3)

    assert summary(changes) == [
        (1, Cause.RECONNECT, 10, ("incorrect",), ()),
        (2, Cause.RECONNECT, 30, ("problematic",), ()),
    ]
    assert changes[-1].conditions == ("incorrect", "problematic")
    assert changes[-1].reconnects == {"incorrect": 3, "problematic": 3}


def test_stream_leaves_problematic_when_window_drains() -> None:
    stream = StreamWindow(UID)
    for event_id, at in enumerate((10, 20, 30)):
        reconnect(stream, at, event_id)

    # clear_below 2: problematic holds while the 2nd newest (20) is within 50 ms, until 70.
    assert drain(stream, RULES, now_ms=69) == []
    changes = drain(stream, RULES, now_ms=1_000)

    assert summary(changes) == [
        (3, Cause.WINDOW_DRAINED, 70, (), ("problematic",)),
        (4, Cause.WINDOW_DRAINED, 130, (), ("incorrect",)),
    ]
    assert [c.reconnects for c in changes] == [
        {"incorrect": 3, "problematic": 1},
        {"incorrect": 0, "problematic": 0},
    ]


def test_conditions_draining_at_the_same_instant_leave_in_one_change() -> None:
    rules = Rules(
        ConditionSet(
            (
                ReconnectCondition("incorrect", Threshold(1, 50, 1)),
                ReconnectCondition("problematic", Threshold(2, 60, 2)),
            )
        )
    )
    stream = StreamWindow(UID)
    reconnect(stream, 10, 1, rules=rules)
    reconnect(stream, 20, 2, rules=rules)

    # incorrect ends at 20 + 50, problematic at 10 + 60: the same instant.
    assert summary(drain(stream, rules, now_ms=500)) == [
        (3, Cause.WINDOW_DRAINED, 70, (), ("incorrect", "problematic"))
    ]


def test_a_signal_drains_first_so_changes_do_not_depend_on_timer_timing() -> None:
    stream = StreamWindow(UID)
    reconnect(stream, 10, 1)

    # No timer fired between 10 and 300: the state report still sees the drain at 110 first.
    outcome = on_server_state(stream, RULES, at_ms=300, event_id=9, state="disabled", now_ms=300)

    assert summary(outcome.changes) == [
        (2, Cause.WINDOW_DRAINED, 110, (), ("incorrect",)),
        (3, Cause.STREAM_STATE, 300, ("disabled",), ()),
    ]


def test_a_repeated_reconnect_changes_nothing() -> None:
    stream = StreamWindow(UID)
    reconnect(stream, 10, 1)
    before = stream.replace()

    outcome = on_reconnect(stream, RULES, at_ms=10, event_id=1, now_ms=15)

    assert outcome.duplicate
    assert outcome.changes == []
    assert stream == before


def test_a_skewed_reconnect_repeated_later_is_still_a_repeat() -> None:
    # The server's clock is ahead: the event is clamped to now, and the retry to a later now.
    stream = StreamWindow(UID)
    for now in (100, 110, 120):
        at_ms, skewed = RULES.clamp(1_000, now_ms=now)
        assert skewed
        outcome = on_reconnect(stream, RULES, at_ms=at_ms, event_id=7, now_ms=now)

    assert outcome.duplicate
    assert window.timestamps(stream.stamps) == [100]
    assert stream.conditions == {"incorrect"}


def test_reconnects_while_switched_off_are_not_counted() -> None:
    stream = StreamWindow(UID)
    on_facts(stream, RULES, facts=replace(KNOWN, enabled=False), now_ms=0)
    for event_id, at in enumerate((10, 20, 30)):
        assert reconnect(stream, at, event_id) == []

    changes = on_facts(stream, RULES, facts=KNOWN, now_ms=31).changes

    assert changes == []
    assert stream.stamps == window.EMPTY


def test_inventory_news_drains_the_window_before_it_applies() -> None:
    stream = StreamWindow(UID)
    reconnect(stream, 10, 1)

    changes = on_facts(stream, RULES, facts=KNOWN, now_ms=200).changes

    assert summary(changes) == [(2, Cause.WINDOW_DRAINED, 110, (), ("incorrect",))]
    assert changes[0].facts == UNKNOWN  # judged before the news


def test_inventory_arriving_late_applies_the_increased_thresholds() -> None:
    stream = StreamWindow(UID)
    assert stream.facts == UNKNOWN
    for event_id, at in enumerate((10, 20, 30)):
        reconnect(stream, at, event_id)
    assert stream.conditions == {"incorrect", "problematic"}

    # The camera has increased reconnect time: 4 within 80 ms are needed, and 3 are not enough.
    changes = on_facts(stream, RULES, facts=replace(KNOWN, increased=True), now_ms=35).changes

    assert summary(changes) == [(3, Cause.INVENTORY, 35, (), ("problematic",))]
    assert changes[0].facts.stream_id == 733
    assert changes[0].reconnects == {"incorrect": 3, "problematic": 3}


def test_a_deleted_stream_leaves_every_condition_and_starts_afresh() -> None:
    stream = StreamWindow(UID)
    on_server_state(stream, RULES, at_ms=5, event_id=100, state="disabled", now_ms=5)
    for event_id, at in enumerate((10, 20, 30)):
        reconnect(stream, at, event_id)

    deleted = on_presence(stream, RULES, at_ms=40, event_id=101, present=False, now_ms=40)
    late = reconnect(stream, 35, 4, now_ms=41)  # happened before the delete: never counts
    late += reconnect(stream, 40, 5, now_ms=41)  # nor at the instant of the delete
    created = on_presence(stream, RULES, at_ms=50, event_id=102, present=True, now_ms=50)

    assert summary(deleted.changes) == [
        (4, Cause.STREAM_STATE, 40, (), ("incorrect", "problematic", "disabled"))
    ]
    assert late == []
    # The server still reports it disabled; its old reconnections are gone.
    assert summary(created.changes) == [(5, Cause.STREAM_STATE, 50, ("disabled",), ())]
    assert created.changes[0].reconnects == {"incorrect": 0, "problematic": 0}


def test_a_delete_arriving_after_a_later_create_still_cancels_what_came_before_it() -> None:
    stream = StreamWindow(UID)
    reconnect(stream, 10, 1)
    on_presence(stream, RULES, at_ms=30, event_id=11, present=True, now_ms=30)

    # Deleted at 20 and created again at 30: the reconnection at 10 was the old stream's.
    outcome = on_presence(stream, RULES, at_ms=20, event_id=10, present=False, now_ms=31)

    assert stream.present
    assert summary(outcome.changes) == [(2, Cause.STREAM_STATE, 20, (), ("incorrect",))]
    assert stream.stamps == window.EMPTY


def test_older_server_state_reports_lose_to_newer_ones() -> None:
    stream = StreamWindow(UID)
    on_server_state(stream, RULES, at_ms=20, event_id=2, state="disabled", now_ms=20)

    older = on_server_state(stream, RULES, at_ms=10, event_id=1, state="active", now_ms=25)
    same_ms = on_server_state(stream, RULES, at_ms=20, event_id=1, state="active", now_ms=25)
    repeat = on_server_state(stream, RULES, at_ms=20, event_id=2, state="disabled", now_ms=25)

    assert (older.changes, older.duplicate) == ([], False)
    assert (same_ms.changes, same_ms.duplicate) == ([], False)  # (20, 1) is before (20, 2)
    assert (repeat.changes, repeat.duplicate) == ([], True)
    assert stream.conditions == {"disabled"}


def test_the_latest_counters_win_whatever_order_they_arrive_in() -> None:
    stream = StreamWindow(UID)

    assert on_counters(stream, at_ms=20, event_id=2, attempt=3, total=17)
    assert not on_counters(stream, at_ms=10, event_id=9, attempt=0, total=12)
    assert not on_counters(stream, at_ms=20, event_id=2, attempt=3, total=17)
    assert (stream.reconnect_attempt, stream.reconnect_total) == (3, 17)


def test_a_config_change_drains_under_the_old_rules_then_judges_under_the_new() -> None:
    stream = StreamWindow(UID)
    for event_id, at in enumerate((10, 20, 30)):
        reconnect(stream, at, event_id)
    new = Rules(
        ConditionSet(
            (
                ReconnectCondition("incorrect", Threshold(1, 1_000, 1)),
                ReconnectCondition("flaky", Threshold(3, 1_000, 3)),
            )
        )
    )

    changes = on_rules(stream, old=RULES, new=new, now_ms=80)

    assert summary(changes) == [
        (3, Cause.WINDOW_DRAINED, 70, (), ("problematic",)),
        (4, Cause.CONFIG, 80, ("flaky",), ()),
    ]
    assert changes[-1].reconnects == {"incorrect": 3, "flaky": 3}


def test_a_condition_no_longer_configured_is_left_after_the_configured_ones() -> None:
    stream = StreamWindow(UID)
    on_server_state(stream, RULES, at_ms=1, event_id=1, state="disabled", now_ms=1)
    reconnect(stream, 10, 2)
    new = Rules(ConditionSet((StateCondition("paused", "disabled"),)))

    changes = on_rules(stream, old=RULES, new=new, now_ms=11)

    assert changes[0].entered == ("paused",)
    assert changes[0].left == ("disabled", "incorrect")


def test_growing_capacity_counts_only_what_the_smaller_window_kept() -> None:
    # A window remembers only `capacity` entries, so a config that needs more cannot count
    # reconnections from before it: scripts in the properties keep capacity constant.
    small = Rules(ConditionSet((ReconnectCondition("incorrect", Threshold(1, 100, 1)),)))
    large = Rules(
        ConditionSet(
            (
                ReconnectCondition("incorrect", Threshold(1, 100, 1)),
                ReconnectCondition("problematic", Threshold(3, 100, 3)),
            )
        )
    )
    stream = StreamWindow(UID)
    for event_id, at in enumerate((10, 20, 30)):
        reconnect(stream, at, event_id, rules=small)
    assert window.timestamps(stream.stamps) == [30]

    changes = on_rules(stream, old=small, new=large, now_ms=40)
    assert changes == []  # three reconnections within 100 ms, but only one was remembered

    later = reconnect(stream, 50, 3, rules=large) + reconnect(stream, 60, 4, rules=large)
    assert summary(later) == [(2, Cause.RECONNECT, 60, ("problematic",), ())]
    assert later[0].reconnects == {"incorrect": 3, "problematic": 3}


def test_a_window_never_holds_more_than_the_capacity() -> None:
    stream = StreamWindow(UID)
    for event_id in range(20):
        reconnect(stream, 10 + event_id, event_id)

    assert RULES.capacity == 4
    assert window.timestamps(stream.stamps) == [29, 28, 27, 26]


# --- properties against the model ---------------------------------------------------------

# Scripts are long: no deadline, and no explain phase, which line-traces every replay on
# Python 3.11 and turns the report of a failure from seconds into minutes.
SCRIPT_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


def apply(stream: StreamWindow, rules: Rules, step: Step) -> tuple[Rules, list[StateChange], bool]:
    """Apply one step the way the worker does; the rules after it, its changes, its verdict."""
    if isinstance(step, Reconnect):
        at_ms, _ = rules.clamp(step.at_ms, now_ms=step.now_ms)
        outcome = on_reconnect(
            stream, rules, at_ms=at_ms, event_id=step.event_id, now_ms=step.now_ms, cause=step.cause
        )
    elif isinstance(step, ServerState):
        outcome = on_server_state(
            stream,
            rules,
            at_ms=step.at_ms,
            event_id=step.event_id,
            state=step.state,
            now_ms=step.now_ms,
        )
    elif isinstance(step, Presence):
        outcome = on_presence(
            stream,
            rules,
            at_ms=step.at_ms,
            event_id=step.event_id,
            present=step.present,
            now_ms=step.now_ms,
        )
    elif isinstance(step, Counters):
        # False for an older report as well as a repeat: not a duplicate verdict.
        on_counters(
            stream, at_ms=step.at_ms, event_id=step.event_id, attempt=step.attempt, total=step.total
        )
        return rules, [], False
    elif isinstance(step, Facts):
        outcome = on_facts(stream, rules, facts=step.facts, now_ms=step.now_ms)
    elif isinstance(step, Config):
        return step.rules, on_rules(stream, old=rules, new=step.rules, now_ms=step.now_ms), False
    else:
        return rules, drain(stream, rules, now_ms=step.now_ms), False
    return rules, outcome.changes, outcome.duplicate


def run(script: Script) -> tuple[StreamWindow, list[StateChange]]:
    """Play a script on the domain, checking it against the model after every step."""
    stream, rules = StreamWindow(UID), script.rules
    model = ModelStream(UID, script.rules)
    emitted: list[StateChange] = []
    for step in script.steps:
        before = stream.replace()
        rules, changes, duplicate = apply(stream, rules, step)
        expected, repeat = model.apply(step)

        assert changes == expected
        assert stream.conditions == model.conditions
        assert stream.seq == model.seq
        assert [c.seq for c in changes] == list(range(before.seq + 1, stream.seq + 1))
        assert all(c.entered or c.left for c in changes)
        assert window.size(stream.stamps) <= rules.capacity
        # drain() steps from one next_drain_ms to the next: each instant it names must change
        # the classification, or the next drain would stop short of now (or never end).
        if (instant := next_drain_ms(stream, rules)) is not None:
            assert classify(stream, rules, at_ms=instant) != stream.conditions
        assert window.timestamps(stream.stamps) == [stamp for stamp, _ in model.kept]
        assert stream.server_state == model.server_state
        assert stream.present == model.present
        counters = (stream.reconnect_attempt, stream.reconnect_total)
        assert counters == (model.counters or (None, None))
        if duplicate:
            assert repeat, "the domain called a new signal a duplicate"
        if repeat:  # a repeat changes nothing beyond the drain every signal starts with
            drained = before.replace()
            if not isinstance(step, Counters):
                drain(drained, rules, now_ms=step.now_ms)
            assert stream == drained
        emitted += changes
    return stream, emitted


@settings(SCRIPT_SETTINGS, max_examples=500)
@given(scripts())
def test_every_signal_changes_the_stream_exactly_as_the_brute_force_model_says(
    script: Script,
) -> None:
    run(script)


@settings(SCRIPT_SETTINGS, max_examples=150)
@given(scripts_with_extra_ticks())
def test_extra_drain_ticks_anywhere_change_no_emitted_change(
    scripts: tuple[Script, Script],
) -> None:
    plain, ticked = scripts
    end = Tick((plain.steps[-1].now_ms if plain.steps else 0) + 1_000)

    plain_stream, plain_changes = run(replace(plain, steps=(*plain.steps, end)))
    ticked_stream, ticked_changes = run(replace(ticked, steps=(*ticked.steps, end)))

    assert ticked_changes == plain_changes
    assert ticked_stream == plain_stream


def test_windows_in_the_same_state_share_one_string() -> None:
    # Each event decodes its own copy of the state; windows keep one shared string.
    states = ["".join(["disab", "led"]) for _ in range(2)]
    assert states[0] is not states[1]
    windows = [StreamWindow(f"{UID}-{i}") for i in range(2)]
    for stream, state in zip(windows, states, strict=True):
        on_server_state(stream, RULES, at_ms=5, event_id=1, state=state, now_ms=5)

    assert windows[0].server_state == "disabled"
    assert windows[0].server_state is windows[1].server_state
