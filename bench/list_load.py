"""The list benchmark's load generator: a separate process with a small keep-alive HTTP client.

`python -m bench.list_load PLAN OUT` reads a JSON plan, drives the api, writes JSON results.
It speaks just enough HTTP/1.1 (GET, Content-Length bodies, keep-alive) to stay light on a
machine whose cores it shares with the api and PostgreSQL; it reports its own CPU time.

Modes:
- `check`: each target once, in order, on one connection; parses each body (meta.total, the
  uuids of `data`) for the sanity checks and the deep pages.
- `latency`: `repeats` passes over the targets, each pass in a seeded shuffled order, one
  request at a time on one connection: per request (target, status, ms).
- `throughput`: `concurrency` connections, each sending its next target as soon as the last
  answer is read, over a seeded shuffled cycle of the targets, for `warmup_s + duration_s`;
  requests completed inside the measured `duration_s` count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


class HttpError(RuntimeError):
    """The server's answer was not a well-formed HTTP/1.1 response this client can read."""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class Connection:
    """One keep-alive connection to host:port; reopened when the server closes it."""

    host: str
    port: int
    headers: bytes
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    reconnects: int = 0

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        """Close the socket (if open)."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def get(self, target: str) -> tuple[int, bytes]:
        """(status, body) of GET target."""
        if self.writer is None:
            await self._open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self.headers)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # closed while idle: retry once on a new socket
            await self.close()
            self.reconnects += 1
            await self._open()
            assert self.reader is not None
            assert self.writer is not None
            self.writer.write(b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self.headers)
            head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding":
                raise HttpError(f"unsupported transfer-encoding {value.strip()!r}")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise HttpError("response without Content-Length")
        body = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, body


def _headers(host: str, port: int, token: str) -> bytes:
    return (
        f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\nUser-Agent: bench-list-load\r\n\r\n"
    ).encode("ascii")


async def check(plan: dict[str, Any], conn: Connection) -> dict[str, Any]:
    """Each target once: status, ms, and what the body says."""
    out = []
    for target in plan["targets"]:
        started = time.perf_counter()
        status, body = await conn.get(target)
        ms = (time.perf_counter() - started) * 1000
        row: dict[str, Any] = {"status": status, "ms": ms, "bytes": len(body)}
        if status == 200:
            doc = orjson.loads(body)
            row["total"] = doc["meta"]["total"]
            row["page"] = doc["meta"]["current_page"]
            row["uuids"] = [item["uuid"] for item in doc["data"]]
            row["is_actual"] = sum(1 for item in doc["data"] if item["is_actual"])
        out.append(row)
    return {"rows": out}


async def latency(plan: dict[str, Any], conn: Connection) -> dict[str, Any]:
    """Sequential requests: `repeats` shuffled passes over the targets."""
    targets: list[str] = plan["targets"]
    rng = random.Random(plan["seed"])
    samples: list[tuple[int, int, float]] = []  # (target index, status, ms)
    nbytes = 0
    for _ in range(plan["repeats"]):
        order = list(range(len(targets)))
        rng.shuffle(order)
        for index in order:
            started = time.perf_counter()
            status, body = await conn.get(targets[index])
            samples.append((index, status, (time.perf_counter() - started) * 1000))
            nbytes += len(body)
    return {"samples": samples, "bytes": nbytes}


async def throughput(plan: dict[str, Any], host: str, port: int, headers: bytes) -> dict[str, Any]:
    """`concurrency` connections in closed loops for warmup + duration."""
    targets: list[str] = plan["targets"]
    order = list(range(len(targets)))
    random.Random(plan["seed"]).shuffle(order)
    counter = iter(range(1 << 62))
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + plan["warmup_s"]
    end = measure_from + plan["duration_s"]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    cpu_at: list[float] = []

    async def client() -> None:
        conn = Connection(host, port, headers)
        try:
            while (now := loop.time()) < end:
                if now >= measure_from and not cpu_at:
                    cpu_at.append(_cpu_s())
                target = targets[order[next(counter) % len(order)]]
                sent = loop.time()
                try:
                    status, _ = await conn.get(target)
                except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
                    errors.append(repr(exc))
                    await conn.close()
                    continue
                done = loop.time()
                if sent >= measure_from and done <= end:
                    latencies.append((done - sent) * 1000)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(plan["concurrency"])))
    cpu_end = _cpu_s()
    return {
        "requests": len(latencies),
        "seconds": plan["duration_s"],
        "per_s": len(latencies) / plan["duration_s"],
        "latencies_ms": latencies,
        "statuses": statuses,
        "errors": errors[:20],
        "error_count": len(errors),
        "client_cpu_s": cpu_end - (cpu_at[0] if cpu_at else cpu_end),
    }


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Carry out the plan; add the client's wall and CPU time."""
    host, port = plan["host"], int(plan["port"])
    headers = _headers(host, port, plan["token"])
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    if plan["mode"] == "throughput":
        result = await throughput(plan, host, port, headers)
    else:
        conn = Connection(host, port, headers)
        try:
            result = await (check(plan, conn) if plan["mode"] == "check" else latency(plan, conn))
        finally:
            await conn.close()
        result["reconnects"] = conn.reconnects
    result["client_wall_s"] = time.perf_counter() - wall0
    result["client_total_cpu_s"] = _cpu_s() - cpu0
    return result


def main(argv: list[str]) -> int:
    """Entry point: PLAN OUT."""
    plan = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(run(plan))
    Path(argv[1]).write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
