"""CPU accounting of benchmark runs, read from a /proc laid out in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import cpu

TICK = os.sysconf("SC_CLK_TCK")


def _process(proc: Path, pid: int, comm: str, utime: int, stime: int) -> None:
    entry = proc / str(pid)
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "comm").write_text(comm + "\n")
    # The command may hold spaces and parentheses: fields are counted after the last ')'.
    fields = ["S", *["0"] * 10, str(utime), str(stime), *["0"] * 8]
    (entry / "stat").write_text(f"{pid} ({comm} (x) y) " + " ".join(fields) + "\n")


def _machine(proc: Path, *, busy: int, idle: int) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    (proc / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0\n")


def test_a_snapshot_sums_postgres_and_java_processes_and_names_the_pids(tmp_path: Path) -> None:
    _process(tmp_path, 10, "postgres", 2 * TICK, TICK)
    _process(tmp_path, 11, "postgres", TICK, 0)
    _process(tmp_path, 20, "java", 5 * TICK, 5 * TICK)
    _process(tmp_path, 30, "python", 7 * TICK, TICK)
    _process(tmp_path, 31, "python", 100 * TICK, 0)  # not named: in nobody's account
    _machine(tmp_path, busy=200 * TICK, idle=50 * TICK)

    snap = cpu.snapshot({"worker": 30}, proc=tmp_path)

    assert snap == {"worker": 8.0, "postgres": 4.0, "kafka": 10.0, "busy": 200.0}


def test_a_process_that_is_gone_counts_zero(tmp_path: Path) -> None:
    assert cpu.process_seconds(404, proc=tmp_path) == 0.0


def test_the_split_is_the_difference_and_other_is_busy_time_nobody_named() -> None:
    before = {"worker": 1.0, "postgres": 2.0, "kafka": 3.0, "busy": 10.0}
    after = {"worker": 11.0, "postgres": 7.0, "kafka": 4.0, "busy": 30.0}

    spent = cpu.split(before, after)

    assert spent == pytest.approx(
        {"worker": 10.0, "postgres": 5.0, "kafka": 1.0, "busy": 20.0, "other": 4.0}
    )


def test_a_backend_that_exited_between_snapshots_does_not_make_a_negative_account() -> None:
    before = {"postgres": 9.0, "busy": 10.0}
    after = {"postgres": 4.0, "busy": 15.0}

    spent = cpu.split(before, after)

    assert spent["postgres"] == 0.0
    assert spent["other"] == 5.0
