import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.db import repository
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.db.listing import named, save_listing
from stream_health.db.windows import LIST_BEHIND, condition_counts, load_windows
from stream_health.domain.stream import Rules
from stream_health_worker import ingest as ingest_module
from stream_health_worker.ingest import (
    FencedError,
    WorkerContext,
    apply_batch,
    commit_batch,
    drain_due,
    flush_listing,
    prepare_batch,
    reconfigure_pending,
)
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from tests.conftest import fresh_sessions
from tests.readback import listed_rows
from tests.records import Record

NOW_MS = time.time_ns() // 1_000_000


def _events(topic: str, partition: int, offsets: range, *, base_ms: int = NOW_MS) -> list[Record]:
    records = []
    for offset in offsets:
        uid = f"{topic}-{partition}-{offset % 7}"
        body = {
            "event": "stream:reconnect",
            "server": "ms1",
            "pid": partition,
            "seq": offset,
            "timestamp": (base_ms - 60_000 + offset) / 1000,
            "data": {"uid": uid},
        }
        records.append(Record(topic, partition, offset, uid.encode(), orjson.dumps(body)))
    return records


def _context(topics: TopicNames, group: str) -> WorkerContext:
    rules = Rules(load_conditions(None))
    return WorkerContext(
        consumer_group=group,
        topics=topics,
        roles=topic_roles(topics),
        owner=WindowOwner(rules=rules, owned_topics=topics.owned_by_stream),
    )


async def _read_back(
    sessions: async_sessionmaker[AsyncSession], group: str, topic: str
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, int], int]]:
    async with sessions() as session:
        counts = await repository.consumed_counts(session)
        offsets = await repository.load_offsets(session, consumer_group=group, topics=[topic])
    return counts, offsets


async def _changes(sessions: async_sessionmaker[AsyncSession], topic: str) -> dict[str, list[int]]:
    """Each stream's change seqs, in outbox order; the rows are then removed.

    These tests run no relay, and their topics do not exist in Kafka: rows left behind
    would hold up the relay of any worker later started on this database.
    """
    async with sessions() as session, session.begin():
        conn = await driver_connection(session)
        rows = await conn.fetch("DELETE FROM outbox WHERE topic = $1 RETURNING id, value", topic)
    rows = sorted(rows, key=lambda row: row["id"])
    seqs: dict[str, list[int]] = {}
    for row in rows:
        change = orjson.loads(row["value"])
        seqs.setdefault(change["stream_uid"], []).append(change["seq"])
    return seqs


def _unique_topics() -> TopicNames:
    tag = uuid.uuid4().hex[:10]
    return TopicNames(media_events=f"ev-{tag}", signals=f"sig-{tag}", changes=f"ch-{tag}")


async def test_a_redelivered_batch_has_no_effect(migrated_database_url: str) -> None:
    topics = _unique_topics()
    engine = make_engine(migrated_database_url)
    sessions = make_sessions(engine)
    group = f"g-{uuid.uuid4().hex}"
    ctx = _context(topics, group)
    try:
        first = await apply_batch(
            sessions, ctx=ctx, records=_events(topics.media_events, 0, range(10)), now_ms=NOW_MS
        )
        # After a crash the consumer re-reads from an older position: offsets 5..14.
        second = await apply_batch(
            sessions,
            ctx=ctx,
            records=_events(topics.media_events, 0, range(5, 15)),
            now_ms=NOW_MS,
        )
        counts, offsets = await _read_back(sessions, group, topics.media_events)
        changes = await _changes(sessions, topics.changes)
    finally:
        await engine.dispose()

    assert first.applied[(topics.media_events, "stream:reconnect")] == 10
    assert second.applied[(topics.media_events, "stream:reconnect")] == 5
    assert second.skipped[topics.media_events] == 5
    assert counts[(topics.media_events, "stream:reconnect")] == 15
    assert offsets == {(topics.media_events, 0): 15}
    # 15 reconnects over 7 streams: each entered incorrect once; 3 reconnects do not reach 5.
    assert changes == {f"{topics.media_events}-0-{i}": [1] for i in range(7)}


async def test_two_owners_of_one_partition_never_double_count(migrated_database_url: str) -> None:
    # A rebalance can leave the old and the new owner reading the same records at once:
    # each owner reads its partitions in order, in batches cut at different places, and
    # each has its own cache of windows, which the offsets fence must keep honest.
    topics = _unique_topics()
    engine = make_engine(migrated_database_url, pool_size=10)
    sessions = make_sessions(engine)
    group = f"g-{uuid.uuid4().hex}"

    async def owner(cuts: list[int]) -> None:
        ctx = _context(topics, group)
        for start, end in itertools.pairwise(cuts):
            records = [
                r for p in (0, 1) for r in _events(topics.media_events, p, range(start, end))
            ]
            await apply_batch(sessions, ctx=ctx, records=records, now_ms=NOW_MS)

    try:
        await asyncio.gather(
            owner([0, 50, 100, 200]), owner([0, 30, 60, 90, 120, 200]), owner([0, 200])
        )
        counts, offsets = await _read_back(sessions, group, topics.media_events)
        changes = await _changes(sessions, topics.changes)
    finally:
        await engine.dispose()

    assert counts[(topics.media_events, "stream:reconnect")] == 400  # 200 offsets x 2 partitions
    assert offsets == {(topics.media_events, 0): 200, (topics.media_events, 1): 200}
    # Every stream got 28 or 29 reconnects: incorrect, then problematic, each exactly once.
    assert changes == {f"{topics.media_events}-{p}-{i}": [1, 2] for p in (0, 1) for i in range(7)}


async def _listed(sessions: async_sessionmaker[AsyncSession], prefix: str) -> dict[str, Any]:
    """The list rows, list flags and condition counters as PostgreSQL holds them."""
    async with sessions() as session:
        conn = await driver_connection(session)
        rows = await conn.fetch(
            "SELECT uid, condition, disconnections "
            f"FROM {named('stream_list')} l WHERE uid LIKE $1",
            f"{prefix}%",
        )
        facts = await conn.fetch(
            f"SELECT uid, condition FROM {named('stream_list_facts')} f WHERE uid LIKE $1",
            f"{prefix}%",
        )
        flagged = await conn.fetch(f"{LIST_BEHIND} AND w.uid LIKE $1", f"{prefix}%")
        windows = await load_windows(
            conn,
            uids=[
                r["uid"]
                for r in await conn.fetch(
                    "SELECT uid FROM stream_windows WHERE uid LIKE $1", f"{prefix}%"
                )
            ],
        )
        counts = await condition_counts(conn)
    return {
        "rows": {(r["uid"], r["condition"]): r["disconnections"] for r in rows},
        "facts": {(r["uid"], r["condition"]) for r in facts},
        "flagged": {r["uid"] for r in flagged},
        "windows": windows,
        "counts": counts,
    }


@pytest.fixture
async def sessions(
    migrated_database_url: str,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database of this test's only: a list flush looks at every flagged
    window of its partitions, whoever's test stored them."""
    async with fresh_sessions("flush") as made:
        yield made


async def _assigned(sessions: async_sessionmaker[AsyncSession], ctx: WorkerContext) -> None:
    async with sessions() as session:
        await ctx.owner.assigned(await driver_connection(session), [0, 1])


async def _owner_of_seven_streams(
    sessions: async_sessionmaker[AsyncSession], topics: TopicNames
) -> WorkerContext:
    """An owner of partitions 0 and 1 that applied one event of each of 7 streams."""
    ctx = _context(topics, f"g-{uuid.uuid4().hex}")
    await _assigned(sessions, ctx)
    records = _events(topics.media_events, 0, range(7))
    await apply_batch(sessions, ctx=ctx, records=records, now_ms=NOW_MS)
    return ctx


async def _two_owners(
    sessions: async_sessionmaker[AsyncSession], topics: TopicNames
) -> tuple[WorkerContext, WorkerContext]:
    """Two workers of one group that both believe they own partitions 0 and 1."""
    group = f"g-{uuid.uuid4().hex}"
    first, second = _context(topics, group), _context(topics, group)
    await _assigned(sessions, first)
    await _assigned(sessions, second)
    return first, second


async def _flush_with_a_batch_meanwhile(
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    *,
    flusher: WorkerContext,
    batcher: WorkerContext,
    records: list[Record],
) -> int:
    """`flusher`'s list flush, with `batcher` applying `records` once the rows are written
    and before the flush commits (where batches go on in a running worker)."""

    async def rows_then_a_batch(conn: Any, *, streams: Any) -> Any:
        moved = await save_listing(conn, streams=streams)
        await apply_batch(sessions, ctx=batcher, records=records, now_ms=NOW_MS)
        return moved

    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "save_listing", rows_then_a_batch)
        return await flush_listing(sessions, ctx=flusher, now_ms=NOW_MS, lock=asyncio.Lock())


async def test_batches_leave_the_list_to_one_flush_that_writes_what_the_windows_say(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topics = _unique_topics()
    ctx = _context(topics, f"g-{uuid.uuid4().hex}")
    await _assigned(sessions, ctx)
    before = await _listed(sessions, topics.media_events)
    for start in (0, 10, 20):  # three batches, seven streams in each
        records = _events(topics.media_events, 0, range(start, start + 10))
        await apply_batch(sessions, ctx=ctx, records=records, now_ms=NOW_MS)
    pending = await _listed(sessions, topics.media_events)
    written = await flush_listing(sessions, ctx=ctx, now_ms=NOW_MS)
    after = await _listed(sessions, topics.media_events)
    again = await flush_listing(sessions, ctx=ctx, now_ms=NOW_MS)
    await _changes(sessions, topics.changes)

    uids = {f"{topics.media_events}-0-{i}" for i in range(7)}
    assert pending["rows"] == {}  # stored, not yet listed
    assert pending["flagged"] == uids
    assert written == 7  # 30 events, 3 batches: one rewrite per stream
    expected = listed_rows(after["windows"], ctx.owner.rules, NOW_MS)
    assert after["rows"] == expected
    assert after["facts"] == set(expected)
    assert {name for _, name in expected} == {"incorrect", "problematic", "*"}
    assert after["flagged"] == set()
    moved = {
        name: after["counts"].get(name, 0) - before["counts"].get(name, 0)
        for name in ("incorrect", "problematic", "*")
    }
    assert moved == {name: sum(1 for _, n in expected if n == name) for name in moved}
    assert again == 0  # nothing left behind


async def test_a_new_owner_flushes_the_list_rows_a_crashed_owner_left(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topics = _unique_topics()
    group = f"g-{uuid.uuid4().hex}"
    crashed, successor = _context(topics, group), _context(topics, group)
    await _assigned(sessions, crashed)
    records = _events(topics.media_events, 0, range(20))
    await apply_batch(sessions, ctx=crashed, records=records, now_ms=NOW_MS)
    # The first owner dies before its list flush: only PostgreSQL knows what is behind.
    await _assigned(sessions, successor)
    written = await flush_listing(sessions, ctx=successor, now_ms=NOW_MS)
    after = await _listed(sessions, topics.media_events)
    await _changes(sessions, topics.changes)

    assert written == 7
    assert after["rows"] == listed_rows(after["windows"], successor.owner.rules, NOW_MS)
    assert len(after["rows"]) > 7
    assert after["flagged"] == set()


async def test_a_flush_after_another_owner_moved_the_partition_lists_its_windows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # A zombie owner's cache is behind: the fence must make its flush write the windows
    # as stored (with the other owner's reconnections), never its own stale copies.
    topics = _unique_topics()
    zombie, other = await _two_owners(sessions, topics)
    stream = topics.media_events
    await apply_batch(sessions, ctx=zombie, records=_events(stream, 0, range(7)), now_ms=NOW_MS)
    await apply_batch(sessions, ctx=other, records=_events(stream, 0, range(7, 35)), now_ms=NOW_MS)
    stale = zombie.owner.window(0, f"{stream}-0-0")
    written = await flush_listing(sessions, ctx=zombie, now_ms=NOW_MS)
    after = await _listed(sessions, stream)
    await _changes(sessions, topics.changes)

    assert written == 7  # its own flag and the other owner's, found in PostgreSQL
    assert after["rows"] == listed_rows(after["windows"], zombie.owner.rules, NOW_MS)
    assert after["rows"][(f"{stream}-0-0", "problematic")] == 5  # 5 reconnections, not 1
    assert stale.conditions == {"incorrect"}  # what the zombie held before the fence
    assert after["flagged"] == set()


async def test_streams_a_batch_stores_while_the_flush_writes_stay_flagged_for_the_next(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flush writes its rows without the owner's lock, so batches go on meanwhile: what
    # they store must neither mix into the rows being written nor lose its flag.
    topics = _unique_topics()
    ctx = await _owner_of_seven_streams(sessions, topics)
    stream = topics.media_events
    snapshot = await _listed(sessions, stream)
    # Streams 0-2 get 4 reconnections more while the flush writes.
    later = [r for r in _events(stream, 0, range(7, 35)) if r.offset % 7 < 3]
    written = await _flush_with_a_batch_meanwhile(
        sessions, monkeypatch, flusher=ctx, batcher=ctx, records=later
    )
    first = await _listed(sessions, stream)
    again = await flush_listing(sessions, ctx=ctx, now_ms=NOW_MS)
    second = await _listed(sessions, stream)
    await _changes(sessions, topics.changes)

    moved_on = {f"{stream}-0-{i}" for i in range(3)}
    assert written == 7
    assert first["rows"] == listed_rows(snapshot["windows"], ctx.owner.rules, NOW_MS)
    assert first["flagged"] == moved_on  # stored again meanwhile: still behind
    assert again == 3
    assert second["rows"] == listed_rows(second["windows"], ctx.owner.rules, NOW_MS)
    assert second["rows"][(f"{stream}-0-0", "problematic")] == 5
    assert second["flagged"] == set()
    assert {n: second["counts"].get(n, 0) for n in ("incorrect", "problematic", "*")} == {
        n: snapshot["counts"].get(n, 0) + sum(1 for _, c in second["rows"] if c == n)
        for n in ("incorrect", "problematic", "*")
    }


async def test_a_flush_commits_nothing_if_another_owner_advanced_the_partition_meanwhile(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = _unique_topics()
    zombie, other = await _two_owners(sessions, topics)
    stream = topics.media_events
    await apply_batch(sessions, ctx=zombie, records=_events(stream, 0, range(7)), now_ms=NOW_MS)
    written = await _flush_with_a_batch_meanwhile(
        sessions,
        monkeypatch,
        flusher=zombie,
        batcher=other,
        records=_events(stream, 0, range(7, 35)),
    )
    fenced = await _listed(sessions, stream)
    again = await flush_listing(sessions, ctx=zombie, now_ms=NOW_MS)
    after = await _listed(sessions, stream)
    await _changes(sessions, topics.changes)

    uids = {f"{stream}-0-{i}" for i in range(7)}
    assert written == 0  # its rows were of windows the other owner has moved since
    assert fenced["rows"] == {}
    assert fenced["flagged"] == uids
    assert again == 7  # fenced first this time: the windows as stored
    assert after["rows"] == listed_rows(after["windows"], zombie.owner.rules, NOW_MS)
    assert after["rows"][(f"{stream}-0-0", "problematic")] == 5
    assert after["flagged"] == set()


async def test_a_batch_is_fenced_by_a_drain_another_owner_committed_after_it_read_the_windows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # A drain consumes no records, so it moves no offset: the partition's fence must still
    # notice it, or a batch prepared on the windows as they were overwrites the drain (and
    # its stream's next change reuses the drain's seq).
    topics = _unique_topics()
    zombie, owner = await _two_owners(sessions, topics)
    stream = topics.media_events
    await apply_batch(sessions, ctx=zombie, records=_events(stream, 0, range(7)), now_ms=NOW_MS)
    later_ms = NOW_MS + 86_400_000  # every window has drained by then
    records = _events(stream, 0, range(7, 14), base_ms=later_ms)
    prepared = await prepare_batch(sessions, ctx=owner, records=records, now_ms=later_ms)
    drained = await drain_due(sessions, ctx=zombie, now_ms=later_ms)
    with pytest.raises(FencedError):
        await commit_batch(sessions, ctx=owner, prepared=prepared)
    ingest_module.forget_partitions(owner.owner, [0])
    await apply_batch(sessions, ctx=owner, records=records, now_ms=later_ms)
    async with sessions() as session:
        conn = await driver_connection(session)
        uids = [f"{stream}-0-{i}" for i in range(7)]
        stored = await load_windows(conn, uids=uids)
    changes = await _changes(sessions, topics.changes)

    assert drained is not None
    assert len(drained.changes) == 7  # each left incorrect
    # Entered at NOW_MS, left by the drain, entered again by the later reconnection.
    assert changes == {uid: [1, 2, 3] for uid in uids}
    assert {uid: (w.seq, w.conditions) for uid, w in stored.items()} == {
        uid: (3, frozenset({"incorrect"})) for uid in uids
    }


async def test_drains_and_reclassifications_move_the_epoch_and_no_offset(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topics = _unique_topics()
    ctx = _context(topics, f"g-{uuid.uuid4().hex}")
    await _assigned(sessions, ctx)  # partitions judged by no conditions yet: to reclassify
    stream = topics.media_events

    async def positions() -> dict[tuple[str, int], repository.Position]:
        async with sessions() as session:
            return await repository.load_positions(
                session, consumer_group=ctx.consumer_group, topics=topics.owned_by_stream
            )

    while ctx.owner.reconfigure:
        await reconfigure_pending(sessions, ctx=ctx, now_ms=NOW_MS)
    reclassified = await positions()
    await apply_batch(sessions, ctx=ctx, records=_events(stream, 0, range(7)), now_ms=NOW_MS)
    consumed = await positions()
    drained = await drain_due(sessions, ctx=ctx, now_ms=NOW_MS + 86_400_000)
    after = await positions()
    await _changes(sessions, topics.changes)

    keys = [(t, p) for t in sorted(topics.owned_by_stream) for p in (0, 1)]
    assert [reclassified[k] for k in keys] == [(0, 1)] * 4
    assert consumed[(stream, 0)] == (7, 1)  # a batch moves the offset only
    assert drained is not None
    assert after[(stream, 0)] == (7, 2)
    assert after[(topics.signals, 0)] == (0, 2)  # its co-partitioned rows too
    assert after[(stream, 1)] == (0, 1)  # nothing drained there
    assert ctx.owner.positions(keys) == {k: after[k] for k in keys}


async def test_a_flush_numbers_new_condition_names_in_a_transaction_of_its_own(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Numbered inside the flush's transaction, a new name would hold the other lane's flush
    # (which meets it too) until this whole flush commits.
    topics = _unique_topics()
    ctx = await _owner_of_seven_streams(sessions, topics)

    async def write_fails(conn: Any, *, streams: Any) -> Counter[str]:
        raise RuntimeError("the flush's own write failed")

    monkeypatch.setattr(ingest_module, "save_listing", write_fails)
    with pytest.raises(RuntimeError):
        await flush_listing(sessions, ctx=ctx, now_ms=NOW_MS)
    async with sessions() as session:
        conn = await driver_connection(session)
        numbered = {row["name"] for row in await conn.fetch("SELECT name FROM list_conditions")}

    held = {name for window in ctx.owner.windows[0].values() for name in window.conditions}
    assert held  # the streams are listed somewhere
    assert numbered == held | {"*"}  # the names their rows are under
    assert ctx.owner.numbered == numbered
