"""A brute-force model of one stream, to check the domain against.

It keeps every input in full (every counted reconnection, every state, presence and counter
report, every delete) and answers every question by scanning those lists: no packed window,
no capacity, no `next_drain_ms`. Drain instants are found by trying every instant at which a
count can change (a stamp plus a period) in order, with the model's own hysteresis.

Two things it must know about the domain's bounded memory, both brute-forced here:

- a window remembers only the `capacity` newest reconnections, so the count a change reports
  is the true count capped at `capacity` (the decisions are unaffected: no threshold needs more);
- a repeated event is recognised by its id only while its first sighting is among those
  `capacity` newest (or when it carries the same stamp again). A repeat can carry another stamp
  only when its timestamp was clamped to a different "now"; after eviction it counts anew.

And one thing it takes from the domain's rules as given: a reconnection ignored (switched off,
or stamped at or before a delete) leaves no trace, so a repeat of it is judged afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_health.domain.conditions import StateCondition
from stream_health.domain.stream import UNKNOWN, Cause, Rules, StateChange, StreamFacts


@dataclass(frozen=True, slots=True)
class Reconnect:
    """A reconnection reported at processing time `now_ms`, stamped `at_ms` by its source."""

    now_ms: int
    at_ms: int
    event_id: int
    cause: Cause = Cause.RECONNECT


@dataclass(frozen=True, slots=True)
class ServerState:
    """A `stream:state` report."""

    now_ms: int
    at_ms: int
    event_id: int
    state: str


@dataclass(frozen=True, slots=True)
class Presence:
    """A `stream:create` (present) or `stream:delete` (not present)."""

    now_ms: int
    at_ms: int
    event_id: int
    present: bool


@dataclass(frozen=True, slots=True)
class Counters:
    """The media server's own reconnect counters carried by an event."""

    now_ms: int
    at_ms: int
    event_id: int
    attempt: int
    total: int


@dataclass(frozen=True, slots=True)
class Facts:
    """An inventory snapshot arrived (or changed)."""

    now_ms: int
    facts: StreamFacts


@dataclass(frozen=True, slots=True)
class Config:
    """The condition configuration changed."""

    now_ms: int
    rules: Rules


@dataclass(frozen=True, slots=True)
class Tick:
    """A drain timer fired."""

    now_ms: int


Step = Reconnect | ServerState | Presence | Counters | Facts | Config | Tick
Event = Reconnect | ServerState | Presence | Counters


@dataclass(frozen=True, slots=True)
class Script:
    """The rules a stream starts under and what then happens to it, in processing order."""

    rules: Rules
    steps: tuple[Step, ...]


@dataclass(slots=True)
class ModelStream:
    """One stream, remembered in full."""

    uid: str
    rules: Rules
    counted: set[tuple[int, int]] = field(default_factory=set)  # (stamp, id), never evicted
    deletes: list[int] = field(default_factory=list)
    states: set[tuple[int, int, str]] = field(default_factory=set)
    presences: set[tuple[int, int, bool]] = field(default_factory=set)
    counter_reports: set[tuple[int, int, int, int]] = field(default_factory=set)
    facts: StreamFacts = UNKNOWN
    conditions: frozenset[str] = frozenset()
    seq: int = 0
    judged_ms: int | None = None

    # --- what the histories say now -------------------------------------------------------

    @property
    def deleted_ms(self) -> int:
        """The latest delete's time: nothing stamped at or before it counts."""
        return max(self.deletes, default=-1)

    @property
    def live(self) -> list[tuple[int, int]]:
        """The counted reconnections a delete has not cancelled."""
        return [e for e in self.counted if e[0] > self.deleted_ms]

    @property
    def kept(self) -> list[tuple[int, int]]:
        """The `capacity` newest live reconnections (all a bounded window can remember)."""
        return sorted(self.live, reverse=True)[: self.rules.capacity]

    @property
    def server_state(self) -> str | None:
        latest = max(self.states, default=None)
        return None if latest is None else latest[2]

    @property
    def present(self) -> bool:
        latest = max(self.presences, default=None)
        return True if latest is None else latest[2]

    @property
    def counters(self) -> tuple[int, int] | None:
        latest = max(self.counter_reports, default=None)
        return None if latest is None else (latest[2], latest[3])

    @property
    def eligible(self) -> bool:
        return self.present and self.facts.enabled and self.facts.managed

    def count(self, *, at_ms: int, period_ms: int) -> int:
        """Reconnections stamped strictly after `at_ms - period_ms` (linear scan)."""
        return sum(1 for stamp, _ in self.live if stamp > at_ms - period_ms)

    def reported_counts(self, *, at_ms: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for condition in self.rules.reconnect_conditions:
            period = condition.threshold(increased_reconnect=self.facts.increased).period_ms
            counts[condition.name] = min(
                self.count(at_ms=at_ms, period_ms=period), self.rules.capacity
            )
        return counts

    def judge(self, *, at_ms: int) -> frozenset[str]:
        """The conditions held at `at_ms`, given those held now (hysteresis)."""
        if not self.eligible:
            return frozenset()
        held: set[str] = set()
        for condition in self.rules.conditions.conditions:
            if isinstance(condition, StateCondition):
                if self.server_state == condition.stream_state:
                    held.add(condition.name)
                continue
            threshold = condition.threshold(increased_reconnect=self.facts.increased)
            held_before = condition.name in self.conditions
            needed = threshold.clear_below if held_before else threshold.reconnects
            if self.count(at_ms=at_ms, period_ms=threshold.period_ms) >= needed:
                held.add(condition.name)
        return frozenset(held)

    # --- judging and draining ---------------------------------------------------------------

    def _change(
        self, held: frozenset[str], *, judged_ms: int, cause: Cause, at_ms: int
    ) -> StateChange:
        before = self.conditions
        configured = self.rules.conditions.names
        order = [*configured, *sorted(before - set(configured))]
        self.conditions = held
        self.seq += 1
        return StateChange(
            uid=self.uid,
            seq=self.seq,
            conditions=tuple(n for n in order if n in held),
            entered=tuple(n for n in order if n in held - before),
            left=tuple(n for n in order if n in before - held),
            reconnects=self.reported_counts(at_ms=judged_ms),
            cause=cause,
            at_ms=at_ms,
            facts=self.facts,
        )

    def rejudge(self, *, now_ms: int, cause: Cause, at_ms: int) -> list[StateChange]:
        """Judge at `now_ms`; a change (stamped `at_ms`) only when the set differs."""
        self.judged_ms = now_ms
        held = self.judge(at_ms=now_ms)
        if held == self.conditions:
            return []
        return [self._change(held, judged_ms=now_ms, cause=cause, at_ms=at_ms)]

    def drain(self, *, now_ms: int) -> list[StateChange]:
        """Every change time alone causes in (last judged instant, now_ms], by brute force."""
        since, self.judged_ms = self.judged_ms, now_ms
        if since is None:
            return []
        periods = set()
        for condition in self.rules.reconnect_conditions:
            periods.add(condition.normal.period_ms)
            if condition.increased is not None:
                periods.add(condition.increased.period_ms)
        candidates = sorted({stamp + period for stamp, _ in self.live for period in periods})
        changes: list[StateChange] = []
        for instant in candidates:
            if not since < instant <= now_ms:
                continue
            held = self.judge(at_ms=instant)
            if held != self.conditions:
                changes.append(
                    self._change(held, judged_ms=instant, cause=Cause.WINDOW_DRAINED, at_ms=instant)
                )
        return changes

    # --- the signals -----------------------------------------------------------------------

    def apply(self, step: Step) -> tuple[list[StateChange], bool]:
        """The changes `step` causes, and whether it was a repeat that must change nothing."""
        if isinstance(step, Counters):
            counters = (step.at_ms, step.event_id, step.attempt, step.total)
            repeat = counters in self.counter_reports
            self.counter_reports.add(counters)
            return [], repeat
        changes = self.drain(now_ms=step.now_ms)
        if isinstance(step, Tick):
            return changes, False
        if isinstance(step, Config):
            self.rules = step.rules
            return changes + self.rejudge(
                now_ms=step.now_ms, cause=Cause.CONFIG, at_ms=step.now_ms
            ), False
        if isinstance(step, Facts):
            repeat = step.facts == self.facts
            self.facts = step.facts
            return changes + self.rejudge(
                now_ms=step.now_ms, cause=Cause.INVENTORY, at_ms=step.now_ms
            ), repeat
        if isinstance(step, Reconnect):
            return self._reconnect(step, changes)
        if isinstance(step, ServerState):
            state = (step.at_ms, step.event_id, step.state)
            repeat = state in self.states
            self.states.add(state)
            return changes + self.rejudge(
                now_ms=step.now_ms, cause=Cause.STREAM_STATE, at_ms=step.at_ms
            ), repeat
        presence = (step.at_ms, step.event_id, step.present)
        repeat = presence in self.presences
        self.presences.add(presence)
        if not step.present:
            self.deletes.append(step.at_ms)
        return changes + self.rejudge(
            now_ms=step.now_ms, cause=Cause.STREAM_STATE, at_ms=step.at_ms
        ), repeat

    def _reconnect(
        self, step: Reconnect, changes: list[StateChange]
    ) -> tuple[list[StateChange], bool]:
        skew = self.rules.max_future_skew_ms
        stamp = step.now_ms if step.at_ms > step.now_ms + skew else step.at_ms
        if not self.facts.enabled or stamp <= self.deleted_ms:
            return changes, False  # not counted, and leaves no trace
        remembered = {event_id for _, event_id in self.kept}
        if (stamp, step.event_id) in self.counted or step.event_id in remembered:
            return changes, True
        self.counted.add((stamp, step.event_id))
        return changes + self.rejudge(now_ms=step.now_ms, cause=step.cause, at_ms=stamp), False
