"""Process-wide tuning the worker starts with: the garbage collector and the allocator."""

from __future__ import annotations

import ctypes
import functools
import gc
import platform

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


# When the heap has no free room for it, glibc serves an allocation of at least this size
# with its own mapping, returned to the system when freed, instead of growing the heap. Its
# default starts there but rises to the size of each such block freed (up to 32 MiB), after
# which a batch's large buffers (fetched record batches, COPY data, the tables of growing
# dicts) grow the heap and leave it fragmented. Fixed (which also keeps the heap's trim
# threshold at its default), the worker's peak RSS per stream held fell from 1,126 to about
# 1,000 B (bench/RESULTS.md, 2026-12-07).
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (whose tuning calls these are), else None."""
    return ctypes.CDLL(None) if platform.libc_ver()[0] == "glibc" else None


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD; False where the C library is another."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


# How often, at most, a worker applying batches gives its heap's free pages back (`trim`).
TRIM_INTERVAL_S = 1.0


def trim_allocator() -> bool:
    """Give the free pages inside glibc's heap back to the system (`malloc_trim(0)`); False
    where the C library is another.

    A batch's medium-sized buffers (list and table arrays, values over pymalloc's 512 bytes,
    the compiled code's own) come and go between the blocks that stay; the heap cannot shrink
    past those, and its free room stays resident. In a benchmark-sized run that room was
    about a fifth of the worker's RSS (21 of 89 MiB over 99k windows); one trim took 3 ms.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
