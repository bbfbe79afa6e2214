"""Where a run's CPU went: one process, PostgreSQL's processes, Kafka's JVM, the whole machine.

Read from /proc: a snapshot is CPU seconds so far; two snapshots give the split over the
interval between them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def process_seconds(pid: int, proc: Path = PROC) -> float:
    """utime + stime of a process, in seconds (0 once it is gone)."""
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds(proc: Path = PROC) -> float:
    """CPU seconds the machine spent not idle (all cores), from /proc/stat."""
    ticks = [int(x) for x in (proc / "stat").read_text().splitlines()[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def snapshot(pids: dict[str, int], proc: Path = PROC) -> dict[str, float]:
    """CPU seconds so far: each named pid, PostgreSQL's processes, Java (Kafka), the machine."""
    out = {name: process_seconds(pid, proc) for name, pid in pids.items()}
    out["postgres"] = out["kafka"] = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres":
            out["postgres"] += process_seconds(int(entry.name), proc)
        elif comm == "java":
            out["kafka"] += process_seconds(int(entry.name), proc)
    out["busy"] = machine_busy_seconds(proc)
    return out


def split(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, with `other`: busy time none of them explains.

    A process that exited between the snapshots (a PostgreSQL backend that closed) takes its
    seconds with it, so they show up in `other`.
    """
    spent = {k: max(after.get(k, 0.0) - v, 0.0) for k, v in before.items()}
    named = sum(v for k, v in spent.items() if k != "busy")
    spent["other"] = max(spent["busy"] - named, 0.0)
    return spent
