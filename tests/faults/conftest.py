"""The fault suite's own stack, workload and model, built once per session."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.faults.model import Expected, expect
from tests.faults.stack import FaultStack
from tests.faults.workload import Workload, build_workload

EVENTS = int(os.environ.get("STREAM_HEALTH_FAULT_EVENTS", "200000"))
STREAMS = int(os.environ.get("STREAM_HEALTH_FAULT_STREAMS", "2000"))
SEED = int(os.environ.get("STREAM_HEALTH_FAULT_SEED", "20261121"))


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[FaultStack]:
    """A broker and a database server the suite may crash, stopped at the end."""
    stack = FaultStack(ROOT / ".stack" / "faults")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def workload() -> Workload:
    """The history every scenario replays (timestamps in the hour before the session)."""
    return build_workload(
        streams=STREAMS, events=EVENTS, seed=SEED, now_ms=time.time_ns() // 1_000_000
    )


@pytest.fixture(scope="session")
def expected(workload: Workload) -> Expected:
    """What the workload must leave, by the brute-force model."""
    return expect(workload)
