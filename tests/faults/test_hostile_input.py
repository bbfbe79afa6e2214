"""Hostile input: every bad record is dead-lettered with its reason, every valid one applied.

A generated corpus (STREAM_HEALTH_HOSTILE_RECORDS bad records, 10k by default) of invalid
JSON, wrong types, missing and null fields, huge numbers and strings, bytes that are not
UTF-8, NUL characters, negative sequence numbers and timestamps in year 1 and 9999, shuffled
among valid reconnections of the same streams, on the same partitions.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_health.kafka.topics import ensure_topics, topic_specs
from stream_health_worker.schemas.events import event_id
from tests.conftest import fresh_database, unique_topics
from tests.faults.driver import Mismatches
from tests.faults.hostile import build_corpus
from tests.faults.model import rules
from tests.faults.scenarios import PARTITIONS, Workers, driver_for, worker_env
from tests.faults.stack import FaultStack
from tests.unit.stream_health.domain.model import ModelStream, Reconnect

BAD = int(os.environ.get("STREAM_HEALTH_HOSTILE_RECORDS", "10000"))


@pytest.mark.timeout(900)
async def test_bad_records_are_dead_lettered_and_valid_ones_applied(
    fault_stack: FaultStack, tmp_path: Path
) -> None:
    now_ms = time.time_ns() // 1_000_000
    corpus = build_corpus(bad=BAD, valid=BAD // 2, now_ms=now_ms)
    topics = unique_topics(f"h{uuid.uuid4().hex[:8]}")
    async with fresh_database("hostile", server_url=fault_stack.database_url) as url:
        await ensure_topics(fault_stack.bootstrap, topic_specs(topics, partitions=PARTITIONS))
        env = worker_env(fault_stack, url, topics, tmp_path)
        driver = driver_for(fault_stack, env, topics, url)
        workers = Workers(env=env, logs=tmp_path)
        worker = await workers.start()
        try:
            producer = AIOKafkaProducer(
                bootstrap_servers=fault_stack.bootstrap,
                enable_idempotence=True,
                max_request_size=4 << 20,
                linger_ms=20,
            )
            await producer.start()
            try:
                sent = [
                    await producer.send(getattr(topics, role), value, key=key)
                    for role, key, value, _ in corpus.records
                ]
                placed = await asyncio.gather(*sent)
            finally:
                await producer.stop()
            await driver.wait_caught_up(600)
            alive = worker.process.poll() is None
            async with httpx.AsyncClient(base_url=worker.url) as client:
                health = (await client.get("/healthz")).status_code
            dead_letters = [orjson.loads(v) for v in await driver.read_topic(topics.dlq)]
            windows = {
                r["uid"]: (tuple(sorted(r["conditions"])), r["seq"])
                for r in await driver._query("SELECT uid, conditions, seq FROM stream_windows")
            }
            applied = Counter(
                {
                    (r["topic"], r["record_type"]): r["records"]
                    for r in await driver._query("SELECT * FROM consumed_counts")
                }
            )
        finally:
            workers.stop_all()
    log = _logs(tmp_path)

    assert alive
    assert health == 200
    assert "batch_failed" not in log  # no batch was ever retried: nothing stopped consumption

    # Every bad record is in the dead-letter topic once, with a reason naming the field.
    where = {
        (getattr(topics, role), meta.partition, meta.offset): bad
        for (role, *_, bad), meta in zip(corpus.records, placed, strict=True)
        if bad is not None
    }
    letters = {(d["topic"], d["partition"], d["offset"]): d for d in dead_letters}
    assert len(where) >= BAD
    assert len(dead_letters) == len(letters)  # none twice
    missing = Counter(where[place].reason for place in where.keys() - letters.keys())
    assert not missing, f"not dead-lettered, by the field to blame: {missing}"
    assert letters.keys() == where.keys()
    found = Mismatches()
    for place, bad in where.items():
        letter = letters[place]
        if not re.match(rf"{re.escape(bad.reason)}[.:]", letter["error"]):  # the field or in it
            found.add(f"reason ({bad.reason})", f"{letter['error']!r} for {bad.value!r:.120}")
    assert found.total == 0, str(found)

    # Every valid reconnection is applied, exactly as the model says.
    model_windows = {}
    for uid, reconnects in corpus.valid_reconnects.items():
        model = ModelStream(uid, rules())
        for at_ms, server, pid, seq in reconnects:
            model.apply(Reconnect(now_ms, at_ms, event_id(server, pid, seq)))
        model_windows[uid] = (tuple(sorted(model.conditions)), model.seq)
    assert {uid: windows.get(uid) for uid in model_windows} == model_windows
    valid = sum(len(r) for r in corpus.valid_reconnects.values())
    assert applied[(topics.media_events, "stream:reconnect")] == valid
    bad_media = sum(1 for bad in corpus.bad if bad.role == "media_events")
    assert applied[(topics.media_events, "rejected")] == bad_media


def _logs(folder: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in folder.glob("worker-*.log"))
