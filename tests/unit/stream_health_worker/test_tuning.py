"""The allocator's tuning, observed in processes of their own (a long test session's heap may
hold free room a large buffer is served from, mapped or not)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Three 16 MiB buffers in turn, each freed: which of them glibc gave their own mapping
# (mallinfo2's hblkhd: bytes in mapped blocks).
_PROBE = """
import ctypes, sys
from stream_health_worker.tuning import tune_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert tune_allocator()
size = 16 << 20
mapped = []
for _ in range(3):
    before = libc.mallinfo2().hblkhd
    buffer = bytearray(size)
    mapped.append(libc.mallinfo2().hblkhd - before >= size)
    del buffer
print(mapped)
"""


def _mapped(mode: str) -> str:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return probe.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_large_buffers_keep_their_own_mappings_once_the_allocator_is_tuned() -> None:
    assert _mapped("tuned") == "[True, True, True]"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_untuned_glibc_serves_the_next_large_buffer_from_the_heap() -> None:
    # Why the worker tunes it: the first buffer's free raises glibc's threshold above it.
    assert _mapped("untuned") == "[True, False, False]"


# 40 MiB of 16 KiB buffers (over pymalloc's limit, under the mmap threshold: glibc's heap),
# each followed by a small one that stays; the 16 KiB ones freed: how much RSS a trim (or
# nothing) gives back, in MiB.
_TRIM_PROBE = """
import sys
from stream_health_worker.tuning import trim_allocator, tune_allocator

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096

assert tune_allocator()
kept, freed = [], []
for _ in range(2_500):
    freed.append(bytearray(16384))
    kept.append(bytearray(600))
del freed
before = rss()
if sys.argv[1] == "trim":
    assert trim_allocator()
print((before - rss()) >> 20)
"""


def _returned_mib(mode: str) -> int:
    probe = subprocess.run(
        [sys.executable, "-c", _TRIM_PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(probe.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_a_trim_gives_the_free_room_between_kept_blocks_back() -> None:
    assert _returned_mib("trim") >= 25


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_without_a_trim_the_free_room_between_kept_blocks_stays_resident() -> None:
    assert _returned_mib("keep") <= 2
