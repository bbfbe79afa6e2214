"""One worker process under measurement: spawn it, sample its RSS, wait until it has committed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import cpu
from bench.pg import Progress, ProgressProbe

SAMPLE_EVERY_S = 0.5
POLL_EVERY_S = 0.2
STOP_GRACE_S = 10.0

Ready = tuple[float, int | None] | None  # (seconds since spawn, VmRSS KiB) at first /readyz 200


class WorkerError(RuntimeError):
    """The worker exited early or did not finish in time; the message carries its log tail."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How to start one worker process."""

    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    stop_signal: int = signal.SIGTERM
    stop_grace_s: float = STOP_GRACE_S


@dataclass(slots=True)
class WorkerRun:
    """Timings (seconds from spawn) and memory (KiB) of one worker run."""

    records: int
    seconds: float  # until every offset is committed, the outbox empty and the list written
    offsets_s: float  # until every record's offset is committed
    first_commit_s: float | None
    ready_s: float | None
    rss_ready_kb: int | None
    peak_rss_kb: int
    exit_code: int | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)  # from spawn to done: bench.cpu.split
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Records per second from process spawn to fully committed."""
        return self.records / self.seconds

    @property
    def rate_from_ready(self) -> float | None:
        """Records per second from the first /readyz 200 to fully committed."""
        if self.ready_s is None or self.seconds <= self.ready_s:
            return None
        return self.records / (self.seconds - self.ready_s)


def read_memory(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in KiB from /proc/<pid>/status; None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None  # a zombie has no Vm* lines


class WorkerProcess:
    """A worker subprocess in its own session, its output captured to a log file."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = spec.log_path.open("ab")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            spec.argv,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.peak_kb = 0
        self.samples: list[tuple[float, int]] = []

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def elapsed(self) -> float:
        """Seconds since spawn."""
        return time.perf_counter() - self.started

    def sample(self) -> int | None:
        """Record VmRSS now (and keep the highest VmHWM seen); return VmRSS."""
        memory = read_memory(self.pid)
        if memory is None:
            return None
        rss, hwm = memory
        self.samples.append((round(self.elapsed(), 3), rss))
        self.peak_kb = max(self.peak_kb, hwm, rss)
        return rss

    async def sample_forever(self) -> None:
        """Sample every SAMPLE_EVERY_S until cancelled."""
        while self.process.poll() is None:
            self.sample()
            await asyncio.sleep(SAMPLE_EVERY_S)

    def tail(self, lines: int = 30, width: int = 400) -> str:
        """The last lines of the worker's log, each cut to `width` characters."""
        text = self.spec.log_path.read_text(errors="replace").splitlines()
        return "\n".join(
            line if len(line) <= width else line[:width] + " ..." for line in text[-lines:]
        )

    def died(self, what: str) -> WorkerError:
        """An error naming the exit code and showing the log tail."""
        code = self.process.poll()
        state = "still running" if code is None else f"exited with code {code}"
        return WorkerError(
            f"worker (pid {self.pid}) {state}: {what}\n"
            f"--- tail of {self.spec.log_path} ---\n{self.tail()}"
        )

    async def stop(self) -> int | None:
        """Send the stop signal, then SIGKILL the session after the grace period."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, self.spec.stop_signal)  # its own session: pgid == pid
            try:
                await asyncio.to_thread(self.process.wait, self.spec.stop_grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                await asyncio.to_thread(self.process.wait)
        self._log.close()
        return self.process.returncode


async def wait_ready(worker: WorkerProcess, timeout_s: float) -> Ready:
    """Poll GET /readyz until 200: (seconds since spawn, VmRSS then); None if it died first."""
    url = f"http://127.0.0.1:{worker.spec.port}/readyz"
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while worker.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return worker.elapsed(), worker.sample()
            await asyncio.sleep(0.1)
    return None


async def _wait_committed(
    worker: WorkerProcess, probe: ProgressProbe, expected: int, timeout_s: float
) -> tuple[float, float, float | None]:
    """Poll the database until `expected` offsets are committed, the outbox is empty and no
    window waits for its admin-list rows (a worker that defers list writes has written them)."""
    first_commit: float | None = None
    offsets_at: float | None = None
    progress = Progress(0, None)
    while worker.elapsed() < timeout_s:
        if worker.process.poll() is not None:
            raise worker.died(f"before committing {expected} records ({progress})")
        progress = await probe.read(expected=expected)
        now = worker.elapsed()
        if first_commit is None and progress.committed > 0:
            first_commit = now
        if offsets_at is None and progress.committed >= expected:
            offsets_at = now
        if offsets_at is not None and not progress.outbox and not progress.list_dirty:
            return now, offsets_at, first_commit
        await asyncio.sleep(POLL_EVERY_S)
    raise worker.died(f"timed out after {timeout_s:.0f} s at {progress} of {expected}")


async def _settled(readiness: asyncio.Task[Ready]) -> Ready:
    """The readiness result; give a busy worker a few seconds to answer if it has not yet."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(readiness, timeout=10)
    return None


async def run_worker(
    spec: WorkerSpec, probe: ProgressProbe, *, expected: int, timeout_s: float
) -> WorkerRun:
    """Start the worker, wait until it has committed `expected` records, stop it."""
    worker = WorkerProcess(spec)
    pids = {"worker": worker.pid, "bench": os.getpid()}
    cpu_before = cpu.snapshot(pids)
    sampling = asyncio.create_task(worker.sample_forever())
    readiness = asyncio.create_task(wait_ready(worker, timeout_s))
    try:
        done_s, offsets_s, first_s = await _wait_committed(worker, probe, expected, timeout_s)
        spent = cpu.split(cpu_before, cpu.snapshot(pids))
        worker.sample()  # VmHWM covers any peak between samples
        ready = await _settled(readiness)
    finally:
        for task in (sampling, readiness):
            task.cancel()
        code = await worker.stop()
    return WorkerRun(
        records=expected,
        seconds=done_s,
        offsets_s=offsets_s,
        first_commit_s=first_s,
        ready_s=None if ready is None else ready[0],
        rss_ready_kb=None if ready is None else ready[1],
        peak_rss_kb=worker.peak_kb,
        exit_code=code,
        cpu_s=spent,
        samples=worker.samples,
    )


async def idle_rss(spec: WorkerSpec, *, settle_s: float, timeout_s: float) -> tuple[float, int]:
    """Start a worker on empty topics: (seconds to /readyz, VmRSS after `settle_s` more)."""
    worker = WorkerProcess(spec)
    try:
        ready = await wait_ready(worker, timeout_s)
        if ready is None:
            raise worker.died(f"no /readyz 200 within {timeout_s:.0f} s (idle baseline)")
        await asyncio.sleep(settle_s)
        rss = worker.sample()
        if rss is None:
            raise worker.died("while settling (idle baseline)")
        return ready[0], rss
    finally:
        await worker.stop()
