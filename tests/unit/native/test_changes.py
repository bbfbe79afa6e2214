"""The compiled state-change writer (shared/native/src/changes.rs) against its model: the
bytes orjson writes for `state_change_document`."""

import orjson
from hypothesis import given
from hypothesis import strategies as st

from stream_health.domain.stream import Cause, StateChange, StreamFacts
from stream_health_worker.outputs import state_change, state_change_document

_names = st.lists(st.text(max_size=12), max_size=4, unique=True).map(tuple)
_ids = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
_changes = st.builds(
    StateChange,
    uid=st.text(min_size=1, max_size=64),  # any text: quotes, controls, non-ASCII
    seq=st.integers(1, 2**64 - 1),
    conditions=_names,
    entered=_names,
    left=_names,
    reconnects=st.dictionaries(st.text(max_size=12), st.integers(0, 2**63 - 1), max_size=4),
    cause=st.sampled_from(Cause),
    at_ms=st.integers(0, 253_402_300_799_999),  # to the last millisecond of year 9999
    facts=st.builds(StreamFacts, stream_id=_ids, camera_id=_ids, server_id=_ids),
)


@given(change=_changes, emitted_ms=st.integers(0, 253_402_300_799_999))
def test_a_state_change_is_written_as_orjson_writes_its_document(
    change: StateChange, emitted_ms: int
) -> None:
    record = state_change(change, topic="changes", emitted_ms=emitted_ms)

    assert record.value == orjson.dumps(state_change_document(change, emitted_ms=emitted_ms))
    assert record.key == change.uid.encode()
    assert record.topic == "changes"
