"""What a workload must leave behind, computed without Kafka, PostgreSQL or the worker.

Each stream's steps run through the brute-force model of the domain tests, in the order the
workload fixes; inventory and jobs come from the workload's own bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from stream_health.config.conditions import parse_conditions
from stream_health.domain.stream import ANY_CONDITION, Cause, Rules, StateChange
from stream_health_worker.outputs import state_change
from tests.faults.workload import CONDITIONS, Workload
from tests.unit.stream_health.domain.model import ModelStream


def rules() -> Rules:
    """The rules the fault suite's worker runs by."""
    return Rules(parse_conditions(yaml.safe_load(CONDITIONS)))


def change_fields(change: dict[str, Any]) -> dict[str, Any]:
    """A published change without what depends on when it was applied.

    `emitted_at` always does; `at` does when inventory caused the change (it is the
    instant the owner re-judged the stream).
    """
    fields = {k: v for k, v in change.items() if k != "emitted_at"}
    if fields.get("cause") == Cause.INVENTORY.value:
        fields["at"] = None
    return fields


def _published(change: StateChange) -> dict[str, Any]:
    """The change as the worker publishes it (its own encoding), less the timing fields."""
    record = state_change(change, topic="changes", emitted_ms=0)
    return change_fields(orjson.loads(record.value))


@dataclass
class Expected:
    """The final views and, per stream, the changes in order."""

    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    windows: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    listed: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    listed_facts: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def _shown_counts(stream: ModelStream, now_ms: int) -> dict[str, int]:
    """What the admin list shows per held condition and under ANY_CONDITION."""
    counts, longest_ms, longest = {}, -1, 0
    for condition in stream.rules.reconnect_conditions:
        period = condition.threshold(increased_reconnect=stream.facts.increased).period_ms
        count = min(stream.count(at_ms=now_ms, period_ms=period), stream.rules.capacity)
        counts[condition.name] = count
        if period > longest_ms:
            longest_ms, longest = period, count
    shown = {name: counts.get(name, longest) for name in stream.conditions}
    shown[ANY_CONDITION] = longest
    return shown


def expect(workload: Workload) -> Expected:
    """Run the workload through the model."""
    the_rules, now_ms = rules(), workload.now_ms
    models: dict[str, ModelStream] = {}
    expected = Expected()
    for phase in workload.phases:
        for out in phase:
            for uid, step in out.steps:
                model = models.setdefault(uid, ModelStream(uid, the_rules))
                changes, _ = model.apply(step)
                expected.changes.setdefault(uid, []).extend(_published(c) for c in changes)
    for uid, model in models.items():
        if model.seq:
            expected.windows[uid] = (tuple(sorted(model.conditions)), model.seq)
        if not model.conditions:
            continue
        for name in model.conditions:
            expected.counts[name] = expected.counts.get(name, 0) + 1
        expected.counts[ANY_CONDITION] = expected.counts.get(ANY_CONDITION, 0) + 1
        counters = model.counters or (None, None)
        latest = max((stamp for stamp, _ in model.counted), default=None)
        stream = workload.streams[uid]
        known = stream.in_inventory
        domain = workload.servers[stream.server_id][0].lower() if known else None
        for name, shown in _shown_counts(model, now_ms).items():
            expected.listed[(uid, name)] = (*counters, latest, shown)
            expected.listed_facts[(uid, name)] = (
                stream.stream_id if known else None,
                stream.camera_id if known else None,
                domain,
            )
    for job in workload.jobs.values():
        status, at_ms = job.callback or (None, None)
        stream_uid = job.stream_uid if job.published else None
        expected.jobs[job.uid] = (stream_uid, job.snapshot_ms, status, at_ms)
    return expected
