"""Apply one signal to a stream's window and say which state changes follow.

Every function takes the processing instant `now_ms` (the wall clock, read by the caller)
and first lets the window drain up to it, so the changes do not depend on when a drain
timer happened to fire. Redelivered inputs are recognised and change nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from stream_health.domain import window
from stream_health.domain.classify import classify, next_drain_ms, reconnect_counts
from stream_health.domain.stream import (
    Cause,
    Rules,
    StateChange,
    StreamFacts,
    StreamWindow,
    version,
)


@dataclass(slots=True)
class Outcome:
    """The state changes a signal caused, and whether the signal was a repeat."""

    changes: list[StateChange] = field(default_factory=list)
    duplicate: bool = False


def reclassify(
    stream: StreamWindow, rules: Rules, *, at_ms: int, cause: Cause, stamp_ms: int | None = None
) -> list[StateChange]:
    """Re-evaluate the conditions at `at_ms`; a change bumps `seq` and is returned.

    `stamp_ms` is the change's time when it differs from the instant judged (an event's).
    """
    held = classify(stream, rules, at_ms=at_ms)
    if held == stream.conditions:
        return []
    before = stream.conditions
    stream.conditions = held
    stream.seq += 1
    # Names no longer configured still appear in `left`, after the configured ones.
    order = rules.names + tuple(sorted(before - set(rules.names)))
    return [
        StateChange(
            uid=stream.uid,
            seq=stream.seq,
            conditions=tuple(n for n in order if n in held),
            entered=tuple(n for n in order if n in held and n not in before),
            left=tuple(n for n in order if n in before and n not in held),
            reconnects=reconnect_counts(stream, rules, at_ms=at_ms),
            cause=cause,
            at_ms=at_ms if stamp_ms is None else stamp_ms,
            facts=stream.facts,
        )
    ]


def drain(stream: StreamWindow, rules: Rules, *, now_ms: int) -> list[StateChange]:
    """Leave every condition whose window drained at or before `now_ms`, at its instant."""
    changes: list[StateChange] = []
    # Each drain instant removes at least one held reconnect condition, so this is bounded;
    # the bound is explicit so that no rule change can ever turn it into a busy loop.
    for _ in rules.reconnect_thresholds:
        instant = next_drain_ms(stream, rules)
        if instant is None or instant > now_ms:
            break
        drained = reclassify(stream, rules, at_ms=instant, cause=Cause.WINDOW_DRAINED)
        if not drained:
            break
        changes += drained
    return changes


def on_reconnect(
    stream: StreamWindow,
    rules: Rules,
    *,
    at_ms: int,
    event_id: int,
    now_ms: int,
    cause: Cause = Cause.RECONNECT,
) -> Outcome:
    """One reconnection at `at_ms` (already clamped); ignored while switched off or deleted."""
    outcome = Outcome(drain(stream, rules, now_ms=now_ms))
    if not (stream.facts.enabled and at_ms > stream.deleted_ms):
        return outcome
    stream.stamps, outcome.duplicate = window.insert(
        stream.stamps, window.entry(at_ms, event_id), capacity=rules.capacity
    )
    if outcome.duplicate:
        return outcome
    if stream.last_reconnect_ms is None or at_ms > stream.last_reconnect_ms:
        stream.last_reconnect_ms = at_ms
    if rules.reconnect_names <= stream.conditions:
        return outcome  # a reconnection only raises counts: nothing held can be left
    outcome.changes += _reclassify_at_event(stream, rules, at_ms=at_ms, now_ms=now_ms, cause=cause)
    return outcome


def on_server_state(
    stream: StreamWindow, rules: Rules, *, at_ms: int, event_id: int, state: str, now_ms: int
) -> Outcome:
    """The media server reported the stream's state; the latest report wins."""
    outcome = Outcome(drain(stream, rules, now_ms=now_ms))
    stamp = version(at_ms, event_id)
    if stamp <= stream.server_state_version:
        outcome.duplicate = stamp == stream.server_state_version
        return outcome
    # One string per distinct state, shared by every window (each event decodes its own copy).
    stream.server_state, stream.server_state_version = sys.intern(state), stamp
    outcome.changes += _reclassify_at_event(
        stream, rules, at_ms=at_ms, now_ms=now_ms, cause=Cause.STREAM_STATE
    )
    return outcome


def on_presence(
    stream: StreamWindow, rules: Rules, *, at_ms: int, event_id: int, present: bool, now_ms: int
) -> Outcome:
    """The stream appeared on (`stream:create`) or left (`stream:delete`) its server."""
    outcome = Outcome(drain(stream, rules, now_ms=now_ms))
    stamp = version(at_ms, event_id)
    latest = stamp > stream.presence_version
    # A deleted stream starts afresh: what came before the delete no longer counts, even when
    # the delete arrives after a later create (which still decides whether it is present).
    cancels = not present and at_ms > stream.deleted_ms
    if not (latest or cancels):
        outcome.duplicate = stamp == stream.presence_version
        return outcome
    if latest:
        stream.present, stream.presence_version = present, stamp
    if cancels:
        stream.deleted_ms = at_ms
        stream.stamps = window.drop_until(stream.stamps, stream.deleted_ms)
    outcome.changes += _reclassify_at_event(
        stream, rules, at_ms=at_ms, now_ms=now_ms, cause=Cause.STREAM_STATE
    )
    return outcome


def on_counters(
    stream: StreamWindow, *, at_ms: int, event_id: int, attempt: int, total: int
) -> bool:
    """Keep the media server's own counters of the latest event; False for an older one."""
    stamp = version(at_ms, event_id)
    if stamp <= stream.counters_version:
        return False
    stream.reconnect_attempt, stream.reconnect_total = attempt, total
    stream.counters_version = stamp
    return True


def on_facts(stream: StreamWindow, rules: Rules, *, facts: StreamFacts, now_ms: int) -> Outcome:
    """Inventory changed what is known of the stream (ids, switches, increased thresholds)."""
    outcome = Outcome(drain(stream, rules, now_ms=now_ms))
    if facts == stream.facts:
        outcome.duplicate = True
        return outcome
    stream.facts = facts
    outcome.changes += reclassify(stream, rules, at_ms=now_ms, cause=Cause.INVENTORY)
    return outcome


def on_rules(stream: StreamWindow, *, old: Rules, new: Rules, now_ms: int) -> list[StateChange]:
    """The configuration changed: drain under the old rules, then judge under the new."""
    changes = drain(stream, old, now_ms=now_ms)
    stream.stamps = window.truncate(stream.stamps, capacity=new.capacity)
    return changes + reclassify(stream, new, at_ms=now_ms, cause=Cause.CONFIG)


def _reclassify_at_event(
    stream: StreamWindow, rules: Rules, *, at_ms: int, now_ms: int, cause: Cause
) -> list[StateChange]:
    # Conditions are judged on the wall clock; the change is stamped with the event's time.
    return reclassify(stream, rules, at_ms=now_ms, cause=cause, stamp_ms=at_ms)
