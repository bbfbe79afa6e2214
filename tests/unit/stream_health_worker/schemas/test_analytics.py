from __future__ import annotations

import orjson
import pytest

from stream_health_worker.schemas.analytics import callback_event_id, parse_callback, parse_job
from stream_health_worker.schemas.errors import Rejected
from tests.seeds import seed_003


def test_the_seed_job_parses_and_keeps_its_document_in_order() -> None:
    seed = seed_003()

    job_uid, job, document = parse_job(seed["job_uid"].encode(), orjson.dumps(seed))

    assert job_uid == seed["job_uid"]
    assert job is not None
    assert (job.stream_uid, job.status) == (seed["stream_uid"], 11)
    assert list(orjson.loads(document)) == list(seed)


def test_a_null_job_value_is_a_tombstone() -> None:
    assert parse_job(b"job-1", None) == ("job-1", None, "")


@pytest.mark.parametrize(
    ("key", "change", "reason"),
    [
        (None, {}, "key: missing"),
        (b"other-job", {}, "does not match the key"),
        (b"\xff", {}, "key: not UTF-8"),
        (b"ok", {"stream_uid": "not-a-uuid"}, "stream_uid"),
        (b"ok", {"updated_at": "yesterday"}, "updated_at"),
        (b"ok", {"status": "7"}, "status"),  # the snapshot's status is the number
    ],
)
def test_an_invalid_job_is_rejected_naming_the_field(
    key: bytes | None, change: dict[str, object], reason: str
) -> None:
    seed = seed_003() | {"job_uid": "ok"} | change

    with pytest.raises(Rejected, match=reason):
        parse_job(key, orjson.dumps(seed))


def test_a_callback_carries_its_status_number_and_time() -> None:
    body = {"streamUid": "job-1", "status": "DOWN", "received_at": "2026-11-20T10:15:02.513Z"}

    callback = parse_callback(b"job-1", orjson.dumps(body))

    assert (callback.job_uid, callback.status, callback.received_ms) == ("job-1", 7, 1795169702513)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "cannot be null"),
        (b"{", "not valid JSON"),
        (
            orjson.dumps(
                {"streamUid": "job-1", "status": "NOPE", "received_at": "2026-11-20T10:00:00Z"}
            ),
            "status",
        ),
        (orjson.dumps({"streamUid": "job-1", "status": 7}), "received_at"),
        (
            orjson.dumps(
                {"streamUid": "job-2", "status": 7, "received_at": "2026-11-20T10:00:00Z"}
            ),
            "does not match",
        ),
    ],
)
def test_an_invalid_callback_is_rejected_naming_the_field(value: bytes | None, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        parse_callback(b"job-1", value)


def test_callback_reconnection_ids_are_stable_and_per_record() -> None:
    first = callback_event_id("orchestrator.callbacks", 0, 10)

    assert first == callback_event_id("orchestrator.callbacks", 0, 10)
    assert len({first, callback_event_id("orchestrator.callbacks", 0, 11)}) == 2
    assert 0 <= first < 2**63  # fits PostgreSQL's bigint
