"""`python -m stream_health_worker`: run the worker with settings from the environment."""

from __future__ import annotations

import ctypes
import gc
import platform

import uvicorn

from stream_health.config.settings import load_settings
from stream_health.logs import configure_logging
from stream_health_worker.app import build_app

# The collector's thresholds: a young collection after 100,000 net new container objects
# (Python's 700 is a few events' worth), an older one after 20 of those, a full one after
# 100 older ones and no sooner than Python's own rule allows (a quarter more long-lived
# objects since the last). A batch's domain work makes no cyclic garbage, and a consumed
# batch is freed when its handler returns (the decoder returns no body), so rarer
# collections keep nothing alive longer: peak RSS unchanged, the batches' Python 12% faster
# in process, whole runs 11% and 15% faster in two back-to-back pairs (bench/RESULTS.md,
# 2026-12-06 23:55).
GC_THRESHOLDS = (100_000, 20, 100)


def tune_collector() -> None:
    """Freeze what start-up built (never garbage: the collector stops walking it) and set
    the thresholds the worker runs with."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# glibc serves allocations of at least this size with their own mappings, returned to the
# system when freed. Its default starts there but rises to the size of each such block
# freed (up to 32 MiB), after which a batch's large buffers (fetched record batches, COPY
# data, the tables of growing dicts) come from the heap and leave it fragmented: fixed, the
# worker's peak RSS per stream held fell from 1,126 to 996 B (bench/RESULTS.md, 2026-12-07).
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD; False where the C library is another."""
    if platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def main() -> None:
    """Serve the worker (consumer plus /healthz, /readyz, /metrics)."""
    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values())
    app = build_app(settings)
    tune_collector()
    tune_allocator()
    uvicorn.run(
        app,
        host=settings.worker_host,
        port=settings.worker_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
