"""The list-flush benchmark's streams, rounds and summary (bench/list_flush.py)."""

from __future__ import annotations

from bench.list_flush import (
    BASELINE,
    SHIPPED,
    Repeat,
    Round,
    make_streams,
    markdown,
    moved,
    summarize,
)


def test_every_stream_is_listed_once_under_any_condition_and_the_partitions_split_them() -> None:
    parts = make_streams(1_000, partitions=4, seed=3)
    streams = [s for part in parts for s in part]
    assert [len(part) for part in parts] == [250] * 4
    assert len({s.uid for s in streams}) == 1_000
    assert all("*" in s.conditions and len(s.counts) == len(s.conditions) for s in streams)
    assert all(s.facts for s in streams)
    assert make_streams(1_000, partitions=4, seed=3) == parts


def test_a_round_moves_the_counts_of_its_share_of_the_streams_only() -> None:
    parts = make_streams(2_000, partitions=2, seed=3)
    first = {s.uid: s for part in parts for s in part}
    rounds = [moved(parts, round_=r, share=0.5, seed=3) for r in (1, 2)]
    for r, round_parts in enumerate(rounds, start=1):
        streams = [s for part in round_parts for s in part]
        assert 800 < len(streams) < 1_200
        for s in streams:
            was = first[s.uid]
            assert s.counts == tuple(c + r for c in was.counts)
            assert s.reconnect_attempt == (was.reconnect_attempt or 0) + r
            assert s.conditions == was.conditions
            assert not s.facts
    assert {s.uid for p in rounds[0] for s in p} != {s.uid for p in rounds[1] for s in p}


def _round(kind: str, seconds: float, updated: int = 0, hot: int = 0) -> Round:
    wal = {"wal_bytes": int(seconds * 2**20), "wal_fpi": int(seconds * 10), "checkpoints_req": 1}
    return Round(kind, seconds, seconds * 1.5, 10, 0 if updated else 25, 0, updated, hot, wal)


def test_the_summary_takes_medians_and_pools_the_hot_share_of_the_update_rounds() -> None:
    sizes = {"stream_list_facts.heap": 100}
    repeats = [
        Repeat(SHIPPED, [_round("insert", 2.0), _round("update", 1.0, 10, 10)], sizes),
        Repeat(BASELINE, [_round("insert", 2.0), _round("update", 3.0, 10, 1)], sizes),
        Repeat(SHIPPED, [_round("insert", 4.0), _round("update", 2.0, 10, 9)], sizes),
        Repeat(BASELINE, [_round("insert", 2.0), _round("update", 5.0, 10, 3)], sizes),
    ]
    summary = summarize(repeats)
    assert summary[SHIPPED]["insert"]["seconds"] == 3.0
    assert summary[SHIPPED]["update"]["facts_hot_share"] == 0.95
    assert summary[BASELINE]["update"]["facts_hot_share"] == 0.2
    doc = {
        "started": "2026-12-07 10:00",
        "options": {
            "streams": 10,
            "partitions": 2,
            "rounds": 1,
            "moved": 1.0,
            "repeats": 2,
            "baseline_fillfactor": 85,
        },
        "machine": {"cpus": 2, "postgres": "15", "commit": "abc", "uncommitted_changes": False},
        "summary": summary,
    }
    text = markdown(doc)
    assert "- update rounds, shipped / baseline wall time: 0.38" in text  # 1.5 / 4.0
    assert "- insert rounds, shipped / baseline wall time: 1.50" in text
    assert "| baseline | update | 2 | 4.00 | 6.0 | 0 | 20% | 4 MB (40) | 1 |" in text
