"""Analytics jobs and their callbacks in PostgreSQL; the caller owns the transaction.

Both writers lock a job's row (in job-uid order) before touching its pending DOWNs, so a
callback that finds no job and a snapshot that finds no pending DOWN cannot miss each other
when they run in two workers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, Text
from sqlalchemy.dialects.postgresql import JSON
from sqlmodel import Field, SQLModel


class AnalyticsJob(SQLModel, table=True):
    """A job as its snapshot describes it, and the latest callback's status."""

    __tablename__ = "analytics_jobs"

    job_uid: str = Field(sa_column=Column(Text, primary_key=True))
    stream_uid: str | None = Field(default=None, sa_column=Column(Text))
    doc: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    snapshot_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    callback_status: int | None = Field(default=None, sa_column=Column(Integer))
    callback_ms: int | None = Field(default=None, sa_column=Column(BigInteger))


@dataclass(frozen=True, slots=True)
class JobWrite:
    """The job's snapshot that stands after a batch (None: deleted), with its document."""

    job_uid: str
    stream_uid: str | None = None
    document: str | None = None  # JSON text
    updated_ms: int | None = None
    deleted_first: bool = False  # a tombstone came before it in the batch


@dataclass(frozen=True, slots=True)
class CallbackWrite:
    """One callback: the job, its status and time, and its reconnection id if it counts."""

    job_uid: str
    status: int
    at_ms: int
    down_event_id: int | None  # set when the status counts as a reconnection


Counted = tuple[str, int, int]  # (stream uid, at_ms, event id): a reconnection to signal


async def _lock(conn: Any, uids: Sequence[str]) -> dict[str, str | None]:
    """Create the missing rows, lock all of them in uid order; each one's stream uid."""
    ordered = sorted(set(uids))
    await conn.execute(
        "INSERT INTO analytics_jobs (job_uid) SELECT unnest($1::text[]) ORDER BY 1 "
        "ON CONFLICT DO NOTHING",
        ordered,
    )
    rows = await conn.fetch(
        "SELECT job_uid, stream_uid FROM analytics_jobs WHERE job_uid = ANY($1::text[]) "
        "ORDER BY job_uid FOR UPDATE",
        ordered,
    )
    return {row["job_uid"]: row["stream_uid"] for row in rows}


async def apply_jobs(conn: Any, *, writes: Sequence[JobWrite]) -> list[Counted]:
    """Store the batch's job snapshots (older `updated_at` loses, tombstones delete); the
    pending DOWNs of jobs that now name their stream, to count."""
    if not writes:
        return []
    await _lock(conn, [w.job_uid for w in writes])
    deleted = [w.job_uid for w in writes if w.deleted_first or w.document is None]
    if deleted:
        await conn.execute(
            "DELETE FROM analytics_pending_downs WHERE job_uid = ANY($1::text[])", deleted
        )
        await conn.execute("DELETE FROM analytics_jobs WHERE job_uid = ANY($1::text[])", deleted)
    stand = [w for w in writes if w.document is not None]
    if not stand:
        return []
    await conn.execute(
        "INSERT INTO analytics_jobs (job_uid, stream_uid, doc, snapshot_ms) "
        # Text on the wire (the engine may install its own json codec), cast here.
        "SELECT u, s, d::json, m FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) "
        "AS n(u, s, d, m) ORDER BY 1 "
        "ON CONFLICT (job_uid) DO UPDATE SET stream_uid = EXCLUDED.stream_uid, "
        "doc = EXCLUDED.doc, snapshot_ms = EXCLUDED.snapshot_ms "
        "WHERE analytics_jobs.snapshot_ms IS NULL "
        "OR EXCLUDED.snapshot_ms >= analytics_jobs.snapshot_ms",
        [w.job_uid for w in stand],
        [w.stream_uid for w in stand],
        [w.document for w in stand],
        [w.updated_ms for w in stand],
    )
    rows = await conn.fetch(
        "DELETE FROM analytics_pending_downs p USING analytics_jobs j "
        "WHERE p.job_uid = j.job_uid AND j.job_uid = ANY($1::text[]) "
        "AND j.stream_uid IS NOT NULL RETURNING j.stream_uid, p.at_ms, p.event_id",
        [w.job_uid for w in stand],
    )
    return sorted((r["stream_uid"], r["at_ms"], r["event_id"]) for r in rows)


async def apply_callbacks(conn: Any, *, writes: Sequence[CallbackWrite]) -> list[Counted]:
    """Keep each job's latest callback status; DOWNs of known jobs to count, of unknown kept."""
    if not writes:
        return []
    streams = await _lock(conn, [w.job_uid for w in writes])
    latest: dict[str, CallbackWrite] = {}
    for write in writes:  # in topic order: at an equal time the later record wins
        held = latest.get(write.job_uid)
        if held is None or write.at_ms >= held.at_ms:
            latest[write.job_uid] = write
    newest = sorted(latest.values(), key=lambda w: w.job_uid)
    await conn.execute(
        "UPDATE analytics_jobs j SET callback_status = n.status, callback_ms = n.at_ms "
        "FROM unnest($1::text[], $2::int[], $3::bigint[]) AS n(job_uid, status, at_ms) "
        "WHERE j.job_uid = n.job_uid AND (j.callback_ms IS NULL OR n.at_ms >= j.callback_ms)",
        [w.job_uid for w in newest],
        [w.status for w in newest],
        [w.at_ms for w in newest],
    )
    downs = [w for w in writes if w.down_event_id is not None]
    pending = [w for w in downs if streams.get(w.job_uid) is None]
    if pending:
        await conn.execute(
            "INSERT INTO analytics_pending_downs (job_uid, event_id, at_ms) "
            "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING",
            [w.job_uid for w in pending],
            [w.down_event_id for w in pending],
            [w.at_ms for w in pending],
        )
    return [
        (stream_uid, w.at_ms, w.down_event_id)
        for w in downs
        if w.down_event_id is not None and (stream_uid := streams.get(w.job_uid)) is not None
    ]


async def load_job(conn: Any, *, job_uid: str) -> Any:
    """The job's row (document as JSON text), or None when its snapshot has not arrived."""
    return await conn.fetchrow(
        "SELECT doc::text AS doc, snapshot_ms, callback_status, callback_ms "
        "FROM analytics_jobs WHERE job_uid = $1 AND doc IS NOT NULL",
        job_uid,
    )
