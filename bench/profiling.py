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

from bench.measure import WorkerSpec

TOP = 25
_LINE = re.compile(r":\d+\)$")  # py-spy names frames `func (file.py:line)`: count per function


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
    return _collapsed_top(path, limit)


def _collapsed_top(path: Path, limit: int) -> str:
    """Inclusive sample counts per frame from py-spy's raw (collapsed) stacks."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        for frame in {_LINE.sub(")", frame) for frame in stack.split(";")}:
            inclusive[frame] += int(count)
    rows = [
        f"{n / max(total, 1):7.1%}  {n:>8}  {frame}" for frame, n in inclusive.most_common(limit)
    ]
    return "\n".join([f"{total} samples; inclusive share, samples, frame", *rows])
