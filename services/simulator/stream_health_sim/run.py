"""Publish a simulated fleet to Kafka with a progress bar, then report what the worker applied."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream_health.config.settings import Settings
from stream_health.db import repository
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.db.windows import condition_counts
from stream_health_sim.fleet import SimRecord, build_fleet, event_timeline, inventory_records


@dataclass(frozen=True, slots=True)
class SimOptions:
    """What to simulate."""

    cameras: int = 2000
    servers: int = 8
    flapping_share: float = 0.1
    history_s: int = 3600
    seed: int = 7
    wait_s: float = 120.0


def _type_of(record: SimRecord) -> str:
    if record.role == "media_events" and record.value is not None:
        return str(record.value["event"])
    return "snapshot" if record.value is not None else "tombstone"


async def publish(
    settings: Settings, records: list[SimRecord], console: Console
) -> Counter[tuple[str, str]]:
    """Send every record with an idempotent producer; count them by (topic, type)."""
    topics = settings.topics.model_dump()
    sent: Counter[tuple[str, str]] = Counter()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_idempotence=True,
        linger_ms=20,
        client_id="stream-health-simulator",
    )
    await producer.start()
    try:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("publishing", total=len(records))
            for i, record in enumerate(records, 1):
                topic = topics[record.role]
                value = None if record.value is None else orjson.dumps(record.value)
                await producer.send(topic, value, key=record.key.encode())
                sent[(topic, _type_of(record))] += 1
                if i % 500 == 0 or i == len(records):
                    progress.update(task, completed=i)
            await producer.flush()
    finally:
        await producer.stop()
    return sent


async def simulate(settings: Settings, options: SimOptions, console: Console) -> int:
    """Publish the fleet, wait for the worker to apply it, and print a report; 0 on success."""
    now_ms = int(time.time() * 1000)
    fleet = build_fleet(
        seed=options.seed,
        cameras=options.cameras,
        servers=options.servers,
        now_ms=now_ms,
        flapping_share=options.flapping_share,
    )
    start_ms = now_ms - options.history_s * 1000
    records = [
        *inventory_records(fleet, at_ms=start_ms),
        *event_timeline(fleet, seed=options.seed, start_ms=start_ms, end_ms=now_ms),
    ]
    console.print(
        f"fleet: {len(fleet.servers)} servers, {len(fleet.cameras)} cameras, "
        f"{len(fleet.flapping)} flapping, {len(fleet.disabled)} disabled; "
        f"{len(records)} records over the last {options.history_s} s"
    )
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_sessions(engine)
    try:
        async with sessions() as session:
            before = await repository.consumed_counts(session)
        sent = await publish(settings, records, console)
        applied = await _wait_for_worker(sessions, before, sent, options.wait_s)
        async with sessions() as session:
            in_condition = await condition_counts(await driver_connection(session))
    finally:
        await engine.dispose()
    _report(console, sent, applied)
    _report_conditions(console, in_condition)
    return 0 if all(applied[k] >= n for k, n in sent.items()) else 1


async def _wait_for_worker(
    sessions: async_sessionmaker[AsyncSession],
    before: dict[tuple[str, str], int],
    sent: Counter[tuple[str, str]],
    wait_s: float,
) -> Counter[tuple[str, str]]:
    deadline = time.monotonic() + wait_s
    while True:
        async with sessions() as session:
            now = await repository.consumed_counts(session)
        applied = Counter({k: now.get(k, 0) - before.get(k, 0) for k in sent})
        if all(applied[k] >= n for k, n in sent.items()) or time.monotonic() > deadline:
            return applied
        await asyncio.sleep(0.5)


def _report(
    console: Console, sent: Counter[tuple[str, str]], applied: Counter[tuple[str, str]]
) -> None:
    table = Table(title="what the worker consumed (from PostgreSQL)")
    for column in ("topic", "record type", "published", "applied by worker"):
        table.add_column(column, justify="right" if "p" in column[:2] else "left")
    for (topic, kind), n in sorted(sent.items()):
        table.add_row(topic, kind, str(n), str(applied[(topic, kind)]))
    console.print(table)


def _report_conditions(console: Console, counts: dict[str, int]) -> None:
    table = Table(title="streams in each condition now (all streams, from PostgreSQL)")
    table.add_column("condition")
    table.add_column("streams", justify="right")
    for name, n in sorted(counts.items()):
        table.add_row(name, str(n))
    console.print(table)
