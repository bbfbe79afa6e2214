"""One batch's stream work: parse, route to the window owner, run the domain, collect output.

Thin on purpose: decoding and validation happen in the schemas, rules in the domain. This
module only decides which domain function a record means and gathers what to store.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from stream_health.config.settings import TopicNames
from stream_health.db.activity import ServerSeen
from stream_health.db.inventory import load_facts
from stream_health.db.outbox import Outgoing
from stream_health.domain import transitions
from stream_health.domain.stream import UNKNOWN, Rules, StateChange, StreamFacts, StreamWindow
from stream_health_worker import outputs
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import RawRecord
from stream_health_worker.schemas.errors import Rejected, guarded
from stream_health_worker.schemas.events import EventKind, MediaEvent, parse_event, route_run
from stream_health_worker.schemas.signals import CountedReconnect, Recheck, parse_signal

Op = MediaEvent | Recheck | CountedReconnect
_LABEL = re.compile(r"^[a-z0-9_.-]{1,32}:[a-z0-9_.-]{1,32}$")
# Enum members read through their class cost a descriptor call: these run per event.
_RECONNECT, _STATE, _CREATE, _PULSE = (
    EventKind.RECONNECT,
    EventKind.STATE,
    EventKind.CREATE,
    EventKind.PULSE,
)
_NAMES = {kind: kind.value for kind in EventKind}


class Work:
    """The stream-facing part of one batch, applied in record order per stream."""

    def __init__(self, owner: WindowOwner, *, topics: TopicNames, now_ms: int) -> None:
        self.owner = owner
        self.rules = owner.rules
        self.topics = topics
        self.now_ms = now_ms
        self.ops: list[tuple[int, str, Op]] = []
        self.wanted: dict[int, set[str]] = {}
        self.refresh: set[str] = set()
        self.dirty: dict[int, set[str]] = {}
        self.outgoing: list[Outgoing] = []
        # Per server: its latest event (time, kind) and its latest statistics (time, data).
        self._latest: dict[str, tuple[int, EventKind]] = {}
        self._stats: dict[str, tuple[int, dict[str, Any]]] = {}
        self.changes: list[StateChange] = []
        self.dead_letters: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self.duplicates = 0
        self.skewed = 0

    def reject(self, record: RawRecord, reason: str) -> str:
        """Send a record to the dead-letter topic, with why."""
        self.dead_letters[record.topic] += 1
        self.outgoing.append(
            outputs.dead_letter(
                topic=record.topic,
                dlq_topic=self.topics.dlq,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                error=reason,
                failed_ms=self.now_ms,
            )
        )
        return "rejected"

    def recheck(self, uids: list[str]) -> None:
        """Tell the owners of `uids` that inventory changed (via the signals topic)."""
        for uid in uids:
            self.outgoing.append(outputs.signal(Recheck(uid=uid), topic=self.topics.signals))

    def count_reconnects(self, counted: list[tuple[str, int, int]]) -> None:
        """Reconnections from analytics (uid, at_ms, event id): to their owners, as signals."""
        for uid, at_ms, event_id in counted:
            signal = CountedReconnect(uid=uid, at_ms=at_ms, event_id=event_id)
            self.outgoing.append(outputs.signal(signal, topic=self.topics.signals))

    def media_run(
        self, records: list[RawRecord], start: int, applied: Counter[tuple[str, str]]
    ) -> int:
        """Route `records[start:]` of the media-events topic as `media_event` does, counted in
        `applied`, while they are plainly valid stream events (compiled, one call for the
        run: shared/native/src/events.rs); the index of the first record left to Python."""
        index, skewed = route_run(
            records,
            start,
            self.topics.media_events,
            self.now_ms,
            self.rules.max_future_skew_ms,
            self.ops,
            self.wanted,
            self._latest,
            applied,
        )
        self.skewed += skewed
        return index

    def media_event(self, record: RawRecord) -> str:
        """Route one media-server event; returns its type for the counters."""
        try:
            event = guarded(parse_event, record.value)
        except Rejected as rejected:
            return self.reject(record, rejected.reason)
        if isinstance(event, str):
            label = event if _LABEL.match(event) else "other"
            self.unknown[label] += 1
            return "unknown"
        at_ms, skewed = self.rules.clamp(event.at_ms, now_ms=self.now_ms)
        if skewed:
            self.skewed += 1
            # Only counting is clamped: the newest-wins order of state, presence and counters
            # keeps the event's own time, so a retried old event can never overtake a newer one.
            self._seen(event, at_ms)
            if event.kind is _RECONNECT:
                event = event._replace(at_ms=at_ms)
        else:
            self._seen(event, at_ms)
        uid = event.uid
        if uid is not None:
            partition = record.partition
            wanted = self.wanted.get(partition)
            if wanted is None:
                wanted = self.wanted[partition] = set()
            wanted.add(uid)
            self.ops.append((partition, uid, event))
        return _NAMES[event.kind]

    def signal(self, record: RawRecord) -> str:
        """Route one signal for a window owned here."""
        try:
            signal = guarded(parse_signal, record.value)
        except Rejected as rejected:
            return self.reject(record, rejected.reason)
        if isinstance(signal, Recheck):
            self.refresh.add(signal.uid)
        self._want(record.partition, signal.uid, signal)
        return f"signal:{signal.type}"

    async def apply(self, conn: Any) -> None:
        """Load the windows, run every op through the domain, collect changes."""
        await self.owner.load(conn, self.wanted)
        facts = await load_facts(conn, uuids=self.refresh) if self.refresh else {}
        ops, now_ms = self.ops, self.now_ms
        # Runs of reconnections and state reports nothing drains before go through the
        # compiled steps in one call (shared/native/src/rules.rs, `apply_run`); it stops at
        # the first op they do not take, which goes through `_apply_one`, in order.
        run = self.owner.compiled.apply_run
        windows, made = self.owner.windows, list[StateChange]()
        index = 0
        while index < len(ops):
            index, repeats = run(
                ops, index, windows, now_ms, self.dirty, made, MediaEvent, _RECONNECT, _STATE
            )
            self.duplicates += repeats
            if made:
                self._emit(made)
                made.clear()
            if index < len(ops):
                self._apply_one(*ops[index], facts)
                index += 1
        # Applied: while the batch's transaction runs, the next batch is prepared, and these
        # need not be held for it.
        self.ops, self.wanted = [], {}

    def _apply_one(self, partition: int, uid: str, op: Op, facts: dict[str, StreamFacts]) -> None:
        """Apply an op the compiled run left: through the domain (a reconnection or a state
        report the run declined, it declines again: it leaves such windows untouched)."""
        window = self.owner.window(partition, uid)
        outcome = self._dispatch(window, op, facts)
        if outcome.duplicate:
            self.duplicates += 1
        # A re-check always stores the window list-dirty: inventory its rows show may have
        # changed.
        if not outcome.duplicate or outcome.changes or isinstance(op, Recheck):
            self.dirty.setdefault(partition, set()).add(uid)
        self._emit(outcome.changes)

    def drained(self, partition: int, window: StreamWindow) -> None:
        """Record a wake-up of the timer: conditions may drain, shown counts may fall."""
        changes = transitions.drain(window, self.rules, now_ms=self.now_ms)
        self.dirty.setdefault(partition, set()).add(window.uid)  # its list rows, its next wake
        self._emit(changes)

    def reconfigured(self, partition: int, window: StreamWindow, *, old: Rules) -> None:
        """Judge a window by the current conditions after it was judged by `old`."""
        changes = transitions.on_rules(window, old=old, new=self.rules, now_ms=self.now_ms)
        self.dirty.setdefault(partition, set()).add(window.uid)
        self._emit(changes)

    def _emit(self, changes: list[StateChange]) -> None:
        for change in changes:
            self.changes.append(change)
            self.outgoing.append(
                outputs.state_change(change, topic=self.topics.changes, emitted_ms=self.now_ms)
            )

    def _dispatch(
        self, window: StreamWindow, op: Op, facts: dict[str, StreamFacts]
    ) -> transitions.Outcome:
        rules, now_ms = self.rules, self.now_ms
        if isinstance(op, Recheck):
            return transitions.on_facts(
                window, rules, facts=facts.get(op.uid, UNKNOWN), now_ms=now_ms
            )
        if isinstance(op, CountedReconnect):
            at_ms, _ = rules.clamp(op.at_ms, now_ms=now_ms)
            return transitions.on_reconnect(
                window, rules, at_ms=at_ms, event_id=op.event_id, now_ms=now_ms, cause=op.cause
            )
        if op.attempt is not None and op.total is not None:
            transitions.on_counters(
                window, at_ms=op.at_ms, event_id=op.event_id, attempt=op.attempt, total=op.total
            )
        kind = op.kind
        if kind is _RECONNECT:
            return transitions.on_reconnect(
                window, rules, at_ms=op.at_ms, event_id=op.event_id, now_ms=now_ms
            )
        if kind is _STATE:
            return transitions.on_server_state(
                window,
                rules,
                at_ms=op.at_ms,
                event_id=op.event_id,
                state=op.state or "",
                now_ms=now_ms,
            )
        return transitions.on_presence(
            window,
            rules,
            at_ms=op.at_ms,
            event_id=op.event_id,
            present=kind is _CREATE,
            now_ms=now_ms,
        )

    def _want(self, partition: int, uid: str, op: Op) -> None:
        self.wanted.setdefault(partition, set()).add(uid)
        self.ops.append((partition, uid, op))

    def _seen(self, event: MediaEvent, at_ms: int) -> None:
        server, kind = event.server, event.kind
        latest = self._latest.get(server)
        if latest is None or at_ms >= latest[0]:
            self._latest[server] = (at_ms, kind)
        if kind is _PULSE and event.extra is not None:
            stats = self._stats.get(server)
            if stats is None or at_ms >= stats[0]:
                self._stats[server] = (at_ms, event.extra)

    @property
    def servers(self) -> dict[str, ServerSeen]:
        """Per server the batch heard from: its latest event and its latest statistics."""
        seen = {}
        for server, (at_ms, kind) in self._latest.items():
            extra_ms, extra = self._stats.get(server, (None, None))
            seen[server] = ServerSeen(at_ms, _NAMES[kind], extra, extra_ms)
        return seen
