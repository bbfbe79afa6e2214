"""The fault suite's input: a deterministic fleet history, in phases, with its meaning.

Each record carries what it means to the streams it touches, as steps of the brute-force
model (tests/unit/stream_health/domain/model.py). The worker reads several topics at once,
so the order between topics is not fixed; the workload makes it irrelevant: within one
phase a stream is touched through one topic only (its media events, or one inventory
change, or its job's callbacks), and the driver waits for the worker to apply a phase,
signals included, before producing the next. Within a topic, a stream's records share a
key, hence a partition and an order.

Every timestamp lies in the hour before the run and every window is at least 12 h long, so
nothing drains while the run lasts: the outcome does not depend on when the worker applied
what, only on what it applied and in which order per stream. That is what a fault must not
change.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_health.domain.stream import Cause, StreamFacts
from stream_health_worker.outputs import iso_ms
from stream_health_worker.schemas.events import event_id
from tests.unit.stream_health.domain.model import (
    Counters,
    Facts,
    Presence,
    Reconnect,
    ServerState,
    Step,
)

CONDITIONS = """
stream_conditions:
  incorrect:   {reconnects: 1, period: 24h}
  problematic: {reconnects: 4, period: 12h, clear_below: 2, increased: {reconnects: 6, period: 24h, clear_below: 3}}
  disabled:    {stream_state: disabled}
"""
DOWN, WORKING, PAUSE = 7, 1, 9
PHASES = ("inventory", "media", "callbacks", "media", "inventory", "media", "callbacks", "media", "inventory", "media")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Out:
    """One record to produce, and the model steps it means (uid, step), in order."""

    role: str  # a TopicNames field
    key: bytes | None
    value: bytes | None
    steps: tuple[tuple[str, Step], ...] = ()


@dataclass(slots=True)
class Stream:
    uid: str
    stream_id: int
    camera_id: int
    server_id: int
    enabled: bool = True
    in_inventory: bool = False
    updated: int = 0  # seconds after 2024-01-01 of its snapshot's updated_at
    clock_ms: int = 0
    history: list[bytes] = field(default_factory=list)  # its media events, to repeat


@dataclass(slots=True)
class Job:
    uid: str
    stream_uid: str
    published: bool = False
    snapshot_ms: int | None = None
    pending_down: tuple[int, int] | None = None  # (at_ms, model id) of a DOWN before the job
    callback: tuple[int, int] | None = None  # (status, received ms) of the latest callback


@dataclass
class Workload:
    """The phases to produce, and the final inventory and jobs they leave."""

    phases: list[list[Out]]
    streams: dict[str, Stream]
    cameras: dict[int, bool]  # camera id -> is_increased_reconnect
    servers: dict[int, tuple[str, bool]]  # server id -> (domain, manages conditions)
    jobs: dict[str, Job]
    now_ms: int  # an instant after every timestamp, before any window could drain

    @property
    def records(self) -> int:
        return sum(len(phase) for phase in self.phases)

    def produced(self) -> Counter[str]:
        """Records per topic role."""
        return Counter(out.role for phase in self.phases for out in phase)

    def facts(self, stream: Stream) -> StreamFacts:
        """What inventory says of `stream` now (unknown streams: the defaults)."""
        if not stream.in_inventory:
            return StreamFacts()
        return StreamFacts(
            stream_id=stream.stream_id,
            camera_id=stream.camera_id,
            server_id=stream.server_id,
            enabled=stream.enabled,
            increased=self.cameras[stream.camera_id],
            managed=self.servers[stream.server_id][1],
        )


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _vms_time(seconds: int) -> str:
    moment = datetime(2024, 1, 1, tzinfo=UTC).timestamp() + seconds
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


class _Builder:
    def __init__(self, *, streams: int, events: int, seed: int, now_ms: int) -> None:
        self.rng = random.Random(seed)
        self.now_ms = now_ms
        self.base_ms = now_ms - 55 * 60_000
        self.media_per_phase = max(1, events // PHASES.count("media"))
        n_servers, n_cameras = 8, max(1, streams // 2)
        self.servers = {i: (f"ms{i}.faults.local", True) for i in range(1, n_servers + 1)}
        self.cameras = dict.fromkeys(range(1, n_cameras + 1), False)
        self.pids = {i: self.rng.randrange(100, 60_000) for i in self.servers}
        self.seqs = Counter[int]()
        self.streams: dict[str, Stream] = {}
        for i in range(1, streams + 1):
            uid = _uid(self.rng)
            self.streams[uid] = Stream(
                uid,
                stream_id=i,
                camera_id=(i - 1) // 2 + 1,
                server_id=self.rng.randrange(1, n_servers + 1),
                clock_ms=self.base_ms + self.rng.randrange(60_000),
            )
        uids = list(self.streams)
        self.never_listed = set(uids[: streams // 20])  # inventory never knows these
        self.late = set(uids[streams // 20 : streams // 10])  # known only from phase 4
        self.jobs = {
            (job := _uid(self.rng)): Job(job, uid) for uid in self.rng.sample(uids, streams // 4)
        }
        self.model_ids = iter(range(1 << 62, 1 << 63))
        self.updated = Counter[str]()

    # --- inventory ---------------------------------------------------------------------

    def _stream_snapshot(self, stream: Stream, *, stale: bool = False) -> Out:
        if not stale:
            stream.updated += 60
        doc = {
            "id": stream.stream_id,
            "type": "high",
            "camera_id": stream.camera_id,
            "status": "active",
            "url": f"rtsp://operator:faults-secret-{stream.stream_id}@10.9.{stream.stream_id % 250}.{stream.camera_id % 250}/live",
            "ip": f"10.9.{stream.stream_id % 250}.{stream.camera_id % 250}",
            "uuid": stream.uid,
            "created_at": _vms_time(0),
            "updated_at": _vms_time(stream.updated - (30 if stale else 0)),
            "is_enabled": stream.enabled,
            "server_id": stream.server_id,
            "sub_server_ids": [],
        }
        if not stale:
            stream.in_inventory = True
        steps = () if stale else ((stream.uid, Facts(self.now_ms, self.model.facts(stream))),)
        return Out("inventory_streams", str(stream.stream_id).encode(), orjson.dumps(doc), steps)

    def _camera_snapshot(self, camera_id: int, affected: list[Stream]) -> Out:
        self.updated[f"c{camera_id}"] += 60
        doc = {
            "id": camera_id,
            "name": f"Camera {camera_id}",
            "is_increased_reconnect": self.cameras[camera_id],
            "updated_at": _vms_time(self.updated[f"c{camera_id}"]),
        }
        steps = tuple(
            (s.uid, Facts(self.now_ms, self.model.facts(s))) for s in affected if s.in_inventory
        )
        return Out("inventory_cameras", str(camera_id).encode(), orjson.dumps(doc), steps)

    def _server_snapshot(self, server_id: int, affected: list[Stream]) -> Out:
        self.updated[f"s{server_id}"] += 60
        domain, managed = self.servers[server_id]
        doc = {
            "id": server_id,
            "domain": domain,
            "is_stream_condition_management_enabled": managed,
            "updated_at": _vms_time(self.updated[f"s{server_id}"]),
            "extra": {},
        }
        steps = tuple(
            (s.uid, Facts(self.now_ms, self.model.facts(s))) for s in affected if s.in_inventory
        )
        return Out("inventory_servers", str(server_id).encode(), orjson.dumps(doc), steps)

    def _job_snapshot(self, job: Job) -> Out:
        job.published = True
        self.updated[job.uid] += 60
        job.snapshot_ms = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000) + (
            self.updated[job.uid] * 1000
        )
        doc = {
            "id": self.updated[job.uid],
            "job_uid": job.uid,
            "stream_uid": job.stream_uid,
            "status": WORKING,
            "regions": [],
            "platform_json": "{}",
            "binary_json": "{}",
            "updated_at": iso_ms(job.snapshot_ms),
        }
        steps: tuple[tuple[str, Step], ...] = ()
        if job.pending_down is not None:  # released now: counted as a reconnection
            at_ms, model_id = job.pending_down
            job.pending_down = None
            steps = ((job.stream_uid, Reconnect(self.now_ms, at_ms, model_id, Cause.ANALYTICS)),)
        return Out("orchestrator_jobs", job.uid.encode(), orjson.dumps(doc), steps)

    def inventory_phase(self, first: bool) -> list[Out]:
        rng, out = self.rng, []
        if first:
            out += [self._server_snapshot(i, []) for i in self.servers]
            out += [self._camera_snapshot(i, []) for i in self.cameras]
            for stream in self.streams.values():
                if stream.uid not in self.never_listed | self.late:
                    out.append(self._stream_snapshot(stream))
            jobs = list(self.jobs.values())
            out += [self._job_snapshot(job) for job in jobs[: len(jobs) // 2]]
            return out
        touched: set[str] = set()
        listed = [s for s in self.streams.values() if s.in_inventory]

        def free(streams: list[Stream]) -> bool:
            return not any(s.uid in touched for s in streams)

        server_id = rng.choice(list(self.servers))
        on_server = [s for s in self.streams.values() if s.server_id == server_id]
        domain, managed = self.servers[server_id]
        self.servers[server_id] = (domain, not managed)
        out.append(self._server_snapshot(server_id, on_server))
        touched |= {s.uid for s in on_server}
        for stream in self.streams.values():  # the late streams arrive
            if stream.uid in self.late and not stream.in_inventory and free([stream]):
                out.append(self._stream_snapshot(stream))
                touched.add(stream.uid)
        for camera_id in rng.sample(list(self.cameras), min(40, len(self.cameras))):
            mine = [s for s in self.streams.values() if s.camera_id == camera_id]
            if free(mine):
                self.cameras[camera_id] = not self.cameras[camera_id]
                out.append(self._camera_snapshot(camera_id, mine))
                touched |= {s.uid for s in mine}
        for stream in rng.sample(listed, min(300, len(listed))):
            if not free([stream]):
                continue
            touched.add(stream.uid)
            roll = rng.random()
            if roll < 0.6:
                stream.enabled = not stream.enabled
                out.append(self._stream_snapshot(stream))
            elif roll < 0.85:
                out.append(self._stream_snapshot(stream))  # a newer copy, facts unchanged
            else:
                out.append(self._stream_snapshot(stream, stale=True))
        analysed = {job.stream_uid for job in self.jobs.values()}
        for stream in rng.sample(listed, min(15, len(listed))):  # deleted from inventory
            if free([stream]) and stream.uid not in analysed:
                stream.in_inventory = False
                unknown = ((stream.uid, Facts(self.now_ms, StreamFacts())),)
                out.append(Out("inventory_streams", str(stream.stream_id).encode(), None, unknown))
                touched.add(stream.uid)
        for job in self.jobs.values():
            if not job.published and free([self.streams[job.stream_uid]]):
                out.append(self._job_snapshot(job))
                touched.add(job.stream_uid)
        return out

    # --- media events ------------------------------------------------------------------

    def _event(self, stream: Stream, kind: str, **data: Any) -> tuple[bytes, int, int, str]:
        server = self.servers[stream.server_id][0]
        self.seqs[stream.server_id] += 1
        seq, pid = self.seqs[stream.server_id], self.pids[stream.server_id]
        stream.clock_ms += self.rng.randrange(200, 1500)
        at_ms = stream.clock_ms
        if self.rng.random() < 0.1:  # out of order: an older timestamp arrives later
            at_ms -= self.rng.randrange(1, 5000)
        stamp: Any = iso_ms(at_ms)
        if self.rng.random() < 0.1:  # epoch seconds, as some media servers send
            at_ms -= at_ms % 1000
            stamp = at_ms // 1000
        body = {
            "event": kind,
            "device": "mediaserver",
            "server": server,
            "pid": pid,
            "seq": seq,
            "timestamp": stamp,
            "data": {"uid": stream.uid, **data},
        }
        return orjson.dumps(body), at_ms, event_id(server, pid, seq), server

    def _media_event(self, stream: Stream) -> Out:
        rng = self.rng
        roll = rng.random()
        if stream.history and roll < 0.08:  # a repeat, byte for byte
            value = rng.choice(stream.history)
            return Out("media_events", stream.uid.encode(), value, self._steps_of[value])
        steps: list[tuple[str, Step]] = []
        if roll < 0.7:
            if rng.random() < 0.5:  # with the media server's own counters
                attempt, total = rng.randrange(0, 10), rng.randrange(0, 10_000)
                counters = {"attempt": attempt, "limit": 10, "total": total}
                value, at_ms, eid, _ = self._event(stream, "stream:reconnect", reconnects=counters)
                steps.append((stream.uid, Counters(self.now_ms, at_ms, eid, attempt, total)))
            else:
                value, at_ms, eid, _ = self._event(stream, "stream:reconnect")
            steps.append((stream.uid, Reconnect(self.now_ms, at_ms, eid)))
        elif roll < 0.84:
            state = "disabled" if rng.random() < 0.5 else "active"
            value, at_ms, eid, _ = self._event(stream, "stream:state", state=state)
            steps.append((stream.uid, ServerState(self.now_ms, at_ms, eid, state)))
        elif roll < 0.87:
            value, at_ms, eid, _ = self._event(stream, "stream:delete")
            steps.append((stream.uid, Presence(self.now_ms, at_ms, eid, present=False)))
        elif roll < 0.95:
            value, at_ms, eid, _ = self._event(stream, "stream:create")
            steps.append((stream.uid, Presence(self.now_ms, at_ms, eid, present=True)))
        else:
            value, *_ = self._event(stream, "stream:thumbnail")  # unknown: skipped
        stream.history.append(value)
        self._steps_of[value] = tuple(steps)
        return Out("media_events", stream.uid.encode(), value, tuple(steps))

    def media_phase(self) -> list[Out]:
        streams = list(self.streams.values())
        out = [self._media_event(self.rng.choice(streams)) for _ in range(self.media_per_phase)]
        for server_id, (domain, _) in self.servers.items():  # liveness, keyed by server
            self.seqs[server_id] += 1
            pulse = {
                "event": "service:pulse",
                "server": domain,
                "pid": self.pids[server_id],
                "seq": self.seqs[server_id],
                "timestamp": iso_ms(self.base_ms + 30 * 60_000),
                "data": {"cpu": 0.5},
            }
            out.append(Out("media_events", domain.encode(), orjson.dumps(pulse)))
        return out

    # --- callbacks ---------------------------------------------------------------------

    def callbacks_phase(self) -> list[Out]:
        rng, out = self.rng, []
        for job in self.jobs.values():
            stream = self.streams[job.stream_uid]
            for _ in range(rng.randrange(0, 5)):
                stream.clock_ms += rng.randrange(200, 1500)
                status = rng.choice((DOWN, DOWN, WORKING, PAUSE, "DOWN"))
                number = DOWN if status == "DOWN" else int(status)
                received = stream.clock_ms
                body = {"streamUid": job.uid, "status": status, "received_at": iso_ms(received)}
                steps: tuple[tuple[str, Step], ...] = ()
                if number == DOWN:
                    model_id = next(self.model_ids)
                    if job.published:
                        reconnect = Reconnect(self.now_ms, received, model_id, Cause.ANALYTICS)
                        steps = ((job.stream_uid, reconnect),)
                    elif job.pending_down is None:
                        job.pending_down = (received, model_id)
                    else:
                        continue  # one pending DOWN per job keeps the release order fixed
                if job.callback is None or received >= job.callback[1]:
                    job.callback = (number, received)
                out.append(
                    Out("orchestrator_callbacks", job.uid.encode(), orjson.dumps(body), steps)
                )
        return out

    def build(self) -> Workload:
        self.model = Workload([], self.streams, self.cameras, self.servers, self.jobs, self.now_ms)
        self._steps_of: dict[bytes, tuple[tuple[str, Step], ...]] = {}
        for number, kind in enumerate(PHASES):
            if kind == "inventory":
                phase = self.inventory_phase(first=number == 0)
            elif kind == "media":
                phase = self.media_phase()
            else:
                phase = self.callbacks_phase()
            self.model.phases.append(phase)
        return self.model


def build_workload(*, streams: int, events: int, seed: int, now_ms: int) -> Workload:
    """A deterministic history of about `events` records over `streams` camera streams."""
    return _Builder(streams=streams, events=events, seed=seed, now_ms=now_ms).build()
