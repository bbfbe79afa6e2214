"""The worker's handler logic in memory: records in, records to publish out."""

import asyncio
import base64
from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.domain.conditions import (
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)
from stream_health.domain.stream import Rules
from stream_health_worker import outputs
from stream_health_worker.apply import Op, Work
from stream_health_worker.ingest import route
from stream_health_worker.outputs import change_event_id, iso_ms
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import RawRecord, topic_roles
from stream_health_worker.schemas.events import EventKind, MediaEvent
from stream_health_worker.schemas.signals import Recheck
from tests.records import Record

NOW_MS = 1_795_000_000_000
TOPICS = TopicNames()


class EmptyDatabase:
    """A connection to a database that knows no stream and no inventory."""

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return []


def _work() -> Work:
    rules = Rules(load_conditions(None))
    owner = WindowOwner(rules=rules, owned_topics=TOPICS.owned_by_stream)
    return Work(owner, topics=TOPICS, now_ms=NOW_MS)


def _event(kind: str, uid: str, seq: int, at_ms: int, offset: int = 0) -> Record:
    body = {
        "event": kind,
        "server": "ms1",
        "pid": 1,
        "seq": seq,
        "timestamp": at_ms / 1000,
        "data": {"uid": uid, "state": "disabled"},
    }
    return Record(TOPICS.media_events, 3, offset, uid.encode(), orjson.dumps(body))


async def _run(work: Work, *records: Record) -> list[str]:
    kinds = [work.media_event(r) for r in records]
    await work.apply(EmptyDatabase())
    return kinds


async def test_first_reconnect_of_an_unknown_stream_publishes_entering_incorrect() -> None:
    work = _work()

    kinds = await _run(work, _event("stream:reconnect", "u1", 1, NOW_MS - 5_000))

    assert kinds == ["stream:reconnect"]
    [record] = work.outgoing
    assert (record.topic, record.key) == (TOPICS.changes, b"u1")
    assert orjson.loads(record.value) == {
        "event_id": change_event_id("u1", 1),
        "stream_id": None,
        "stream_uid": "u1",
        "camera_id": None,
        "server_id": None,
        "seq": 1,
        "conditions": ["incorrect"],
        "entered": ["incorrect"],
        "left": [],
        "reconnects": {"incorrect": 1, "problematic": 1},
        "cause": "reconnect",
        "at": iso_ms(NOW_MS - 5_000),
        "emitted_at": iso_ms(NOW_MS),
    }
    assert work.dirty == {3: {"u1"}}


async def test_a_repeated_event_is_counted_as_duplicate_and_publishes_nothing_more() -> None:
    work = _work()
    event = _event("stream:reconnect", "u1", 1, NOW_MS - 5_000)

    await _run(work, event, event)

    assert len(work.outgoing) == 1
    assert work.duplicates == 1


async def test_an_event_too_far_ahead_is_clamped_to_now_and_counted() -> None:
    work = _work()

    await _run(work, _event("stream:reconnect", "u1", 1, NOW_MS + 3_600_000))

    assert work.skewed == 1
    assert orjson.loads(work.outgoing[0].value)["at"] == iso_ms(NOW_MS)


async def test_unknown_event_types_are_skipped_and_counted_by_type() -> None:
    work = _work()

    kinds = await _run(work, _event("camera:motion", "u1", 1, NOW_MS))

    assert kinds == ["unknown"]
    assert work.unknown == {"camera:motion": 1}
    assert work.outgoing == []


async def test_an_invalid_record_becomes_a_dead_letter_naming_the_field() -> None:
    work = _work()
    body = orjson.dumps({"event": "stream:reconnect", "server": "ms1", "pid": 1, "seq": 1})
    bad = Record(TOPICS.media_events, 2, 41, b"u1", body)

    kinds = await _run(work, bad)

    assert kinds == ["rejected"]
    [record] = work.outgoing
    assert (record.topic, record.key) == (TOPICS.dlq, b"u1")
    letter = orjson.loads(record.value)
    assert letter["error"] == "timestamp: Field required"
    assert (letter["topic"], letter["partition"], letter["offset"]) == (TOPICS.media_events, 2, 41)
    assert (letter["value"], letter["value_encoding"]) == (body.decode(), "utf-8")
    assert letter["failed_at"] == iso_ms(NOW_MS)


async def test_a_value_that_is_not_utf8_is_kept_in_base64() -> None:
    work = _work()
    raw = b"\xff\xfe not json"

    await _run(work, Record(TOPICS.media_events, 0, 7, None, raw))

    letter = orjson.loads(work.outgoing[0].value)
    assert letter["value_encoding"] == "base64"
    assert base64.b64decode(letter["value"]) == raw
    assert letter["key"] is None


async def test_a_disabled_report_enters_disabled_and_marks_the_server_seen() -> None:
    work = _work()

    await _run(work, _event("stream:state", "u9", 4, NOW_MS - 1_000))

    change = orjson.loads(work.outgoing[0].value)
    assert (change["conditions"], change["cause"]) == (["disabled"], "stream_state")
    assert work.servers["ms1"].at_ms == NOW_MS - 1_000


async def test_a_later_event_of_the_server_keeps_the_statistics_of_its_pulse() -> None:
    # The server's latest event is what `is_actual` reads; its statistics (the api's
    # `server.extra`) are those of its latest pulse, whatever came after it in the batch.
    work = _work()
    stats = {"cpu": 12.5, "streams": 40}
    pulse = {"event": "service:pulse", "server": "MS1", "pid": 1, "seq": 1, "data": stats}
    older = {**pulse, "seq": 0, "data": {"cpu": 99.0}}
    records = [
        Record(
            TOPICS.media_events,
            3,
            offset,
            None,
            orjson.dumps({**body, "timestamp": (NOW_MS - 3_000 + offset) / 1000}),
        )
        for offset, body in enumerate((older, pulse))
    ]

    await _run(work, *records, _event("stream:reconnect", "u1", 5, NOW_MS - 500, offset=2))

    seen = work.servers["ms1"]
    assert (seen.at_ms, seen.event_type) == (NOW_MS - 500, "stream:reconnect")
    assert seen.extra == stats


class _DomainOnly:
    """Compiled rules whose apply run takes nothing: every op goes through the domain."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def apply_run(self, ops: list[Any], start: int, *_: Any) -> tuple[int, int]:
        return start, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compiled, name)


_UIDS = ("u1", "u2", "u3")
_SHORT = Rules(
    ConditionSet(
        (
            ReconnectCondition("incorrect", Threshold(1, 2_000, 1)),
            ReconnectCondition("problematic", Threshold(3, 1_000, 2)),
            StateCondition("disabled", "disabled"),
        )
    )
)


@st.composite
def _ops(draw: st.DrawFn) -> tuple[int, Op]:
    """One op of a batch: mostly reconnections and state reports, some presence events and
    re-checks; ids from a small pool, so some repeat; times around the batches' clocks."""
    uid = draw(st.sampled_from(_UIDS))
    partition = _UIDS.index(uid) % 2
    kind = draw(
        st.sampled_from(
            [EventKind.RECONNECT] * 4 + [EventKind.STATE] * 2 + [EventKind.CREATE, EventKind.DELETE]
        )
        | st.just(None)
    )
    if kind is None:
        return partition, Recheck(uid=uid)
    at_ms = NOW_MS + draw(st.integers(-3_000, 6_000))
    counters = draw(st.one_of(st.tuples(st.none(), st.none()), st.tuples(*[st.integers(0, 9)] * 2)))
    return partition, MediaEvent(
        kind,
        "ms1",
        at_ms,
        draw(st.integers(0, 12)),
        uid,
        draw(st.sampled_from(["disabled", "running"])) if kind is EventKind.STATE else None,
        *counters,
    )


@settings(deadline=None, max_examples=300)
@given(batches=st.lists(st.lists(_ops(), max_size=12), min_size=1, max_size=5))
def test_the_compiled_runs_apply_a_batch_as_the_domain_does_op_by_op(
    batches: list[list[tuple[int, Op]]],
) -> None:
    # Batches a second apart: held conditions drain between them, and the run must stop at
    # the ops that drain first (the domain's) and take the ones after.
    owners = []
    for compiled in (True, False):
        owner = WindowOwner(rules=_SHORT, owned_topics=TOPICS.owned_by_stream)
        if not compiled:
            owner.compiled = _DomainOnly(owner.compiled)  # type: ignore[assignment]
        owners.append(owner)
    for number, batch in enumerate(batches):
        works = []
        for owner in owners:
            work = Work(owner, topics=TOPICS, now_ms=NOW_MS + 1_000 * number)
            for partition, op in batch:
                work._want(partition, op.uid or "", op)
            asyncio.run(work.apply(EmptyDatabase()))
            works.append(work)
        fast, slow = works
        assert fast.changes == slow.changes
        assert [r.value for r in fast.outgoing] == [r.value for r in slow.outgoing]
        assert fast.dirty == slow.dirty
        assert fast.duplicates == slow.duplicates
        assert owners[0].windows == owners[1].windows


_KINDS = ["stream:reconnect"] * 4 + ["stream:state", "stream:create", "service:pulse", "camera:x"]


@st.composite
def _records(draw: st.DrawFn, offset: int) -> Record:
    """A record of the media-events topic (mostly plainly valid stream events; also pulses,
    unknown types, invalid or unreadable values, times far ahead) or a signal."""
    uid = draw(st.sampled_from(["u1", "U2", "u3"]))
    partition = draw(st.integers(0, 1))
    if draw(st.integers(0, 9)) == 0:
        value = outputs.signal(Recheck(uid=uid.lower()), topic=TOPICS.signals).value
        return Record(TOPICS.signals, partition, offset, uid.encode(), value)
    at_ms = NOW_MS + draw(st.sampled_from([-5_000, -1, 0, 299_999, 300_001, 3_600_000]))
    timestamp: object = draw(
        st.sampled_from([at_ms / 1000, iso_ms(at_ms), at_ms // 1000, "yesterday"])
    )
    body: dict[str, object] = {
        "event": draw(st.sampled_from(_KINDS)),
        "server": draw(st.sampled_from(["ms1", "MS1", "ms2"])),
        "pid": 1,
        "seq": draw(st.integers(0, 5)),
        "timestamp": timestamp,
        "data": draw(
            st.sampled_from(
                [{"uid": uid, "state": "disabled"}, {"uid": uid}, {"state": "x"}, {"cpu": 1.5}]
            )
        ),
    }
    raw: bytes | None = draw(st.sampled_from([orjson.dumps(body)] * 6 + [b"{", b'"x"', None]))
    return Record(TOPICS.media_events, partition, offset, uid.encode(), raw)


@settings(deadline=None, max_examples=300)
@given(data=st.data(), size=st.integers(0, 20))
def test_the_compiled_routing_runs_route_a_batch_as_python_does_record_by_record(
    data: st.DataObject, size: int
) -> None:
    records: list[RawRecord] = [data.draw(_records(offset)) for offset in range(size)]
    fast, fast_applied = _work(), Counter[tuple[str, str]]()
    route(topic_roles(TOPICS), records, fast, fast_applied)
    slow, slow_applied = _work(), Counter[tuple[str, str]]()
    for record in records:
        handle = slow.media_event if record.topic == TOPICS.media_events else slow.signal
        slow_applied[(record.topic, handle(record))] += 1

    assert fast.ops == slow.ops
    assert all(type(a) is type(b) for (_, _, a), (_, _, b) in zip(fast.ops, slow.ops, strict=True))
    assert fast.wanted == slow.wanted
    assert fast_applied == slow_applied
    assert all(type(kind) is str for _, kind in fast_applied)
    assert fast.servers == slow.servers
    assert (fast.skewed, fast.unknown, fast.dead_letters) == (
        slow.skewed,
        slow.unknown,
        slow.dead_letters,
    )
    assert fast.outgoing == slow.outgoing
