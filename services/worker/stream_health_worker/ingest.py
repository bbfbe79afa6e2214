"""Apply a batch of input records in one PostgreSQL transaction, exactly once.

The transaction locks the batch's partition offset rows, skips records below the stored
offsets (redeliveries), applies inventory snapshots, moves the stream windows, and stores
windows, counters, offsets and the records to publish (the outbox) together. The windows
are stored list-dirty; `flush_listing` writes their admin-list rows later, many batches' worth
at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.settings import TopicNames
from stream_health.db import repository
from stream_health.db.activity import record_activity
from stream_health.db.analytics import CallbackWrite, JobWrite, apply_callbacks, apply_jobs
from stream_health.db.engine import driver_connection
from stream_health.db.inventory import apply_snapshots
from stream_health.db.listing import ListedStream, condition_ids, save_listing
from stream_health.db.outbox import enqueue
from stream_health.db.repository import Position
from stream_health.db.windows import (
    add_condition_counts,
    encode_windows,
    mark_listed,
    partition_uids,
    save_encoded,
    save_partition_rules,
    save_windows,
    take_list_mark,
)
from stream_health.domain.classify import shown_counts
from stream_health.domain.conditions import conditions_from_data, conditions_to_data
from stream_health.domain.stream import Rules, StreamWindow
from stream_health_core import first_offsets, fresh
from stream_health_worker.apply import Work
from stream_health_worker.owner import ListDirty, WindowOwner
from stream_health_worker.records import RawRecord, TopicRole, record_type
from stream_health_worker.schemas.analytics import callback_event_id, parse_callback, parse_job
from stream_health_worker.schemas.errors import Rejected, guarded
from stream_health_worker.schemas.inventory import inventory_kinds, parse_snapshot

log = logging.getLogger(__name__)

_UNSTORED = Position(0, 0)  # a partition with no offsets row yet


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What every batch needs: where offsets live, what each topic is, who owns windows."""

    consumer_group: str
    topics: TopicNames
    roles: dict[str, TopicRole]
    owner: WindowOwner
    down_statuses: frozenset[int] = frozenset({7})  # callback statuses counted as reconnections


@dataclass(slots=True)
class BatchResult:
    """What one batch did, for metrics and for the Kafka offset mirror."""

    applied: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    work: Work | None = None


async def lock_offsets(
    session: AsyncSession, *, consumer_group: str, partitions: set[tuple[str, int]]
) -> dict[tuple[str, int], Position]:
    """Lock (creating if needed) the offset rows of `partitions`, in a fixed order; their
    positions."""
    ordered = sorted(partitions)
    params = {
        "g": consumer_group,
        "topics": [t for t, _ in ordered],
        "parts": [p for _, p in ordered],
    }
    await session.execute(
        text(
            "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
            "SELECT :g, t, p, 0 "
            "FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[])) AS x(t, p) "
            "ON CONFLICT DO NOTHING"
        ),
        params,
    )
    rows = await session.execute(
        text(
            "SELECT o.topic, o.partition, o.next_offset, o.epoch FROM consumer_offsets o "
            "JOIN unnest(CAST(:topics AS text[]), CAST(:parts AS int[])) AS x(t, p) "
            "ON o.topic = x.t AND o.partition = x.p "
            "WHERE o.consumer_group = :g ORDER BY o.topic, o.partition FOR UPDATE OF o"
        ),
        params,
    )
    return {(t, p): Position(o, e) for t, p, o, e in rows.all()}


def _fresh(
    records: Sequence[RawRecord], stored: Mapping[tuple[str, int], Position], result: BatchResult
) -> list[RawRecord]:
    """The records not applied before (at or past where their partition stands), in order;
    the others counted as skipped. One compiled pass (shared/native/src/batches.rs)."""
    return fresh(records, stored, result.next_offsets, result.skipped)


async def _apply_inventory(
    conn: Any, ctx: WorkerContext, records: list[RawRecord], work: Work
) -> None:
    kinds = inventory_kinds(ctx.topics)
    for topic, kind in kinds.items():
        items = []
        for record in (r for r in records if r.topic == topic):
            try:
                items.append(guarded(parse_snapshot, kind, record.key, record.value))
            except Rejected as rejected:
                work.reject(record, rejected.reason)
        if items:
            work.recheck(await apply_snapshots(conn, kind=kind, items=items))


def _job_writes(records: list[RawRecord], work: Work) -> list[JobWrite]:
    """Per job, what stands after the batch's snapshots and tombstones, in topic order."""
    writes: dict[str, JobWrite] = {}
    for record in records:
        try:
            job_uid, job, document = guarded(parse_job, record.key, record.value)
        except Rejected as rejected:
            work.reject(record, rejected.reason)
            continue
        held = writes.get(job_uid)
        deleted_first = held is not None and held.deleted_first
        if job is None:
            writes[job_uid] = JobWrite(job_uid, deleted_first=True)
        elif held is None or held.updated_ms is None or job.updated_ms >= held.updated_ms:
            writes[job_uid] = JobWrite(
                job_uid, job.stream_uid, document, job.updated_ms, deleted_first=deleted_first
            )
    return list(writes.values())


async def _apply_analytics(
    conn: Any, ctx: WorkerContext, records: list[RawRecord], work: Work
) -> None:
    jobs = [r for r in records if r.topic == ctx.topics.orchestrator_jobs]
    counted = await apply_jobs(conn, writes=_job_writes(jobs, work))
    callbacks = []
    for record in (r for r in records if r.topic == ctx.topics.orchestrator_callbacks):
        try:
            callback = guarded(parse_callback, record.key, record.value)
        except Rejected as rejected:
            work.reject(record, rejected.reason)
            continue
        down = callback.status in ctx.down_statuses
        event_id = callback_event_id(record.topic, record.partition, record.offset)
        callbacks.append(
            CallbackWrite(
                callback.job_uid, callback.status, callback.received_ms, event_id if down else None
            )
        )
    counted += await apply_callbacks(conn, writes=callbacks)
    work.count_reconnects(counted)


class FencedError(RuntimeError):
    """A partition's stored offsets are not what the batch was prepared on: another owner
    advanced it meanwhile. The batch's work is void; it must be prepared again."""

    def __init__(self, moved: Collection[tuple[str, int]]) -> None:
        super().__init__(f"partitions advanced by another owner: {sorted(moved)}")
        self.moved = sorted(moved)


@dataclass(slots=True)
class PreparedBatch:
    """A batch's stream work done in memory, waiting for its transaction.

    What the transaction writes is fixed here: the windows as encoded bytes, the records to
    publish as bytes. The windows themselves may move on with the next batch meanwhile.
    """

    others: list[RawRecord]  # inventory and analytics: applied inside the transaction
    assumed: dict[tuple[str, int], Position]  # the stored positions the stream work started from
    result: BatchResult
    work: Work
    windows: bytes | None  # binary COPY data of the windows the work changed


def _stream_keys(ctx: WorkerContext, touched: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """Every co-partitioned (topic, partition) of the stream partitions among `touched`."""
    owned = ctx.topics.owned_by_stream
    partitions = {p for t, p in touched if t in owned}
    return {(t, p) for t in owned for p in partitions}


def unpositioned(ctx: WorkerContext, touched: Iterable[tuple[str, int]]) -> bool:
    """Whether the owner has no position for a stream partition among `touched` (a batch's
    (topic, partition)s): preparing them reads its stored offsets and windows, which must not
    be on their way to PostgreSQL (wait for the transaction in flight first)."""
    keys = _stream_keys(ctx, touched)
    return len(ctx.owner.positions(keys)) < len(keys)


async def prepare_batch(
    sessions: async_sessionmaker[AsyncSession],
    *,
    ctx: WorkerContext,
    records: Sequence[RawRecord],
    now_ms: int,
) -> PreparedBatch:
    """Apply the stream records of a batch to the windows in memory and encode what to store.

    It starts from where this owner's earlier batches left each partition (the offsets it
    prepared them to, which their transactions are storing, maybe still), reading the stored
    offsets only for partitions it has no position for. Records below those offsets were
    applied before (a redelivery) and are skipped. `commit_batch` checks, under the offsets'
    row locks, that nobody else moved them since. Until then the windows in memory are ahead
    of PostgreSQL: on any failure the caller must `forget` the batch's partitions.
    """
    owned = ctx.topics.owned_by_stream
    mine = [r for r in records if r.topic in owned]
    others = [r for r in records if r.topic not in owned]
    keys = _stream_keys(ctx, first_offsets(mine))
    owner = ctx.owner
    result = BatchResult()
    work = result.work = Work(owner, topics=ctx.topics, now_ms=now_ms)
    assumed = owner.positions(keys)
    if mine:
        async with sessions() as session:
            conn = await driver_connection(session)
            if unknown := keys - assumed.keys():
                stored = await repository.load_positions(
                    session, consumer_group=ctx.consumer_group, topics={t for t, _ in unknown}
                )
                read = {key: stored.get(key, _UNSTORED) for key in unknown}
                owner.fence(read)  # a cache without a position is not to be trusted
                assumed |= read
            route(ctx.roles, _fresh(mine, assumed, result), work, result.applied)
            await work.apply(conn)
    windows = encode_windows(owner.rows(work.dirty, now_ms=now_ms))
    # The batch moves offsets, never epochs.
    owner.advanced(
        {
            **assumed,
            **{k: Position(o, assumed[k].epoch) for k, o in result.next_offsets.items()},
        }
    )
    return PreparedBatch(others, assumed, result, work, windows)


def route(
    roles: Mapping[str, TopicRole],
    records: list[RawRecord],
    work: Work,
    applied: Counter[tuple[str, str]],
) -> None:
    """Hand each record of the stream topics to `work`, in order, counted in `applied`."""
    media = TopicRole.MEDIA_EVENTS  # not per record: an enum member read through its class
    index = 0
    while index < len(records):
        # Runs of plain stream events in one compiled call; the record it stops at here.
        index = work.media_run(records, index, applied)
        if index < len(records):
            record = records[index]
            kind = work.media_event(record) if roles[record.topic] is media else work.signal(record)
            applied[(record.topic, kind)] += 1
            index += 1


async def commit_batch(
    sessions: async_sessionmaker[AsyncSession], *, ctx: WorkerContext, prepared: PreparedBatch
) -> BatchResult:
    """Store a prepared batch in one transaction, with its inventory and analytics records.

    The transaction locks the offsets rows of every partition the batch touches (and of the
    co-partitioned topics'). If a stream partition's stored offset is not the one the batch was
    prepared on, it raises `FencedError` and writes nothing. A record of another topic below its
    stored offset was applied before and is skipped: the effect is exactly once.
    """
    result, work = prepared.result, prepared.work
    partitions = set(prepared.assumed) | {(r.topic, r.partition) for r in prepared.others}
    async with sessions() as session, session.begin():
        stored = await lock_offsets(
            session, consumer_group=ctx.consumer_group, partitions=partitions
        )
        moved = [key for key, position in prepared.assumed.items() if stored[key] != position]
        if moved:
            raise FencedError(moved)
        conn = await driver_connection(session)
        if prepared.others:
            fresh = _fresh(prepared.others, stored, result)
            await _apply_others(conn, ctx, fresh, work, result.applied)
        await save_encoded(conn, data=prepared.windows)
        await enqueue(conn, records=work.outgoing)
        await record_activity(conn, seen=work.servers)
        await repository.add_consumed(session, counts=result.applied)
        await repository.save_offsets(
            session, consumer_group=ctx.consumer_group, offsets=result.next_offsets
        )
    ctx.owner.stored(work.dirty, refreshed=work.refresh)
    return result


async def _apply_others(
    conn: Any,
    ctx: WorkerContext,
    fresh: list[RawRecord],
    work: Work,
    applied: Counter[tuple[str, str]],
) -> None:
    """Inventory snapshots and analytics records: PostgreSQL state and signals to owners."""
    inventory = set(inventory_kinds(ctx.topics))
    await _apply_inventory(conn, ctx, [r for r in fresh if r.topic in inventory], work)
    analytics = {ctx.topics.orchestrator_jobs, ctx.topics.orchestrator_callbacks}
    await _apply_analytics(conn, ctx, [r for r in fresh if r.topic in analytics], work)
    for record in fresh:
        applied[(record.topic, record_type(ctx.roles[record.topic], record.value))] += 1


async def apply_batch(
    sessions: async_sessionmaker[AsyncSession],
    *,
    ctx: WorkerContext,
    records: Sequence[RawRecord],
    now_ms: int,
) -> BatchResult:
    """Prepare and commit a batch, one after the other: what the runtime overlaps.

    A batch fenced out by another owner is prepared again from what that owner stored.
    """
    while True:
        prepared = await prepare_batch(sessions, ctx=ctx, records=records, now_ms=now_ms)
        try:
            return await commit_batch(sessions, ctx=ctx, prepared=prepared)
        except BaseException as exc:
            forget_partitions(ctx.owner, {r.partition for r in records})
            if not isinstance(exc, FencedError):
                raise
            log.info("worker.batch_fenced", extra={"partitions": exc.moved})


def forget_partitions(owner: WindowOwner, partitions: Iterable[int]) -> None:
    """A batch's work is void: drop the windows of its partitions, ahead of PostgreSQL."""
    for partition in set(partitions):
        owner.forget(partition)


async def store(conn: Any, work: Work) -> None:
    """Save the windows the work touched (list-dirty) and queue its records for the relay."""
    await save_windows(conn, items=work.owner.rows(work.dirty, now_ms=work.now_ms))
    await enqueue(conn, records=work.outgoing)


async def flush_listing(
    sessions: async_sessionmaker[AsyncSession],
    *,
    ctx: WorkerContext,
    now_ms: int,
    lock: AbstractAsyncContextManager[Any] | None = None,
    partitions: Collection[int] | None = None,
) -> int:
    """Rewrite the admin-list rows of the owned list-dirty windows, in one transaction.

    `partitions`: only those of these partitions (default: every owned one). Flushes of
    disjoint partitions write disjoint rows, so they may run at once on two connections.
    Returns how many streams' rows were written. `lock` is the one batches hold: it is held
    only to take the windows (as committed, after a fence like a batch's: a partition another
    owner advanced is reloaded from PostgreSQL first) and to commit (after checking that
    nobody else advanced the partitions meanwhile); the rows are written while batches go on.
    """
    owner = ctx.owner
    lock = lock or asyncio.Lock()
    async with lock:
        snapshot = await _take_listing(sessions, ctx, now_ms, partitions)
    if snapshot is None:
        return 0
    taken, streams, mark = snapshot
    fence = _fence(ctx, taken.windows)
    try:
        await _number_conditions(sessions, owner, streams)
        async with sessions() as session:
            conn = await driver_connection(session)
            moved = await save_listing(conn, streams=streams)
            async with lock:  # no batch in flight: the offsets are as batches left them
                stored = await lock_offsets(
                    session, consumer_group=ctx.consumer_group, partitions=fence
                )
                if not owner.owns_as_stored(stored, taken.windows):
                    await session.rollback()
                    owner.untake(taken)
                    log.info("worker.list_flush_fenced", extra={"streams": len(streams)})
                    return 0
                await add_condition_counts(conn, deltas=moved)
                # Windows stored since the flush took its own are numbered above `mark`:
                # they stay behind their rows, as the owner's list-dirty set says.
                await mark_listed(conn, partitions=taken.windows, through=mark)
                await session.commit()
    except BaseException:
        owner.untake(taken)
        raise
    return len(streams)


async def _number_conditions(
    sessions: async_sessionmaker[AsyncSession], owner: WindowOwner, streams: list[ListedStream]
) -> None:
    """Number the condition names of `streams` this owner has not seen numbered, in a
    transaction of their own: numbered in the flush's, a name would make the other lane's
    flush, meeting it too, wait for this whole flush to commit (0.7 s in the benchmark's
    final flush, on a new database)."""
    names = {name for shared in {s.conditions for s in streams} for name in shared}
    if new := names - owner.numbered:
        async with sessions() as session, session.begin():
            await condition_ids(await driver_connection(session), new)
        owner.numbered |= new


def _fence(ctx: WorkerContext, partitions: Collection[int]) -> set[tuple[str, int]]:
    return {(t, p) for t in ctx.topics.owned_by_stream for p in partitions}


async def _take_listing(
    sessions: async_sessionmaker[AsyncSession],
    ctx: WorkerContext,
    now_ms: int,
    among: Collection[int] | None,
) -> tuple[ListDirty, list[ListedStream], int] | None:
    """Fence the partitions (of `among`) with list-dirty windows, take those windows, what
    their rows show at `now_ms`, and the list mark their flush records (under the owner lock:
    the windows as committed)."""
    owner = ctx.owner
    partitions = owner.list_partitions
    if among is not None:
        partitions &= set(among)
    if not partitions:
        return None
    taken: ListDirty | None = None
    try:
        async with sessions() as session, session.begin():
            stored = await lock_offsets(
                session, consumer_group=ctx.consumer_group, partitions=_fence(ctx, partitions)
            )
            owner.fence(stored)
            conn = await driver_connection(session)
            taken = await owner.take_list_dirty(conn, partitions)
            mark = await take_list_mark(conn)
        streams = [
            _listed(owner.window(partition, uid), owner.rules, now_ms, uid in taken.facts)
            for partition, uids in taken.windows.items()
            for uid in uids
        ]
    except BaseException:
        if taken is not None:
            owner.untake(taken)
        raise
    owner.advanced(stored)
    return taken, streams, mark


def _listed(window: StreamWindow, rules: Rules, now_ms: int, facts: bool) -> ListedStream:
    conditions, counts = shown_counts(window, rules, at_ms=now_ms)
    return ListedStream(
        uid=window.uid,
        conditions=conditions,
        counts=counts,
        reconnect_attempt=window.reconnect_attempt,
        reconnect_total=window.reconnect_total,
        reconnect_ms=window.last_reconnect_ms,
        facts=facts,
    )


async def drain_due(
    sessions: async_sessionmaker[AsyncSession], *, ctx: WorkerContext, now_ms: int
) -> Work | None:
    """Let the windows that drained by `now_ms` leave their conditions, in one transaction."""
    due = ctx.owner.due(now_ms)
    if not due:
        return None
    partitions = {(t, p) for t in ctx.topics.owned_by_stream for p in due}
    async with sessions() as session, session.begin():
        stored = await lock_offsets(
            session, consumer_group=ctx.consumer_group, partitions=partitions
        )
        ctx.owner.fence(stored)
        conn = await driver_connection(session)
        work = Work(ctx.owner, topics=ctx.topics, now_ms=now_ms)
        await ctx.owner.load(conn, due)
        for partition, uids in due.items():
            for uid in sorted(uids):
                work.drained(partition, ctx.owner.window(partition, uid))
        await store(conn, work)
        # It consumed no record: the epoch tells other owners' fences it wrote.
        stored = await repository.advance_epochs(
            session, consumer_group=ctx.consumer_group, partitions=partitions
        )
    ctx.owner.advanced(stored)
    ctx.owner.stored(work.dirty)
    return work


async def reconfigure_pending(
    sessions: async_sessionmaker[AsyncSession], *, ctx: WorkerContext, now_ms: int
) -> Work | None:
    """Reclassify the streams of partitions last judged by other conditions (cause `config`)."""
    owner = ctx.owner
    if not owner.reconfigure:
        return None
    partition, judged_by = next(iter(owner.reconfigure.items()))
    old = owner.rules
    if judged_by is not None:
        old = Rules(conditions_from_data(judged_by), max_future_skew_ms=old.max_future_skew_ms)
    partitions = {(t, partition) for t in ctx.topics.owned_by_stream}
    async with sessions() as session, session.begin():
        stored = await lock_offsets(
            session, consumer_group=ctx.consumer_group, partitions=partitions
        )
        owner.fence(stored)
        conn = await driver_connection(session)
        uids = await partition_uids(conn, partition=partition)
        await owner.load(conn, {partition: uids})
        work = Work(owner, topics=ctx.topics, now_ms=now_ms)
        for uid in uids:
            work.reconfigured(partition, owner.window(partition, uid), old=old)
        await store(conn, work)
        await save_partition_rules(
            conn, partition=partition, conditions=conditions_to_data(owner.rules.conditions)
        )
        stored = await repository.advance_epochs(
            session, consumer_group=ctx.consumer_group, partitions=partitions
        )
    owner.advanced(stored)
    owner.stored(work.dirty)
    owner.reconfigure.pop(partition, None)
    return work
