"""`--profile`: run the worker under py-spy when it is installed, else cProfile; summarise."""

from __future__ import annotations

import io
import pstats
import re
import shutil
import signal
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.measure import WorkerSpec

TOP = 25


def profiled(spec: WorkerSpec, *, python: str, out_dir: Path) -> tuple[WorkerSpec, Path]:
    """The spec rewritten to run under a profiler, and where the profile will be written.

    Both profilers write their output only on a clean exit, so the run is stopped with SIGINT
    (uvicorn shuts down and re-raises it as KeyboardInterrupt, which cProfile survives).
    """
    py_spy = shutil.which("py-spy")
    if py_spy:
        path = out_dir / "worker.pyspy.txt"
        argv = [py_spy, "record", "--format", "raw", "--rate", "200", "--subprocesses"]
        argv += ["-o", str(path), "--", python, "-m", "stream_health_worker"]
    else:
        path = out_dir / "worker.prof"
        argv = [python, "-m", "cProfile", "-o", str(path), "-m", "stream_health_worker"]
    return replace(spec, argv=argv, stop_signal=signal.SIGINT, stop_grace_s=60.0), path


def top_cumulative(path: Path, limit: int = TOP) -> str:
    """Top `limit` functions: by cumulative then own time (cProfile), or by samples (py-spy)."""
    if not path.exists():
        return f"(no profile written at {path})"
    if path.suffix == ".prof":
        buffer = io.StringIO()
        stats = pstats.Stats(str(path), stream=buffer)
        stats.sort_stats("cumulative").print_stats(limit)
        buffer.write("The same run, by own time (hot spots):\n")
        stats.sort_stats("tottime").print_stats(limit)
        return buffer.getvalue()
    top = pyspy_top(path, limit)
    lines = [f"{top['samples']} samples; inclusive share per frame"]
    lines += [f"{share:7.1%}  {frame}" for frame, share in top["inclusive"]]
    lines += ["the product's frames (inclusive):"]
    lines += [f"{share:7.1%}  {frame}" for frame, share in top["inclusive_ours"]]
    lines += ["own time (the frame on top of the stack):"]
    lines += [f"{share:7.1%}  {frame}" for frame, share in top["own"]]
    return "\n".join(lines)


LEAF_FILE = re.compile(r" \(([^()]*?):\d+\)$")


def _frame(frame: str) -> str:
    """`func (path/to/file.py:12)` -> `func (file.py)`, counted per function."""
    match = LEAF_FILE.search(frame)
    if not match:
        return frame
    path = match.group(1)
    short = "/".join(path.split("/")[-2:])
    return f"{frame[: match.start()]} ({short})"


def pyspy_top(path: Path, limit: int = 25) -> dict[str, Any]:
    """Inclusive and own (leaf) sample shares per function from py-spy's raw output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0, "inclusive": [], "own": [], "missing": str(path)}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    ours = [
        (f, n)
        for f, n in inclusive.most_common()
        if "stream_health" in f and "stream_health_cli" not in f and "__main__" not in f
    ]
    return {
        "samples": total,
        "inclusive": [(f, n / max(total, 1)) for f, n in inclusive.most_common(limit)],
        "inclusive_ours": [(f, n / max(total, 1)) for f, n in ours[:limit]],
        "own": [(f, n / max(total, 1)) for f, n in own.most_common(limit)],
    }
