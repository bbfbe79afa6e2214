"""Media-server events: the fast path agrees with the validator, and errors name the field."""

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_health_worker.schemas.errors import EARLIEST_MS, LATEST_MS, Rejected
from stream_health_worker.schemas.events import (
    EventKind,
    MediaEvent,
    _plain,
    _validated,
    event_id,
    parse_event,
)

VALID = {
    "event": "stream:reconnect",
    "device": "mediaserver",
    "server": "MediaServer1.vms.local",
    "pid": 4242,
    "seq": 1187,
    "timestamp": "2026-11-20T10:15:02.513Z",
    "data": {
        "uid": "9F5ED653-7bcb-4603-97e4-2efddc0de61e",
        "kind": "primary",
        "state": "active",
        "reconnects": {"attempt": 0, "limit": 10, "total": 17},
    },
}


def test_the_spec_example_parses_to_what_the_worker_needs() -> None:
    event = parse_event(orjson.dumps(VALID))

    assert event == MediaEvent(
        kind=EventKind.RECONNECT,
        server="mediaserver1.vms.local",
        at_ms=1_795_169_702_513,
        event_id=event_id("MediaServer1.vms.local", 4242, 1187),
        uid="9f5ed653-7bcb-4603-97e4-2efddc0de61e",
        state="active",
        attempt=0,
        total=17,
    )


def test_epoch_seconds_and_offsets_give_the_same_instant() -> None:
    iso = parse_event(orjson.dumps(VALID | {"timestamp": "2026-11-20T12:15:02.513+02:00"}))
    epoch = parse_event(orjson.dumps(VALID | {"timestamp": 1_795_169_702.513}))

    assert isinstance(iso, MediaEvent)
    assert isinstance(epoch, MediaEvent)
    assert iso.at_ms == epoch.at_ms == 1_795_169_702_513


def test_distinct_seqs_of_one_server_process_have_distinct_ids() -> None:
    ids = {event_id("ms1", 7, seq) for seq in range(100_000)}

    assert len(ids) == 100_000


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"timestamp": "2026-11-20T10:15:02"}, "timestamp.datetime: Input should have timezone"),
        ({"pid": "x"}, "pid: Input should be a valid integer"),
        ({"data": {"state": "active"}}, "data.uid: Field required"),
        ({"event": "stream:state", "data": {"uid": "u"}}, "data.state: Field required"),
        ({"server": ""}, "server: String should have at least 1 character"),
        ({"seq": -1}, "seq: Input should be greater than or equal to 0"),
        ({"pid": -7}, "pid: Input should be greater than or equal to 0"),
        ({"pid": True}, "pid: Input should be a valid integer"),
        ({"seq": 1.0}, "seq: Input should be a valid integer"),
        ({"seq": 2**63}, "seq: Input should be less than or equal to 9223372036854775807"),
        (
            {"data": {"uid": "u", "reconnects": {"total": 2**63}}},
            "data.reconnects.total: Input should be less",
        ),
        (
            {"data": {"uid": "u", "reconnects": {"attempt": -1}}},
            "data.reconnects.attempt: Input should be greater",
        ),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp: outside 2000-01-01..2099-12-31"),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "timestamp: outside 2000-01-01..2099-12-31"),
        ({"timestamp": 946_684_799}, "timestamp: outside 2000-01-01..2099-12-31"),
        ({"timestamp": 4_102_444_800}, "timestamp: outside 2000-01-01..2099-12-31"),
        ({"timestamp": 1e300}, "timestamp: outside 2000-01-01..2099-12-31"),
        ({"timestamp": -5}, "timestamp: outside 2000-01-01..2099-12-31"),
        ({"timestamp": "2026-13-45T25:61:00Z"}, "timestamp.datetime: Input should be a valid"),
    ],
)
def test_an_invalid_event_is_rejected_naming_the_field(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_event(orjson.dumps(VALID | change))

    assert rejected.value.reason.startswith(reason)


@pytest.mark.parametrize("timestamp", [946_684_800, "2000-01-01T00:00:00Z", 4_102_444_799.999])
def test_the_bounds_of_the_plausible_instants_are_accepted(timestamp: Any) -> None:
    event = parse_event(orjson.dumps(VALID | {"timestamp": timestamp}))

    assert isinstance(event, MediaEvent)


def test_an_unknown_event_type_is_returned_by_name_for_counting() -> None:
    assert parse_event(orjson.dumps(VALID | {"event": "camera:motion"})) == "camera:motion"


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e3, max_value=2e9),
    st.sampled_from(
        ["", " u ", "u", "stream:reconnect", "stream:state", "service:pulse", "2026-11-20T10:15:02Z",
         "2026-11-20T10:15:02.5+01:00", "2026-11-20 10:15:02Z", "disabled", "x" * 70,
         "2026-11-20T10:15:02.513Z", "2026-11-20T10:15:02.5a3Z", "2026-02-30T10:15:02.513Z",
         "2026-11-20T10:15:02.513+", "2026-11-20T10:15:02.\u0661\u0662\u0663Z"]
    ),
    st.dictionaries(st.sampled_from(["uid", "state", "reconnects", "attempt", "total"]),
                    st.one_of(st.none(), st.integers(-1, 3), st.sampled_from(["u", "", "active"])),
                    max_size=3),
)  # fmt: skip
_fields = ["event", "server", "pid", "seq", "timestamp", "data"]


@settings(max_examples=400)
@given(changes=st.dictionaries(st.sampled_from(_fields), _values, max_size=3))
def test_the_fast_path_accepts_only_what_the_validator_accepts_and_agrees(
    changes: dict[str, Any],
) -> None:
    value = orjson.dumps(VALID | changes)
    plain = _plain(value)
    try:
        validated: MediaEvent | str | None = _validated(value)
    except Rejected:
        validated = None

    if plain is not None:
        assert plain == validated


@settings(max_examples=500)
@given(at_ms=st.integers(EARLIEST_MS, LATEST_MS - 1))
def test_a_millisecond_utc_timestamp_reads_as_the_iso_parser_reads_it(at_ms: int) -> None:
    stamp = datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    stamp = stamp.replace("+00:00", "Z")
    expected = int(datetime.fromisoformat(stamp).timestamp() * 1000)

    event = parse_event(orjson.dumps(VALID | {"timestamp": stamp}))

    assert isinstance(event, MediaEvent)
    assert event.at_ms == expected
