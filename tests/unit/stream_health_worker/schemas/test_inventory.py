import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from stream_health.config.settings import TopicNames
from stream_health_worker.schemas.errors import Rejected
from stream_health_worker.schemas.inventory import (
    CameraSnapshot,
    InventoryKind,
    ServerSnapshot,
    StreamSnapshot,
    inventory_kinds,
    parse_snapshot,
)

STREAMS, CAMERAS, SERVERS = InventoryKind.STREAMS, InventoryKind.CAMERAS, InventoryKind.SERVERS

# Seed 000's `data` item without its joins, plus its main server and sub servers.
STREAM: dict[str, Any] = {
    "id": 733, "type": "high", "camera_id": 745, "status": "active",
    "url": "rtsp://admin:123@", "bitrate": 1486, "resolution": "1920x1080", "output_rate": 4457,
    "ip": "", "uuid": "9f5ed653-7bcb-4603-97e4-2efddc0de61e", "sound": "tracks-v1",
    "streams_count": 0, "created_at": "2022-01-27 19:26:22", "updated_at": "2022-06-22 12:25:05",
    "is_preview_from_server": True, "is_archive_from_server": None, "is_enabled": True,
    "source": "manual", "is_sound_enabled": False, "reconnect_attempt": 0, "reconnect_total": 1,
    "reconnect_time": None, "disconnections_count": 0, "server_id": 59, "sub_server_ids": [],
}  # fmt: skip

# Seed 000's `camera` (it has no updated_at).
CAMERA: dict[str, Any] = {
    "id": 745, "group_id": 98, "status": "active", "type": "media_server_v2",
    "pretty_text": "Cameras", "short_pretty": "Cameras", "start_at": "2022-06-07 12:25:16",
    "created_at": "2022-01-27 18:55:48", "name": "Camera 1", "csas": [], "can_edit": True,
    "origin": None, "group_type": "public", "shared_from": None, "ip": "", "lat": None,
    "lng": None, "azimuth": None, "is_sensitive": 0, "is_public": 1, "is_ip_reserved": False,
    "count_issues": 4, "source": "manual", "archive_storage_days": 15,
    "is_archive_recording": True, "archive_recording_type": "fulltime",
    "is_increased_reconnect": 0, "is_sound_enabled": False, "is_bridge": False,
    "is_auto_create_streams": False, "is_provisioning_enable": False,
}  # fmt: skip

# Seed 000's `server`, with part of its `extra` statistics.
SERVER: dict[str, Any] = {
    "id": 59, "type": "media_server_v2", "schema": "https", "domain": "mediaserver1.vms.local",
    "internal": "8080", "external": "8443", "m4f": "8443", "rtsp": "5554", "publish": "7554",
    "traffic_in": 65268, "traffic_out": 473575, "status": 1, "is_enabled": 0, "is_main": 1,
    "has_cache": 0, "proxy": "mediaserver1.vms.local", "created_at": "2022-01-27 17:16:16",
    "updated_at": "2022-06-21 16:46:02", "group_type": "all", "can_delete": False,
    "streams_limit": 1000, "bitrate_limit": 1000000,
    "extra": {
        "cpu": {"total": 28, "usage": 30, "stime_sec": 120406, "utime_sec": 120406},
        "streams": {"total": 33, "active": 27, "clients": 988},
        "license": {"own": "Vms", "type": "enterprise", "issued": 1687355162},
    },
}  # fmt: skip

SEEDS = {STREAMS: STREAM, CAMERAS: CAMERA, SERVERS: SERVER}


def _value(document: dict[str, Any], **changes: Any) -> bytes:
    changed = copy.deepcopy(document)
    for name, value in changes.items():
        if value is ...:
            changed.pop(name, None)
        else:
            changed[name] = value
    return orjson.dumps(changed)


def test_a_seed_stream_is_read_with_its_typed_fields_and_kept_whole() -> None:
    object_id, snapshot = parse_snapshot(STREAMS, b"733", _value(STREAM))

    assert object_id == 733
    assert isinstance(snapshot, StreamSnapshot)
    assert (snapshot.uuid, snapshot.camera_id, snapshot.server_id) == (STREAM["uuid"], 745, 59)
    assert snapshot.is_enabled is True
    assert snapshot.sub_server_ids == []
    assert (snapshot.url, snapshot.ip) == ("rtsp://admin:123@", "")
    assert snapshot.updated_at == datetime(2022, 6, 22, 12, 25, 5, tzinfo=UTC)
    assert snapshot.document == STREAM  # stored and served as the VMS sent it


def test_a_seed_camera_is_read_without_an_updated_at() -> None:
    object_id, snapshot = parse_snapshot(CAMERAS, b"745", _value(CAMERA))

    assert object_id == 745
    assert isinstance(snapshot, CameraSnapshot)
    assert snapshot.is_increased_reconnect is False
    assert snapshot.name == "Camera 1"
    assert snapshot.updated_at is None
    assert snapshot.document == CAMERA


def test_a_seed_server_is_read_with_its_statistics() -> None:
    object_id, snapshot = parse_snapshot(SERVERS, b"59", _value(SERVER))

    assert object_id == 59
    assert isinstance(snapshot, ServerSnapshot)
    assert snapshot.domain == "mediaserver1.vms.local"
    assert snapshot.is_stream_condition_management_enabled is None
    assert snapshot.manages_conditions is True  # absent means managed
    assert snapshot.document == SERVER
    assert snapshot.document["extra"]["streams"]["total"] == 33


@pytest.mark.parametrize("kind", list(InventoryKind))
def test_a_null_value_is_a_tombstone_for_the_keyed_id(kind: InventoryKind) -> None:
    assert parse_snapshot(kind, b"733", None) == (733, None)


@pytest.mark.parametrize(
    ("updated_at", "expected"),
    [
        (
            "2022-06-22 12:25:05",
            datetime(2022, 6, 22, 12, 25, 5, tzinfo=UTC),
        ),  # VMS: no zone is UTC
        ("2022-06-22T12:25:05Z", datetime(2022, 6, 22, 12, 25, 5, tzinfo=UTC)),
        ("2022-06-22T15:25:05+03:00", datetime(2022, 6, 22, 12, 25, 5, tzinfo=UTC)),  # normalised
        ("2022-06-22T12:25:05.250-00:30", datetime(2022, 6, 22, 12, 55, 5, 250000, tzinfo=UTC)),
    ],
)
def test_updated_at_is_read_as_utc(updated_at: str, expected: datetime) -> None:
    _, snapshot = parse_snapshot(STREAMS, b"733", _value(STREAM, updated_at=updated_at))

    assert snapshot is not None
    assert snapshot.updated_at == expected
    assert snapshot.updated_at.utcoffset() is not None


@pytest.mark.parametrize("updated_at", ["9999-12-31 23:59:59", "0001-01-01T00:00:00Z"])
def test_an_implausible_updated_at_is_rejected(updated_at: str) -> None:
    # Stored, a snapshot of year 9999 could never be replaced by a newer one.
    with pytest.raises(Rejected) as rejected:
        parse_snapshot(STREAMS, b"733", _value(STREAM, updated_at=updated_at))

    assert rejected.value.reason == "updated_at: outside 2000-01-01..2099-12-31 (UTC)"


def test_a_stream_uuid_is_kept_lowercased() -> None:
    upper = "9F5ED653-7BCB-4603-97E4-2EFDDC0DE61E"

    _, snapshot = parse_snapshot(STREAMS, b"733", _value(STREAM, uuid=upper))

    assert isinstance(snapshot, StreamSnapshot)
    assert snapshot.uuid == upper.lower()
    assert snapshot.document["uuid"] == upper  # the document stays as sent


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"is_enabled": ...}, True),  # absent
        ({"is_enabled": None}, True),  # null is absent
        ({"is_enabled": False}, False),
        ({"is_enabled": 0}, False),  # PHP booleans arrive as 0/1
    ],
)
def test_is_enabled_defaults_to_true(changes: dict[str, Any], expected: bool) -> None:
    _, snapshot = parse_snapshot(STREAMS, b"733", _value(STREAM, **changes))

    assert isinstance(snapshot, StreamSnapshot)
    assert snapshot.is_enabled is expected


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(0, False), (1, True), (True, True), (False, False), (None, False), (..., False)],
)
def test_is_increased_reconnect_arrives_as_0_1_or_bool(flag: Any, expected: bool) -> None:
    _, snapshot = parse_snapshot(CAMERAS, b"745", _value(CAMERA, is_increased_reconnect=flag))

    assert isinstance(snapshot, CameraSnapshot)
    assert snapshot.is_increased_reconnect is expected


@pytest.mark.parametrize(
    ("flag", "expected"), [(..., True), (None, True), (True, True), (False, False), (0, False)]
)
def test_condition_management_is_on_unless_switched_off(flag: Any, expected: bool) -> None:
    changes = {"is_stream_condition_management_enabled": flag}
    _, snapshot = parse_snapshot(SERVERS, b"59", _value(SERVER, **changes))

    assert isinstance(snapshot, ServerSnapshot)
    assert snapshot.manages_conditions is expected


@pytest.mark.parametrize(
    ("kind", "key", "value", "reason"),
    [
        (STREAMS, None, _value(STREAM), "key: missing"),
        (STREAMS, None, None, "key: missing"),  # a tombstone needs its key too
        (STREAMS, b"abc", _value(STREAM), "key: not an integer id"),
        (CAMERAS, b"-745", None, "key: not an integer id"),
        (CAMERAS, b"0", None, "key: not an integer id"),
        (SERVERS, b" 59", None, "key: not an integer id"),
        (SERVERS, b"9223372036854775808", None, "key: not an integer id"),  # beyond bigint
        (STREAMS, b"734", _value(STREAM), "id: 733 does not match the key 734"),
        (STREAMS, b"733", b"{not json", "value: not valid JSON"),
        (STREAMS, b"733", b"\xff\xfe", "value: not valid JSON"),  # not UTF-8
        (CAMERAS, b"745", b"[745]", "value: not a JSON object"),
        (CAMERAS, b"745", b"null", "value: not a JSON object"),
        (CAMERAS, b"745", _value(CAMERA, name="a\x00b"), "value: contains a \\u0000 character"),
        (STREAMS, b"733", _value(STREAM, id=...), "id: Field required"),
        (STREAMS, b"733", _value(STREAM, id="733"), "id: Input should be a valid integer"),
        (STREAMS, b"733", _value(STREAM, id=True), "id: Input should be a valid integer"),
        (
            STREAMS,
            b"733",
            _value(STREAM, updated_at="yesterday"),
            "updated_at: Input should be a valid datetime",
        ),
        (STREAMS, b"733", _value(STREAM, updated_at=...), "updated_at: Field required"),
        (SERVERS, b"59", _value(SERVER, updated_at=...), "updated_at: Field required"),
        (
            CAMERAS,
            b"745",
            _value(CAMERA, updated_at="2022-13-01 00:00:00"),
            "updated_at: Input should be a valid datetime",
        ),
        (STREAMS, b"733", _value(STREAM, uuid=...), "uuid: Field required"),
        (STREAMS, b"733", _value(STREAM, uuid="9f5ed653"), "uuid: Input should be a UUID"),
        (STREAMS, b"733", _value(STREAM, uuid=733), "uuid: Input should be a valid string"),
        (
            STREAMS,
            b"733",
            _value(STREAM, camera_id="745"),
            "camera_id: Input should be a valid integer",
        ),
        (
            STREAMS,
            b"733",
            _value(STREAM, server_id=0),
            "server_id: Input should be greater than or equal to 1",
        ),
        (
            STREAMS,
            b"733",
            _value(STREAM, sub_server_ids=[60, "x"]),
            "sub_server_ids.1: Input should be a valid integer",
        ),
        (
            STREAMS,
            b"733",
            _value(STREAM, is_enabled="maybe"),
            "is_enabled: Input should be a valid boolean",
        ),
        (STREAMS, b"733", _value(STREAM, url=5), "url: Input should be a valid string"),
        (
            CAMERAS,
            b"745",
            _value(CAMERA, is_increased_reconnect=2),
            "is_increased_reconnect: Input should be a valid boolean",
        ),
        (SERVERS, b"59", _value(SERVER, domain=...), "domain: Field required"),
        (
            SERVERS,
            b"59",
            _value(SERVER, domain=""),
            "domain: String should have at least 1 character",
        ),
        (
            SERVERS,
            b"59",
            _value(SERVER, is_stream_condition_management_enabled="on and off"),
            "is_stream_condition_management_enabled: Input should be a valid boolean",
        ),
    ],
)
def test_an_invalid_record_is_rejected_naming_the_field(
    kind: InventoryKind, key: bytes | None, value: bytes | None, reason: str
) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_snapshot(kind, key, value)

    assert rejected.value.reason.startswith(reason), rejected.value.reason


def test_a_stream_url_password_never_reaches_a_reason_or_a_repr() -> None:
    secret = "rtsp://admin:s3cr3t-pass@10.0.0.1/live"
    value = _value(STREAM, url=secret, updated_at="soon")

    with pytest.raises(Rejected) as rejected:
        parse_snapshot(STREAMS, b"733", value)
    _, snapshot = parse_snapshot(STREAMS, b"733", _value(STREAM, url=secret))

    assert "s3cr3t" not in str(rejected.value)
    assert "s3cr3t" not in repr(snapshot)


def test_every_inventory_topic_has_a_kind() -> None:
    topics = TopicNames()

    assert inventory_kinds(topics) == {
        "vms.inventory.streams": STREAMS,
        "vms.inventory.cameras": CAMERAS,
        "vms.inventory.servers": SERVERS,
    }
