"""Records the worker publishes: ids and instants as the standard library computes them."""

import uuid
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from stream_health.domain.stream import Cause, StateChange, StreamFacts
from stream_health_worker.outputs import CHANGE_NAMESPACE, change_event_id, iso_ms, state_change

# Up to the last millisecond of 9999, the latest instant ISO 8601's four-digit year can show.
instants = st.integers(0, 253_402_300_799_999)


@given(at_ms=instants)
def test_an_instant_reads_as_utc_iso_8601_with_milliseconds(at_ms: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)  # exact
    expected = moment.isoformat(timespec="milliseconds")

    assert iso_ms(at_ms) == expected.replace("+00:00", "Z")


@given(uid=st.text(min_size=1, max_size=64), seq=st.integers(1, 2**63 - 1))
def test_a_change_id_is_the_uuid5_of_uid_and_seq(uid: str, seq: int) -> None:
    assert change_event_id(uid, seq) == str(uuid.uuid5(CHANGE_NAMESPACE, f"{uid}/{seq}"))


def test_a_state_change_record_carries_the_cause_by_its_value() -> None:
    change = StateChange(
        uid="u1",
        seq=3,
        conditions=("incorrect",),
        entered=(),
        left=("problematic",),
        reconnects={"incorrect": 2, "problematic": 2},
        cause=Cause.WINDOW_DRAINED,
        at_ms=1_763_633_702_513,
        facts=StreamFacts(stream_id=7, camera_id=8, server_id=9),
    )

    record = state_change(change, topic="changes", emitted_ms=1_763_633_702_601)

    assert record.key == b"u1"
    assert orjson.loads(record.value) == {
        "event_id": str(uuid.uuid5(CHANGE_NAMESPACE, "u1/3")),
        "stream_id": 7,
        "stream_uid": "u1",
        "camera_id": 8,
        "server_id": 9,
        "seq": 3,
        "conditions": ["incorrect"],
        "entered": [],
        "left": ["problematic"],
        "reconnects": {"incorrect": 2, "problematic": 2},
        "cause": "window_drained",
        "at": "2025-11-20T10:15:02.513Z",
        "emitted_at": "2025-11-20T10:15:02.601Z",
    }
