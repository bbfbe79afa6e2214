"""The worker benchmark's summary of where CPU went, and of its database."""

from __future__ import annotations

import pytest

from bench.kafka_io import Rate
from bench.measure import WorkerRun
from bench.pg import Statement
from bench.report import Repeat, _notes, cpu_cores, cpu_per_event, markdown_cpu


def _repeat(index: int, seconds: float, cpu_s: dict[str, float]) -> Repeat:
    worker = WorkerRun(
        records=1000,
        seconds=seconds,
        offsets_s=seconds,
        first_commit_s=1.0,
        ready_s=1.0,
        rss_ready_kb=1,
        peak_rss_kb=2,
        cpu_s=cpu_s,
    )
    return Repeat(index, Rate(records=1000, seconds=1.0), worker)


def test_cores_are_cpu_seconds_per_wall_second_median_over_repeats() -> None:
    repeats = [
        _repeat(0, 10.0, {"worker": 9.0, "postgres": 4.0, "busy": 18.0}),
        _repeat(1, 20.0, {"worker": 20.0, "postgres": 10.0, "busy": 38.0}),
        _repeat(2, 40.0, {"worker": 32.0, "postgres": 24.0, "busy": 60.0}),
    ]

    assert cpu_cores(repeats) == pytest.approx({"worker": 0.9, "postgres": 0.5, "busy": 1.8})


def test_the_line_lists_the_busiest_account_first_and_skips_runs_without_accounts() -> None:
    repeats = [
        _repeat(0, 10.0, {"worker": 9.0, "postgres": 4.0, "kafka": 1.0, "busy": 15.0}),
        _repeat(1, 10.0, {}),
    ]

    line = markdown_cpu(repeats)[0]

    assert "worker 0.90, postgres 0.40, kafka 0.10;" in line
    assert "machine busy 1.50 of" in line
    assert markdown_cpu([_repeat(0, 10.0, {})]) == []


def test_cpu_per_event_is_the_median_over_repeats_of_cpu_over_records() -> None:
    repeats = [  # 1,000 records each
        _repeat(0, 10.0, {"worker": 0.020, "postgres": 0.010}),
        _repeat(1, 20.0, {"worker": 0.030, "postgres": 0.030}),
        _repeat(2, 40.0, {"worker": 0.025, "postgres": 0.050}),
    ]

    assert cpu_per_event(repeats) == pytest.approx({"worker": 25.0, "postgres": 30.0})


def test_the_cpu_lines_say_what_rate_the_stacks_cpu_allows_on_the_cores() -> None:
    # 1,000 records: worker 20 µs, postgres 25 µs, kafka 5 µs an event; "other" is not the stack.
    run = {"worker": 0.020, "postgres": 0.025, "kafka": 0.005, "other": 0.5, "busy": 0.6}

    _, spent, allows = markdown_cpu([_repeat(0, 10.0, run)], cpus=2)

    assert spent == (
        "- CPU per event consumed, in µs (median of repeats): other 500.0, postgres 25.0, "
        "worker 20.0, kafka 5.0"
    )
    assert "(worker + postgres + kafka, 50.0 µs an event) on 2 cores" in allows
    assert "at most 40,000 events/s;" in allows  # 2 cores / 50 µs
    assert "the worker's 20.0 µs on its one thread alone: at most 50,000 events/s" in allows


def test_the_notes_list_the_rows_then_the_updates_busiest_table_first_with_their_hot_share() -> (
    None
):
    repeat = _repeat(0, 10.0, {})
    repeat.footprint = {
        "database_bytes": 3 * 2**20,
        "rows.outbox": 0,
        "rows.stream_windows": 100,
        "updated.stream_list": 50,
        "hot_updated.stream_list": 0,
        "updated.stream_windows": 400,
        "hot_updated.stream_windows": 100,
    }

    notes = _notes({}, [repeat])

    assert notes[0] == "- database after the last repeat: 3 MiB; rows: outbox 0, stream_windows 100"
    assert notes[1] == (
        "- rows updated in the last repeat (HOT: no index entry): "
        "stream_windows 400 (25% HOT), stream_list 50 (0% HOT)"
    )


def test_the_notes_give_each_busy_statement_s_wal_and_the_server_s_wal_and_checkpoints() -> None:
    repeat = _repeat(0, 10.0, {})
    repeat.statements = [
        Statement("INSERT INTO stream_list ...", 12, 6_600.0, 252, 640 * 2**20, 6_000)
    ]
    repeat.wal = {
        "wal_bytes": 1536 * 2**20,
        "wal_fpi": 90_000,
        "checkpoints_timed": 0,
        "checkpoints_req": 2,
    }

    notes = _notes({}, [repeat])

    assert "  - 6.6 s, 12 calls, 252 rows, WAL 640 MiB (6,000 full pages): `INSERT" in notes[1]
    assert notes[2] == (
        "- WAL written while the last repeat's worker ran (the whole server): 1,536 MiB, "
        "90,000 full-page images; checkpoints 0 timed, 2 requested (a requested one: max_wal_size worth of WAL since the last)"
    )
