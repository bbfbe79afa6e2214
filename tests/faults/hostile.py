"""A generated corpus of bad records, each with the field its dead letter must name.

Every kind of damage is applied to many valid records (other streams, servers, ids), so the
corpus reaches any size while staying deterministic.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from stream_health_worker.outputs import iso_ms


@dataclass(frozen=True, slots=True)
class Bad:
    """A record that must be dead-lettered, with the start of the reason it must carry."""

    role: str  # a TopicNames field
    key: bytes | None
    value: bytes | None
    reason: str  # the reason starts with this (the field, or `value`/`key`)


def _event(uid: str, at_ms: int, seq: int, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "stream:reconnect",
        "device": "mediaserver",
        "server": "hostile.faults.local",
        "pid": 7,
        "seq": seq,
        "timestamp": iso_ms(at_ms),
        "data": {"uid": uid, "reconnects": {"attempt": 1, "limit": 10, "total": 3}},
    }
    event.update(changes)
    return event


def _without(document: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != field}


def _data(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**document, "data": {**document["data"], **changes}}


def _raw(document: dict[str, Any], literal: str) -> bytes:
    """`document` as JSON with the string "RAW" replaced by `literal` (beyond orjson's ints)."""
    return orjson.dumps(document).replace(b'"RAW"', literal.encode())


Damage = Callable[[dict[str, Any]], tuple[bytes | None, str]]

# Each damage turns a valid media event into a bad record, and names the field to blame.
MEDIA_DAMAGE: list[Damage] = [
    lambda e: (orjson.dumps(e)[:-7], "value"),  # truncated JSON
    lambda e: (b"\xff\xfe" + orjson.dumps(e), "value"),  # not UTF-8
    lambda e: (orjson.dumps(e).replace(b'"', b"'"), "value"),
    lambda e: (b"[" * 50_000, "value"),  # nested past any parser's limit
    lambda e: (b"[]", "value"),
    lambda e: (b'"stream:reconnect"', "value"),
    lambda e: (b"12345", "value"),
    lambda e: (b"null", "value"),
    lambda e: (None, "value"),  # a tombstone on an append-only topic
    lambda e: (b"", "value"),
    lambda e: (orjson.dumps(_without(e, "event")), "event"),
    lambda e: (orjson.dumps(_without(e, "server")), "server"),
    lambda e: (orjson.dumps(_without(e, "pid")), "pid"),
    lambda e: (orjson.dumps(_without(e, "seq")), "seq"),
    lambda e: (orjson.dumps(_without(e, "timestamp")), "timestamp"),
    lambda e: (orjson.dumps(_without(e, "data")), "data"),
    lambda e: (orjson.dumps({**e, "event": None}), "event"),
    lambda e: (orjson.dumps({**e, "server": None}), "server"),
    lambda e: (orjson.dumps({**e, "pid": None}), "pid"),
    lambda e: (orjson.dumps({**e, "seq": None}), "seq"),
    lambda e: (orjson.dumps({**e, "timestamp": None}), "timestamp"),
    lambda e: (orjson.dumps({**e, "data": None}), "data"),
    lambda e: (orjson.dumps(_data(e, uid=None)), "data.uid"),
    lambda e: (orjson.dumps({**e, "pid": "7"}), "pid"),
    lambda e: (orjson.dumps({**e, "pid": True}), "pid"),
    lambda e: (orjson.dumps({**e, "seq": 1.5}), "seq"),
    lambda e: (orjson.dumps({**e, "seq": [1]}), "seq"),
    lambda e: (orjson.dumps({**e, "server": 42}), "server"),
    lambda e: (orjson.dumps({**e, "event": {"x": 1}}), "event"),
    lambda e: (orjson.dumps({**e, "timestamp": True}), "timestamp"),
    lambda e: (orjson.dumps({**e, "timestamp": "yesterday"}), "timestamp"),
    lambda e: (orjson.dumps({**e, "timestamp": "2026-13-45T25:61:00Z"}), "timestamp"),
    lambda e: (orjson.dumps({**e, "data": "uid"}), "data"),
    lambda e: (orjson.dumps(_data(e, uid=12)), "data.uid"),
    lambda e: (orjson.dumps(_data(e, reconnects="many")), "data.reconnects"),
    lambda e: (orjson.dumps(_data(e, reconnects={"attempt": "1"})), "data.reconnects.attempt"),
    lambda e: (orjson.dumps({**e, "seq": -1}), "seq"),
    lambda e: (orjson.dumps({**e, "pid": -7}), "pid"),
    lambda e: (orjson.dumps(_data(e, reconnects={"total": -3})), "data.reconnects.total"),
    lambda e: (_raw({**e, "seq": "RAW"}, str(10**30)), "seq"),
    lambda e: (_raw({**e, "pid": "RAW"}, str(2**64)), "pid"),
    lambda e: (
        _raw(_data(e, reconnects={"attempt": "RAW"}), str(10**25)),
        "data.reconnects.attempt",
    ),
    lambda e: (_raw(_data(e, reconnects={"total": "RAW"}), str(2**63)), "data.reconnects.total"),
    lambda e: (orjson.dumps({**e, "timestamp": 1e20}), "timestamp"),
    lambda e: (orjson.dumps({**e, "timestamp": -5}), "timestamp"),
    lambda e: (orjson.dumps({**e, "timestamp": "0001-01-01T00:00:00Z"}), "timestamp"),
    lambda e: (orjson.dumps({**e, "timestamp": "9999-12-31T23:59:59.999Z"}), "timestamp"),
    lambda e: (orjson.dumps({**e, "timestamp": "2026-11-21T10:00:00"}), "timestamp"),  # no zone
    lambda e: (orjson.dumps({**e, "server": "s" * 100_000}), "server"),
    lambda e: (orjson.dumps({**e, "event": "stream:" + "x" * 5_000}), "event"),
    lambda e: (orjson.dumps(_data(e, uid="u" * 10_000)), "data.uid"),
    lambda e: (orjson.dumps(_data(e, uid="")), "data.uid"),
    lambda e: (orjson.dumps(_data(e, uid="bad\u0000uid")), "data.uid"),
    lambda e: (orjson.dumps({**e, "server": "nul\u0000server"}), "server"),
    lambda e: (orjson.dumps({**e, "event": "stream:state", "data": {"uid": "x"}}), "data.state"),
    lambda e: (
        orjson.dumps(_data({**e, "event": "stream:state"}, state="off\u0000")),
        "data.state",
    ),
    lambda e: (
        orjson.dumps({**e, "event": "service:pulse", "data": {"cpu": "\u0000"}}),
        "data",
    ),
    lambda e: (orjson.dumps(_data(e, state="s" * 1_000)), "data.state"),
]


def _stream_doc(stream_id: int, uid: str) -> dict[str, Any]:
    return {
        "id": stream_id,
        "uuid": uid,
        "camera_id": 1,
        "server_id": 1,
        "url": f"rtsp://viewer:hostile-secret-{stream_id}@10.7.0.{stream_id % 250}/live",
        "is_enabled": True,
        "updated_at": "2026-01-01 00:00:00",
    }


INVENTORY_DAMAGE: list[Callable[[int, str], tuple[str, bytes | None, bytes | None, str]]] = [
    # (A null key cannot even reach a compacted topic: the broker refuses it.)
    lambda i, u: ("inventory_streams", b"", orjson.dumps(_stream_doc(i, u)), "key"),
    lambda i, u: ("inventory_streams", b"abc", orjson.dumps(_stream_doc(i, u)), "key"),
    lambda i, u: ("inventory_streams", b"0", orjson.dumps(_stream_doc(0, u)), "key"),
    lambda i, u: ("inventory_streams", b"1" * 30, orjson.dumps(_stream_doc(i, u)), "key"),
    lambda i, u: ("inventory_streams", str(i).encode(), b"{not json", "value"),
    lambda i, u: ("inventory_streams", str(i).encode(), b"[1, 2]", "value"),
    lambda i, u: ("inventory_streams", str(i).encode(), b"\xc3\x28", "value"),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        orjson.dumps(_without(_stream_doc(i, u), "uuid")),
        "uuid",
    ),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        orjson.dumps({**_stream_doc(i, u), "uuid": "not-a-uuid"}),
        "uuid",
    ),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        orjson.dumps(_without(_stream_doc(i, u), "updated_at")),
        "updated_at",
    ),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        orjson.dumps({**_stream_doc(i, u), "updated_at": "9999-12-31 00:00:00"}),
        "updated_at",
    ),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        orjson.dumps({**_stream_doc(i, u), "is_enabled": "maybe"}),
        "is_enabled",
    ),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        _raw({**_stream_doc(i, u), "camera_id": "RAW"}, str(10**20)),
        "camera_id",
    ),
    lambda i, u: (
        "inventory_streams",
        str(i).encode(),
        orjson.dumps({**_stream_doc(i, u), "url": "rtsp://a:b@c/\u0000"}),
        "value",
    ),
    lambda i, u: (
        "inventory_cameras",
        str(i).encode(),
        orjson.dumps({"id": i, "name": 5, "updated_at": "2026-01-01 00:00:00"}),
        "name",
    ),
    lambda i, u: (
        "inventory_servers",
        str(i).encode(),
        orjson.dumps({"id": i, "domain": "", "updated_at": "2026-01-01 00:00:00"}),
        "domain",
    ),
    lambda i, u: (
        "orchestrator_jobs",
        b"job-1",
        orjson.dumps({"job_uid": "job-1"}),
        "stream_uid",
    ),
    lambda i, u: (
        "orchestrator_jobs",
        u.encode(),
        orjson.dumps({"job_uid": u, "stream_uid": "x", "updated_at": "2026-01-01T00:00:00Z"}),
        "stream_uid",
    ),
    lambda i, u: (
        "orchestrator_callbacks",
        u.encode(),
        orjson.dumps({"streamUid": u, "status": 99, "received_at": "2026-01-01T00:00:00Z"}),
        "status",
    ),
    lambda i, u: (
        "orchestrator_callbacks",
        u.encode(),
        orjson.dumps({"streamUid": u, "status": "NOPE", "received_at": "2026-01-01T00:00:00Z"}),
        "status",
    ),
    lambda i, u: (
        "orchestrator_callbacks",
        u.encode(),
        orjson.dumps({"streamUid": u, "status": 7, "received_at": "0001-01-01T00:00:00Z"}),
        "received_at",
    ),
    lambda i, u: ("orchestrator_callbacks", u.encode(), None, "value"),
]


@dataclass
class Corpus:
    """Bad records and valid ones, interleaved; the valid reconnections per stream."""

    records: list[tuple[str, bytes | None, bytes | None, Bad | None]]
    valid_reconnects: dict[str, list[tuple[int, str, int, int]]]  # uid -> (at, server, pid, seq)

    @property
    def bad(self) -> list[Bad]:
        return [bad for *_, bad in self.records if bad is not None]


def build_corpus(*, bad: int, valid: int, now_ms: int, seed: int = 6) -> Corpus:
    """About `bad` bad records among `valid` valid reconnections, in a random order."""
    rng = random.Random(seed)
    uids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(max(1, valid // 5))]
    records: list[tuple[str, bytes | None, bytes | None, Bad | None]] = []
    reconnects: dict[str, list[tuple[int, str, int, int]]] = {}
    seq = 0
    for _ in range(valid):
        uid, seq = rng.choice(uids), seq + 1
        at_ms = now_ms - rng.randrange(60_000, 3_600_000)
        records.append(("media_events", uid.encode(), orjson.dumps(_event(uid, at_ms, seq)), None))
        reconnects.setdefault(uid, []).append((at_ms, "hostile.faults.local", 7, seq))
    inventory_share = len(INVENTORY_DAMAGE) / (len(INVENTORY_DAMAGE) + len(MEDIA_DAMAGE))
    for n in range(bad):
        uid = rng.choice(uids)
        if rng.random() < inventory_share:
            role, key, value, field = INVENTORY_DAMAGE[n % len(INVENTORY_DAMAGE)](n + 1, uid)
        else:
            base = _event(uid, now_ms - rng.randrange(60_000, 3_600_000), 10**9 + n)
            value, field = MEDIA_DAMAGE[n % len(MEDIA_DAMAGE)](base)
            role, key = "media_events", uid.encode()
        records.append((role, key, value, Bad(role, key, value, field)))
    rng.shuffle(records)
    return Corpus(records, reconnects)
