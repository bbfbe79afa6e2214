"""The reconnect window: the most recent reconnections of one stream, packed and bounded.

To know whether `reconnects` reconnections fell within `period`, the `reconnects` most recent
timestamps suffice, so a window keeps at most `capacity` entries (the largest `reconnects`
configured). Each entry is 16 bytes, big-endian: the timestamp in ms, then the event's 64-bit
id. Big-endian bytes compare like the numbers they encode, so entries sort by (time, id) with
plain byte comparison, and the window is one `bytes` object, newest entry first.

Why the id: it identifies one event (two reconnections never share one), so a redelivered
event is found by its id among the entries and ignored, whatever its time: a timestamp too far
ahead is clamped to the processing instant, which differs between deliveries. If the first
delivery was evicted, `capacity` newer entries exist and a repeat with the same time is evicted
again; only a repeat whose time was clamped to a later instant can then count a second time.
"""

from __future__ import annotations

import struct

ENTRY_BYTES = 16
_TS_BYTES = 8
MAX_MS = (1 << 63) - 1
MAX_ID = (1 << 64) - 1

EMPTY = b""

# One C call per pack or read, no slice: these run for every event.
_ENTRY = struct.Struct(">QQ")
_STAMP = struct.Struct(">Q")


def entry(at_ms: int, event_id: int) -> bytes:
    """The packed entry for a reconnection at `at_ms` (>= 0) identified by `event_id`."""
    return _ENTRY.pack(at_ms, event_id)


def size(stamps: bytes) -> int:
    """How many entries the window holds."""
    return len(stamps) // ENTRY_BYTES


def stamp_ms(stamps: bytes, index: int) -> int:
    """The timestamp of the entry at `index` (0 is the newest)."""
    return int(_STAMP.unpack_from(stamps, index * ENTRY_BYTES)[0])


def timestamps(stamps: bytes) -> list[int]:
    """Every timestamp held, newest first."""
    return list(times(stamps))


_TIMES: dict[int, struct.Struct] = {}


def times(stamps: bytes) -> tuple[int, ...]:
    """Every timestamp held, newest first, read in one call (the ids skipped)."""
    count = len(stamps) // ENTRY_BYTES
    reader = _TIMES.get(count)
    if reader is None:
        reader = struct.Struct(">" + "Q8x" * count)
        if count <= 256:  # windows hold at most the largest `reconnects` configured
            _TIMES[count] = reader
    return reader.unpack(stamps)


def _position(stamps: bytes, item: bytes) -> tuple[int, bool]:
    """Where `item` belongs (newest first) and whether it is already there."""
    lo, hi = 0, size(stamps)
    while lo < hi:
        mid = (lo + hi) // 2
        current = stamps[mid * ENTRY_BYTES : (mid + 1) * ENTRY_BYTES]
        if current == item:
            return mid, True
        if current > item:
            lo = mid + 1
        else:
            hi = mid
    return lo, False


def _holds_id(stamps: bytes, event_id: bytes) -> bool:
    """Whether an entry carries the packed `event_id` (at any time)."""
    at = stamps.find(event_id, _TS_BYTES)
    while at != -1:
        if at % ENTRY_BYTES == _TS_BYTES:
            return True
        at = stamps.find(event_id, at + 1)
    return False


def insert(stamps: bytes, item: bytes, *, capacity: int) -> tuple[bytes, bool]:
    """The window with `item` added, and whether `item` (or its id) was already there.

    An item older than `capacity` newer entries is not kept (it could not change a count).
    """
    index, found = _position(stamps, item)
    if found or _holds_id(stamps, item[_TS_BYTES:]):
        return stamps, True
    if index >= capacity:
        return stamps, False
    at = index * ENTRY_BYTES
    grown = stamps[:at] + item + stamps[at:]
    return grown[: capacity * ENTRY_BYTES], False


def count_after(stamps: bytes, since_ms: int) -> int:
    """How many entries are stamped strictly after `since_ms`."""
    return count_times_after(times(stamps), since_ms)


def count_times_after(held: tuple[int, ...], since_ms: int) -> int:
    """How many of the timestamps `held` (newest first, as `times` reads them) are after
    `since_ms`."""
    count = 0
    for stamp in held:
        if stamp <= since_ms:
            break
        count += 1
    return count


def drop_until(stamps: bytes, until_ms: int) -> bytes:
    """The window without the entries stamped at or before `until_ms`."""
    return stamps[: count_after(stamps, until_ms) * ENTRY_BYTES]


def truncate(stamps: bytes, *, capacity: int) -> bytes:
    """The window cut to its `capacity` newest entries."""
    return stamps[: capacity * ENTRY_BYTES]
