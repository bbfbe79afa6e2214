"""Produce a workload phase by phase, wait for the worker between phases, read what it left."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.engine import make_url

from stream_health.config.settings import TopicNames
from stream_health.db.listing import named
from stream_health.db.windows import LIST_BEHIND
from tests.faults.model import Expected, change_fields
from tests.faults.workload import Out, Workload

PRODUCE_TIMEOUT_S = 300.0


def asyncpg_dsn(database_url: str) -> str:
    """The plain asyncpg form of a SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Driver:
    """Feeds one scenario's topics and watches its database."""

    def __init__(
        self, *, bootstrap: str, topics: TopicNames, group: str, database_url: str, partitions: int
    ) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions  # of every topic (the suite creates them so)
        self.topics = topics
        self.group = group
        self.dsn = asyncpg_dsn(database_url)
        self._inputs = [*topics.inputs, topics.signals]

    async def produce(self, phase: Iterable[Out]) -> None:
        """Send a phase with an idempotent producer (no loss, no reordering, no duplicate)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=True,
            linger_ms=20,
            max_batch_size=1 << 20,
            request_timeout_ms=120_000,
        )
        try:
            await producer.start()
            sent = [
                await producer.send(getattr(self.topics, out.role), out.value, key=out.key)
                for out in phase
            ]
            # aiokafka's idempotent producer retries forever, and one that hit a fatal error
            # may leave batches unanswered: fail the scenario, not hang the suite.
            try:
                await asyncio.wait_for(asyncio.gather(*sent), PRODUCE_TIMEOUT_S)
            except TimeoutError:
                raise AssertionError(
                    f"the phase was not acknowledged within {PRODUCE_TIMEOUT_S} s"
                ) from None
        finally:
            await producer.stop()

    async def _query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.dsn, timeout=5)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    async def stored_offsets(self) -> dict[tuple[str, int], int]:
        rows = await self._query(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1",
            self.group,
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
        try:
            await consumer.start()
            partitions = [
                TopicPartition(topic, p) for topic in self._inputs for p in range(self.partitions)
            ]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}

    async def outbox_rows(self) -> int:
        return int((await self._query("SELECT count(*) AS n FROM outbox"))[0]["n"])

    async def list_dirty(self) -> int:
        """Windows whose admin-list rows a list flush has yet to write."""
        rows = await self._query(f"SELECT count(*) AS n FROM ({LIST_BEHIND}) b")
        return int(rows[0]["n"])

    async def caught_up(self) -> bool:
        """Everything produced so far is applied, signals included, the outbox is empty and
        the admin list is flushed."""
        ends = await self.end_offsets()
        stored = await self.stored_offsets()
        if any(stored.get(tp, 0) < end for tp, end in ends.items() if end):
            return False
        if await self.outbox_rows() or await self.list_dirty():
            return False
        return await self.end_offsets() == ends  # no signal published meanwhile

    async def wait_caught_up(self, timeout_s: float) -> None:
        """Block until `caught_up`, riding out a broker or database that is down."""
        deadline = time.monotonic() + timeout_s
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                if await self.caught_up():
                    return
            except Exception as exc:  # the broker or the database may be restarting
                last = exc
            await asyncio.sleep(0.5)
        raise AssertionError(f"the worker did not catch up within {timeout_s} s ({last!r})")

    async def applied(self) -> int:
        """Records the worker applied so far (input topics, exactly once each)."""
        rows = await self._query(
            "SELECT coalesce(sum(records), 0) AS n FROM consumed_counts WHERE topic = ANY($1)",
            list(self.topics.inputs),
        )
        return int(rows[0]["n"])

    async def read_topic(self, topic: str) -> list[bytes]:
        """Every value on `topic`, partition by partition, in offset order."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        try:
            await consumer.start()
            partitions = [TopicPartition(topic, p) for p in range(self.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            values: dict[TopicPartition, list[bytes]] = {tp: [] for tp in partitions}
            while behind := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for tp, batch in (await consumer.getmany(*behind, timeout_ms=1000)).items():
                    values[tp].extend(r.value for r in batch if r.value is not None)
            return [value for tp in partitions for value in values[tp]]
        finally:
            await consumer.stop()


class Mismatches:
    """Differences between the model and what the run left, a few examples per kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: list[str] = []

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= 5:
            self.examples.append(f"{kind}: {detail}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        return f"{self.counts}\n" + "\n".join(self.examples)

    def compare(self, kind: str, expected: dict[Any, Any], actual: dict[Any, Any]) -> None:
        for key in expected.keys() | actual.keys():
            want, got = expected.get(key), actual.get(key)
            if want != got:
                self.add(kind, f"{key}: expected {want}, got {got}")


def compare_changes(expected: Expected, values: list[bytes], found: Mismatches) -> int:
    """The changes topic, deduplicated by event_id, against the model; how many duplicates."""
    by_id: dict[str, bytes] = {}
    streams: dict[str, list[dict[str, Any]]] = {}
    duplicates = 0
    for value in values:
        change = orjson.loads(value)
        if change["event_id"] in by_id:
            duplicates += 1
            if by_id[change["event_id"]] != value:
                found.add("redelivery differs", change["event_id"])
            continue
        by_id[change["event_id"]] = value
        streams.setdefault(change["stream_uid"], []).append(change_fields(change))
    for uid in expected.changes.keys() | streams.keys():
        want, got = expected.changes.get(uid, []), streams.get(uid, [])
        seqs = [change["seq"] for change in got]
        if seqs != list(range(1, len(seqs) + 1)):
            found.add("seq gap", f"{uid}: {seqs}")
        if want != got:
            first = next(
                (i for i, (w, g) in enumerate(zip(want, got, strict=False)) if w != g), None
            )
            where = min(len(want), len(got)) if first is None else first
            detail = (
                f"{uid} #{where}: expected {want[where : where + 1]}, got {got[where : where + 1]}"
            )
            found.add("changes", f"{detail} ({len(want)} vs {len(got)})")
    return duplicates


async def compare_views(
    driver: Driver, workload: Workload, expected: Expected, found: Mismatches
) -> None:
    """Every view table against the model."""
    q = driver._query
    produced = workload.produced()
    totals = {
        r["topic"]: int(r["n"])
        for r in await q("SELECT topic, sum(records) AS n FROM consumed_counts GROUP BY topic")
    }
    sent = {getattr(driver.topics, role): n for role, n in produced.items()}
    found.compare("consumed", sent, {t: n for t, n in totals.items() if t in sent})
    in_kafka: dict[str, int] = {}
    for (topic, _), end in (await driver.end_offsets()).items():
        in_kafka[topic] = in_kafka.get(topic, 0) + end
    appended = (driver.topics.media_events, driver.topics.orchestrator_callbacks)
    found.compare(
        "in kafka",
        {t: n for t, n in sent.items() if t in appended},
        {t: n for t, n in in_kafka.items() if t in appended},
    )
    rows = await q("SELECT uid, conditions, seq FROM stream_windows WHERE seq > 0")
    found.compare(
        "windows",
        expected.windows,
        {r["uid"]: (tuple(sorted(r["conditions"])), r["seq"]) for r in rows},
    )
    rows = await q(
        "SELECT uid, condition, reconnect_attempt, reconnect_total, reconnect_ms, disconnections "
        f"FROM {named('stream_list')} AS l"
    )
    found.compare(
        "stream_list",
        expected.listed,
        {(r["uid"], r["condition"]): tuple(r.values())[2:] for r in rows},
    )
    rows = await q(
        "SELECT uid, condition, reconnect_attempt, reconnect_total, reconnect_ms, disconnections "
        f"FROM {named('stream_list_facts')} AS f"
    )
    found.compare(  # the copies a filtered page sorts by (migration 0010)
        "stream_list_facts copies",
        expected.listed,
        {(r["uid"], r["condition"]): tuple(r.values())[2:] for r in rows},
    )
    rows = await q(
        "SELECT uid, condition, stream_id, camera_id, domain "
        f"FROM {named('stream_list_facts')} AS f"
    )
    found.compare(
        "stream_list_facts",
        expected.listed_facts,
        {(r["uid"], r["condition"]): tuple(r.values())[2:] for r in rows},
    )
    rows = await q("SELECT condition, streams FROM condition_counts WHERE streams <> 0")
    found.compare("condition_counts", expected.counts, {r[0]: r[1] for r in rows})
    rows = await q(
        "SELECT job_uid, stream_uid, snapshot_ms, callback_status, callback_ms FROM analytics_jobs"
    )
    empty = (None, None, None, None)
    found.compare(
        "analytics_jobs",
        {job: row for job, row in expected.jobs.items() if row != empty},
        {r["job_uid"]: tuple(r.values())[1:] for r in rows},
    )
