"""Exactly-once effects under crashes of the worker, the broker and the database, and rebalances.

Each scenario replays the same deterministic workload (STREAM_HEALTH_FAULT_EVENTS records,
200k by default) with its faults, then compares the views and the changes topic, deduplicated
by event_id, with the brute-force model's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.faults.conftest import SEED
from tests.faults.model import Expected
from tests.faults.scenarios import RECOVERY_LIMIT_S, SCENARIOS, Run, run_scenario
from tests.faults.stack import FaultStack
from tests.faults.workload import Workload

RESULTS = Path(
    os.environ.get("STREAM_HEALTH_FAULT_RESULTS", ROOT / ".stack" / "faults" / "results.jsonl")
)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_faults_leave_the_model_s_views_and_changes(
    scenario: str,
    fault_stack: FaultStack,
    workload: Workload,
    expected: Expected,
    tmp_path: Path,
) -> None:
    run = await run_scenario(
        scenario, stack=fault_stack, workload=workload, expected=expected, tmp=tmp_path, seed=SEED
    )
    _record(run)

    assert run.mismatches.total == 0, str(run.mismatches)
    assert sum(len(changes) for changes in expected.changes.values()) == run.changes
    assert any("mid-work" in fault for fault in run.faults) or scenario == "rebalance", run.faults
    if scenario == "kill-9":
        assert len(run.faults) == 5
    if scenario == "database-restart":
        assert run.recovery_s is not None
        assert run.recovery_s <= RECOVERY_LIMIT_S, run.recovery_s


def _record(run: Run) -> None:
    """Append the run to the results file (one JSON line)."""
    line = {
        "scenario": run.scenario,
        "records": run.records,
        "faults": run.faults,
        "seconds": round(run.seconds, 1),
        "recovery_s": None if run.recovery_s is None else round(run.recovery_s, 2),
        "changes": run.changes,
        "redelivered": run.redelivered,
        "mismatches": run.mismatches.total,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as results:
        results.write(json.dumps(line) + "\n")
