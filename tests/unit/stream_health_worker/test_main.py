from __future__ import annotations

import ctypes
import gc
import platform
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from stream_health_worker import __main__ as worker_main


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
    assert seen["thresholds"] == worker_main.GC_THRESHOLDS
    assert seen["frozen"] > 0  # start-up's objects are out of the collector's walks
    assert seen["mapped"]


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes in blocks with their own mappings
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mapped_bytes() -> int:
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().hblkhd)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_large_buffers_keep_their_own_mappings_after_the_allocator_is_tuned() -> None:
    # Untuned, glibc raises its threshold to the size of a mapped block freed, and the next
    # buffer of that size comes from the heap; tuned, every one is mapped (and unmapped).
    assert worker_main.tune_allocator()
    size = 4 * 1024 * 1024
    for _ in range(3):
        before = _mapped_bytes()
        buffer = bytearray(size)
        assert _mapped_bytes() - before >= size
        del buffer
