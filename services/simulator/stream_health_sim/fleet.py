"""Deterministic fleet and event timeline: pure functions of a seed and a time range."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SimRecord:
    """One record to publish: the topic's role, its key and its JSON value (None: tombstone)."""

    role: str
    key: str
    value: Json | None
    at_ms: int


@dataclass(frozen=True, slots=True)
class Fleet:
    """Servers, cameras and one stream per camera, with each stream's behaviour."""

    servers: list[Json]
    cameras: list[Json]
    streams: list[Json]
    flapping: frozenset[str]
    disabled: frozenset[str]


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _server(i: int, now_ms: int) -> Json:
    domain = f"mediaserver{i}.vms.local"
    return {
        "id": 50 + i,
        "type": "media_server_v2",
        "schema": "https",
        "domain": domain,
        "internal": "8080",
        "external": "8443",
        "m4f": "8443",
        "rtsp": "5554",
        "publish": "7554",
        "traffic_in": 0,
        "traffic_out": 0,
        "status": 1,
        "is_enabled": 1,
        "is_main": 1,
        "has_cache": 0,
        "proxy": domain,
        "created_at": _stamp(now_ms - 86_400_000 * 300),
        "updated_at": _stamp(now_ms),
        "group_type": "all",
        "can_delete": False,
        "streams_limit": 1000,
        "bitrate_limit": 1_000_000,
        "extra": {},
        "is_stream_condition_management_enabled": True,
    }


def _camera(cid: int, rng: random.Random, now_ms: int) -> Json:
    return {
        "id": cid,
        "group_id": 90 + cid % 10,
        "status": "active",
        "type": "media_server_v2",
        "pretty_text": "Cameras",
        "short_pretty": "Cameras",
        "start_at": _stamp(now_ms - 86_400_000),
        "created_at": _stamp(now_ms - 86_400_000 * 200),
        "updated_at": _stamp(now_ms),
        "name": f"Camera {cid}",
        "csas": [],
        "can_edit": True,
        "origin": None,
        "group_type": "public",
        "shared_from": None,
        "ip": "",
        "lat": None,
        "lng": None,
        "azimuth": None,
        "is_sensitive": 0,
        "is_public": 1,
        "is_ip_reserved": False,
        "count_issues": 0,
        "source": "manual",
        "archive_storage_days": 15,
        "is_archive_recording": True,
        "archive_recording_type": "fulltime",
        "is_increased_reconnect": int(rng.random() < 0.1),
        "is_sound_enabled": False,
        "is_bridge": False,
        "is_auto_create_streams": False,
        "is_provisioning_enable": False,
    }


def _stream(sid: int, camera: Json, server: Json, rng: random.Random, now_ms: int) -> Json:
    ip = f"10.{20 + sid // 65_000}.{sid // 250 % 250}.{sid % 250 + 1}"
    return {
        "id": sid,
        "type": "high",
        "camera_id": camera["id"],
        "status": "active",
        "url": f"rtsp://admin:cam-{sid:05d}@{ip}:554/Streaming/Channels/101",
        "bitrate": rng.randint(800, 6000),
        "resolution": "1920x1080",
        "output_rate": rng.randint(1000, 9000),
        "ip": ip,
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "sound": "tracks-v1",
        "streams_count": 0,
        "created_at": _stamp(now_ms - 86_400_000 * 200),
        "updated_at": _stamp(now_ms),
        "is_preview_from_server": True,
        "is_archive_from_server": None,
        "is_enabled": True,
        "source": "manual",
        "is_sound_enabled": False,
        "server_id": server["id"],
        "sub_server_ids": [],
    }


def build_fleet(
    *,
    seed: int,
    cameras: int,
    servers: int,
    now_ms: int,
    flapping_share: float = 0.1,
    disabled_share: float = 0.01,
) -> Fleet:
    """A reproducible fleet: the same seed and sizes give the same objects."""
    rng = random.Random(seed)  # noqa: S311  (reproducible data, not secrets)
    server_objs = [_server(i + 1, now_ms) for i in range(servers)]
    camera_objs = [_camera(700 + i, rng, now_ms) for i in range(cameras)]
    stream_objs = [
        _stream(1000 + i, cam, server_objs[i % servers], rng, now_ms)
        for i, cam in enumerate(camera_objs)
    ]
    uids = [s["uuid"] for s in stream_objs]
    shuffled = rng.sample(uids, len(uids))
    n_flap = round(len(uids) * flapping_share)
    n_off = round(len(uids) * disabled_share)
    return Fleet(
        servers=server_objs,
        cameras=camera_objs,
        streams=stream_objs,
        flapping=frozenset(shuffled[:n_flap]),
        disabled=frozenset(shuffled[n_flap : n_flap + n_off]),
    )


def inventory_records(fleet: Fleet, *, at_ms: int) -> list[SimRecord]:
    """Snapshots of every server, camera and stream."""
    return [
        *(SimRecord("inventory_servers", str(s["id"]), s, at_ms) for s in fleet.servers),
        *(SimRecord("inventory_cameras", str(c["id"]), c, at_ms) for c in fleet.cameras),
        *(SimRecord("inventory_streams", str(s["id"]), s, at_ms) for s in fleet.streams),
    ]


class _Server:
    """Per-server event numbering: (server, pid, seq) identifies an event."""

    def __init__(self, domain: str, pid: int) -> None:
        self.domain, self.pid, self.seq = domain, pid, 0

    def event(self, name: str, at_ms: int, data: Json | None) -> Json:
        self.seq += 1
        body: Json = {
            "event": name,
            "device": "mediaserver",
            "server": self.domain,
            "pid": self.pid,
            "seq": self.seq,
            "timestamp": _iso(at_ms),
        }
        if data is not None:
            body["data"] = data
        return body


def event_timeline(
    fleet: Fleet, *, seed: int, start_ms: int, end_ms: int, pulse_every_ms: int = 30_000
) -> Iterator[SimRecord]:
    """Media-server events between start and end, in time order.

    Every stream is created at the start; flapping streams reconnect every 1 to 8 minutes,
    steady ones rarely; a few are disabled; every server pulses with its statistics.
    """
    rng = random.Random(seed + 1)  # noqa: S311
    by_id = {s["id"]: _Server(s["domain"], 4000 + s["id"]) for s in fleet.servers}
    pending: list[tuple[int, int, str, Json]] = []  # (at, order, key, body) before numbering
    order = 0

    def add(at: int, key: str, server_id: int, name: str, data: Json | None) -> None:
        nonlocal order
        pending.append((at, order, f"{server_id}|{key}|{name}", data or {}))
        order += 1

    for s in fleet.servers:
        add(start_ms, s["domain"], s["id"], "service:up", None)
        for t in range(start_ms, end_ms, pulse_every_ms):
            add(
                t, s["domain"], s["id"], "service:pulse", {"streams": {"total": len(fleet.streams)}}
            )
    for st in fleet.streams:
        uid, sid = st["uuid"], st["server_id"]
        add(start_ms, uid, sid, "stream:create", {"uid": uid, "kind": "primary", "state": "active"})
        mean_gap = 270_000 if uid in fleet.flapping else 40 * 3_600_000
        t, total = start_ms + rng.randint(0, 60_000), 0
        while (t := t + int(rng.expovariate(1 / mean_gap)) + 60_000) < end_ms:
            total += 1
            add(
                t,
                uid,
                sid,
                "stream:reconnect",
                {
                    "uid": uid,
                    "kind": "primary",
                    "state": "active",
                    "reconnects": {"attempt": rng.randint(0, 3), "limit": 10, "total": total},
                },
            )
        if uid in fleet.disabled:
            add(
                rng.randint(start_ms, end_ms - 1),
                uid,
                sid,
                "stream:state",
                {"uid": uid, "kind": "primary", "state": "disabled"},
            )
    for at, _, tag, data in sorted(pending):
        server_id, key, name = tag.split("|")
        body = by_id[int(server_id)].event(name, at, data or None)
        yield SimRecord("media_events", key, body, at)
