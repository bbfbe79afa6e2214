"""Deterministic synthetic media-server events in the shape of SPEC section 2.1."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
from aiokafka.partitioner import murmur2

RECONNECT = "stream:reconnect"
STATE = "stream:state"
PULSE = "service:pulse"
RECONNECT_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of event types and of stream popularity."""

    reconnect: float = 0.90
    state: float = 0.07  # the rest are service:pulse
    disabled: float = 0.05  # share of stream:state events that say "disabled"
    secondary: float = 0.2  # share of streams of kind "secondary"
    hot_streams: float = 0.1  # this share of the streams ...
    hot_events: float = 0.5  # ... gets this share of the stream events (the rest: uniform)


@dataclass(frozen=True, slots=True)
class Fleet:
    """Streams (uid, kind, key, partition) and servers (domain, pid, key, partition)."""

    uids: list[str]
    kinds: list[str]
    stream_keys: list[bytes]
    stream_parts: list[int]
    servers: list[str]
    pids: list[int]
    server_keys: list[bytes]
    server_parts: list[int]
    first_seq: list[int]


@dataclass(slots=True)
class Tally:
    """What a generation produced: counts per event type and the distinct streams touched."""

    types: Counter[str] = field(default_factory=Counter)
    streams: set[int] = field(default_factory=set)
    value_bytes: int = 0


def partition_of(key: bytes, partitions: int) -> int:
    """The partition aiokafka's (and Java's) default partitioner picks for a key."""
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def build_fleet(
    rng: random.Random, *, streams: int, servers: int, partitions: int, mix: Mix | None = None
) -> Fleet:
    """Random uuids per stream, and numbered media servers each with a pid."""
    secondary = (mix or Mix()).secondary
    uids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(streams)]
    kinds = ["secondary" if rng.random() < secondary else "primary" for _ in uids]
    domains = [f"mediaserver{i + 1}.vms.local" for i in range(servers)]
    stream_keys = [u.encode() for u in uids]
    server_keys = [d.encode() for d in domains]
    return Fleet(
        uids=uids,
        kinds=kinds,
        stream_keys=stream_keys,
        stream_parts=[partition_of(k, partitions) for k in stream_keys],
        servers=domains,
        pids=[rng.randrange(1000, 65_000) for _ in domains],
        server_keys=server_keys,
        server_parts=[partition_of(k, partitions) for k in server_keys],
        first_seq=[rng.randrange(1, 100_000) for _ in domains],
    )


class _Clock:
    """ISO 8601 'Z' stamps with milliseconds, formatting each second only once."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def iso(self, ms: int) -> str:
        """`2026-11-20T10:15:02.513Z` for epoch milliseconds."""
        second, milli = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{milli:03d}Z"


def _pulse_data(rng: random.Random) -> dict[str, object]:
    """A media server's statistics, as seed 000's `extra` (io, cpu, mem, net)."""
    return {
        "io": {"read_rate": 0, "read_bytes": 0, "write_rate": 0, "write_bytes": 0},
        "cpu": {"total": 28, "usage": rng.randrange(5, 95)},
        "mem": {"rss": rng.randrange(10**9, 2 * 10**9), "usage": rng.randrange(3 * 10**9)},
        "net": {"in_bitrate": rng.randrange(10**8), "out_bitrate": rng.randrange(5 * 10**8)},
    }


class Generator:
    """Yields (partition, key, value) in timestamp order; counts what it yields in `tally`."""

    def __init__(self, fleet: Fleet, *, seed: int, mix: Mix | None = None) -> None:
        self.fleet = fleet
        self.mix = mix or Mix()
        self.tally = Tally()
        self._rng = random.Random(seed ^ 0x5EED)
        self._clock = _Clock()
        streams = len(fleet.uids)
        self._stream_server = [self._rng.randrange(len(fleet.servers)) for _ in range(streams)]
        self._seq = list(fleet.first_seq)
        self._total = [self._rng.randrange(50) for _ in range(streams)]
        self._disabled = [False] * streams
        self._hot = max(1, int(streams * self.mix.hot_streams))

    def events(
        self, count: int, *, start_ms: int, end_ms: int
    ) -> Iterator[tuple[int, bytes, bytes]]:
        """`count` events stamped evenly from start_ms to end_ms."""
        step = (end_ms - start_ms) / max(count, 1)
        for i in range(count):
            at = self._clock.iso(start_ms + int(i * step))
            yield self._one(at)

    def _pick_stream(self) -> int:
        rng = self._rng
        if rng.random() < self.mix.hot_events:
            return int(rng.random() * self._hot)
        return int(rng.random() * len(self.fleet.uids))

    def _one(self, at: str) -> tuple[int, bytes, bytes]:
        roll = self._rng.random()
        if roll >= self.mix.reconnect + self.mix.state:
            return self._pulse(at)
        return self._stream_event(at, reconnect=roll < self.mix.reconnect)

    def _envelope(self, event: str, server: int, at: str, data: object) -> bytes:
        self._seq[server] += 1
        self.tally.types[event] += 1
        value = orjson.dumps(
            {
                "event": event,
                "device": "mediaserver",
                "server": self.fleet.servers[server],
                "pid": self.fleet.pids[server],
                "seq": self._seq[server],
                "timestamp": at,
                "data": data,
            }
        )
        self.tally.value_bytes += len(value)
        return value

    def _stream_event(self, at: str, *, reconnect: bool) -> tuple[int, bytes, bytes]:
        s = self._pick_stream()
        self.tally.streams.add(s)
        if reconnect:
            self._total[s] += 1
        else:
            self._disabled[s] = self._rng.random() < self.mix.disabled
        total = self._total[s]
        data = {
            "uid": self.fleet.uids[s],
            "kind": self.fleet.kinds[s],
            "state": "disabled" if self._disabled[s] else "active",
            "reconnects": {
                "attempt": total % (RECONNECT_LIMIT + 1),
                "limit": RECONNECT_LIMIT,
                "total": total,
            },
        }
        event = RECONNECT if reconnect else STATE
        value = self._envelope(event, self._stream_server[s], at, data)
        return self.fleet.stream_parts[s], self.fleet.stream_keys[s], value

    def _pulse(self, at: str) -> tuple[int, bytes, bytes]:
        server = int(self._rng.random() * len(self.fleet.servers))
        value = self._envelope(PULSE, server, at, _pulse_data(self._rng))
        return self.fleet.server_parts[server], self.fleet.server_keys[server], value
