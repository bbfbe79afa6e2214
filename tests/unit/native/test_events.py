"""The compiled event reader (shared/native/src/events.rs) against its reference model.

`_plain` (Python) is the model: whatever the compiled reader returns must be exactly what
`_plain` returns for the same bytes, and the events fleets really send must not fall back.
"""

import json
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from bench.events import Generator, build_fleet
from stream_health_core import event_id as native_event_id
from stream_health_sim.fleet import build_fleet as build_sim_fleet
from stream_health_sim.fleet import event_timeline
from stream_health_worker.schemas.errors import EARLIEST_MS, LATEST_MS, MAX_INT, Rejected
from stream_health_worker.schemas.events import (
    _READER,
    EventKind,
    MediaEvent,
    _plain,
    _validated,
    event_id,
    parse_event,
)
from tests.unit.stream_health_worker.schemas.test_events import VALID

VALID_DATA: dict[str, Any] = VALID["data"]  # type: ignore[assignment]


def _agrees(value: bytes) -> MediaEvent | None:
    """The compiled reading of `value`, checked against the model's."""
    native = _READER.read(value)
    if native is not None:
        plain = _plain(value)
        assert isinstance(plain, MediaEvent)
        assert native == plain
        assert type(native) is MediaEvent
        assert native.kind is plain.kind  # the enum member itself, not an equal string
        assert [type(v) for v in native] == [type(v) for v in plain]
    return native


def test_the_spec_example_is_read_natively_as_the_model_reads_it() -> None:
    value = orjson.dumps(VALID)

    assert _agrees(value) is not None
    assert parse_event(value) == _plain(value)


def test_the_benchmark_and_simulator_events_of_streams_are_all_read_natively() -> None:
    start = 1_795_000_000_000
    fleet = build_fleet(random.Random(3), streams=200, servers=5, partitions=4)
    generated = Generator(fleet, seed=3).events(2_000, start_ms=start, end_ms=start + 60_000)
    bench = [value for _, _, value in generated]
    sim_fleet = build_sim_fleet(seed=5, cameras=20, servers=2, now_ms=start)
    timeline = event_timeline(sim_fleet, seed=5, start_ms=start - 3_600_000, end_ms=start)
    sim = [orjson.dumps(r.value) for r in timeline if r.value is not None]

    stream_events = [v for v in bench + sim if json.loads(v)["event"].startswith("stream:")]
    assert len(stream_events) > 1_000
    assert all(_agrees(value) is not None for value in stream_events)


def test_what_only_python_reads_still_parses_through_the_fallbacks() -> None:
    offset = orjson.dumps(VALID | {"timestamp": "2026-11-20T11:15:02.513+01:00"})
    pulse = orjson.dumps(VALID | {"event": "service:pulse", "data": {"streams": 3}})
    escaped = orjson.dumps(VALID | {"device": "media\nserver"})

    for value in (offset, pulse, escaped):
        assert _READER.read(value) is None
        assert parse_event(value) == _plain(value) is not None
    assert parse_event(offset).at_ms == parse_event(orjson.dumps(VALID)).at_ms  # type: ignore[union-attr]


_text = st.one_of(
    st.sampled_from(
        ["", " ", "u", " u", "u\t", "u\x1f", "U-1", "x" * 64, "x" * 65, "é", "\u00a0u"]
    ),
    st.text(max_size=70),
)
_number = st.one_of(
    st.integers(-(2**65), 2**65),
    st.sampled_from(
        [0, MAX_INT, MAX_INT + 1, 2**64 - 1, 2**64, EARLIEST_MS // 1000, LATEST_MS // 1000]
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(EARLIEST_MS / 1000 - 2, EARLIEST_MS / 1000 + 2),
    st.floats(LATEST_MS / 1000 - 2, LATEST_MS / 1000 + 2),
)
_stamp = st.one_of(
    st.integers(EARLIEST_MS - 5_000, LATEST_MS + 5_000).map(
        lambda ms: (
            datetime.fromtimestamp(ms / 1000, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    ),
    st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z"),
    st.text(alphabet="0123456789-:.TZ+ ", min_size=20, max_size=26),
)
_scalar = st.one_of(st.none(), st.booleans(), _number, _text, _stamp)
_count = st.one_of(st.integers(-2, 2**64), _scalar)
_data_changes = st.dictionaries(
    st.sampled_from(["uid", "state", "reconnects", "kind"]),
    st.one_of(
        st.uuids().map(str),
        st.sampled_from(["active", "disabled", "ÄCTIVE"]),
        st.fixed_dictionaries({}, optional={"attempt": _count, "total": _count}),
        _scalar,
    ),
    max_size=2,
)
_changes = st.dictionaries(
    st.sampled_from(["event", "server", "pid", "seq", "timestamp", "data", "device"]),
    st.one_of(
        st.sampled_from([k.value for k in EventKind] + ["camera:motion"]),
        st.sampled_from(["MS1.vms.local", "ms-ß", "a" * 253, "a" * 254]),
        st.integers(-2, 2**64),
        _stamp,
        _scalar,
        st.lists(_scalar, max_size=2),
    ),
    max_size=2,
)


@settings(max_examples=2_000)
@given(
    changes=st.one_of(st.just({}), _changes),
    data_changes=st.one_of(st.just({}), _data_changes),
    dropped=st.one_of(st.just(set()), st.sets(st.sampled_from([*VALID, *VALID_DATA]))),
)
@example(changes={}, data_changes={}, dropped=set())
def test_whatever_is_read_natively_is_what_the_model_reads(
    changes: dict[str, Any], data_changes: dict[str, Any], dropped: set[str]
) -> None:
    data = {k: v for k, v in (VALID_DATA | data_changes).items() if k not in dropped}
    document = {k: v for k, v in (VALID | {"data": data} | changes).items() if k not in dropped}
    value = json.dumps(document, ensure_ascii=False).encode()

    native = _agrees(value)
    event("read natively" if native is not None else "left to Python")

    if native is not None:  # and the model is itself a subset of the validator
        assert native == _validated(value)


# What JSON writes without an escape (the reader leaves escapes to Python).
_ascii = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\')
_unescaped = st.characters(min_codepoint=0x20, exclude_characters='"\\', exclude_categories=["Cs"])


@settings(max_examples=1_000)
@given(
    kind=st.sampled_from(["stream:reconnect", "stream:state", "stream:create", "stream:delete"]),
    server=st.text(_ascii, min_size=1, max_size=253),
    pid=st.integers(0, MAX_INT),
    seq=st.integers(0, MAX_INT),
    at_ms=st.integers(EARLIEST_MS, LATEST_MS - 1),
    form=st.sampled_from(["iso", "seconds", "float seconds"]),
    fraction=st.floats(0, 1, exclude_max=True),
    uid=st.one_of(st.uuids().map(str), st.text(_ascii, min_size=1, max_size=64)),
    upper=st.booleans(),
    state=st.one_of(st.none(), st.text(_unescaped, min_size=1, max_size=64)),
    counters=st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {}, optional={"attempt": st.integers(0, MAX_INT), "total": st.integers(0, MAX_INT)}
        ),
    ),
)
def test_plainly_valid_stream_events_are_read_natively_as_the_model_reads_them(
    kind: str,
    server: str,
    pid: int,
    seq: int,
    at_ms: int,
    form: str,
    fraction: float,
    uid: str,
    upper: bool,
    state: str | None,
    counters: dict[str, int] | None,
) -> None:
    stamp: object = {
        "iso": datetime.fromtimestamp(at_ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "seconds": at_ms // 1000,
        "float seconds": at_ms // 1000 + fraction,
    }[form]
    data: dict[str, object] = {"uid": uid.upper() if upper else uid, "reconnects": counters}
    if state is not None or kind != "stream:state":
        data["state"] = state
    document = {"event": kind, "server": server, "pid": pid, "seq": seq, "timestamp": stamp}
    value = json.dumps(document | {"data": data}, ensure_ascii=False).encode()

    native = _agrees(value)

    # Whatever of these the model reads without the validator, the compiled reader reads too
    # (the model leaves a stateless stream:state, and a float that rounds to the end of 2099).
    assert (native is None) == (_plain(value) is None)
    if state is not None or kind != "stream:state":
        assert native is not None or stamp == at_ms // 1000 + fraction


@settings(max_examples=500)
@given(
    changes=st.dictionaries(
        st.sampled_from(["event", "server", "pid", "seq", "timestamp", "data"]), _scalar, max_size=2
    ),
    layout=st.sampled_from(["compact", "spaced", "duplicated", "trailing"]),
)
def test_json_text_variants_are_read_as_the_model_reads_them(
    changes: dict[str, Any], layout: str
) -> None:
    document = VALID | changes
    text = json.dumps(document, indent=2 if layout == "spaced" else None, ensure_ascii=False)
    if layout == "duplicated":  # the last of two equal keys wins in orjson; serde refuses it
        text = text[:-1] + ', "pid": 7}'
    if layout == "trailing":
        text += " x"
    value = text.encode()

    native = _agrees(value)
    event("read natively" if native is not None else "left to Python")

    if layout in {"duplicated", "trailing"}:
        assert native is None


@given(value=st.binary(max_size=300))
def test_arbitrary_bytes_never_read_natively_unless_the_model_agrees(value: bytes) -> None:
    _agrees(value)


@given(
    server=st.text(min_size=1, max_size=253),
    pid=st.integers(0, MAX_INT),
    seq=st.integers(0, MAX_INT),
)
def test_event_ids_are_computed_as_python_computes_them(server: str, pid: int, seq: int) -> None:
    assert native_event_id(server, pid, seq) == event_id(server, pid, seq)


def test_an_invalid_event_is_still_rejected_with_its_reason() -> None:
    value = orjson.dumps(VALID | {"pid": -1})

    assert _READER.read(value) is None
    with pytest.raises(Rejected, match=r"^pid"):
        parse_event(value)
