from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from stream_health_worker import __main__ as worker_main
from stream_health_worker import tuning


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the test process's collector as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


@pytest.mark.usefixtures("collector")
def test_the_worker_serves_with_start_up_frozen_the_collector_and_allocator_tuned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def serve(app: Any, **_: Any) -> None:  # instead of uvicorn: what holds when serving
        seen["app"] = app
        seen["thresholds"] = gc.get_threshold()
        seen["frozen"] = gc.get_freeze_count()
        seen["mapped"] = tuned

    tuned = False

    def tune() -> bool:
        nonlocal tuned
        tuned = True
        return True

    built = object()
    monkeypatch.setattr(worker_main, "build_app", lambda _settings: built)
    monkeypatch.setattr(worker_main, "configure_logging", lambda *_a, **_k: None)
    monkeypatch.setattr(uvicorn, "run", serve)
    monkeypatch.setattr(worker_main, "tune_allocator", tune)
    gc.unfreeze()

    worker_main.main()

    assert seen["app"] is built
    assert seen["thresholds"] == tuning.GC_THRESHOLDS
    assert seen["frozen"] > 0  # start-up's objects are out of the collector's walks
    assert seen["mapped"]
