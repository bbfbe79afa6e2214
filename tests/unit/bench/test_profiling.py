"""The profile digest of a benchmark run, from py-spy's raw (collapsed) stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profiling import pyspy_top, top_cumulative

RAW = """\
main (/v/stream_health_worker/__main__.py:10);run (/v/asyncio/runners.py:5);prepare_batch (/v/stream_health_worker/ingest.py:200);parse (/v/stream_health_worker/schemas/events.py:40) 6
main (/v/stream_health_worker/__main__.py:10);run (/v/asyncio/runners.py:5);prepare_batch (/v/stream_health_worker/ingest.py:210) 2
main (/v/stream_health_worker/__main__.py:10);run (/v/asyncio/runners.py:7);getmany (/v/aiokafka/consumer/consumer.py:9) 2
not a sample line
"""


def test_shares_are_inclusive_per_function_and_own_per_leaf(tmp_path: Path) -> None:
    path = tmp_path / "worker.pyspy.txt"
    path.write_text(RAW)

    top = pyspy_top(path)

    assert top["samples"] == 10
    inclusive = dict(top["inclusive"])
    # Two lines of one function count once per sample, not once per line.
    assert inclusive["run (asyncio/runners.py)"] == pytest.approx(1.0)
    assert inclusive["prepare_batch (stream_health_worker/ingest.py)"] == pytest.approx(0.8)
    assert dict(top["own"]) == pytest.approx(
        {
            "parse (schemas/events.py)": 0.6,
            "prepare_batch (stream_health_worker/ingest.py)": 0.2,
            "getmany (consumer/consumer.py)": 0.2,
        }
    )
    ours = [frame for frame, _ in top["inclusive_ours"]]
    assert "prepare_batch (stream_health_worker/ingest.py)" in ours
    assert not any("aiokafka" in f or "asyncio" in f or "__main__" in f for f in ours)


def test_the_digest_names_each_section(tmp_path: Path) -> None:
    path = tmp_path / "worker.pyspy.txt"
    path.write_text(RAW)

    digest = top_cumulative(path)

    assert digest.startswith("10 samples")
    assert "the product's frames (inclusive):\n  80.0%  prepare_batch" in digest
    assert "own time (the frame on top of the stack):\n  60.0%  parse" in digest
    assert top_cumulative(tmp_path / "missing.txt").startswith("(no profile written")
