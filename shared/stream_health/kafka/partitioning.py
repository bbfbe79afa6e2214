"""Kafka's default partitioning of keyed records (murmur2 of the key), as Java clients do it.

aiokafka computes it in pure Python per record; the relay publishes a record per state
change, so it partitions them itself, with the compiled `partition_index`. `murmur2` here is
its reference model, checked against aiokafka's (and the compiled one against it) by
property tests.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from stream_health_core import partition_index

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}


def murmur2(data: bytes) -> int:
    """MurmurHash2 of `data` (org.apache.kafka.common.utils.Utils.murmur2), unsigned."""
    length = len(data)
    count = length // 4
    reader = _WORDS.get(count)
    if reader is None:
        reader = struct.Struct(f"<{count}I")
        if count <= 64:  # keys of up to 256 bytes (any key may reach the dead-letter topic)
            _WORDS[count] = reader
    h = _SEED ^ length
    for word in reader.unpack_from(data):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & ~3
    extra = length - tail
    if extra:
        if extra >= 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: Sequence[int]) -> int:
    """The partition the default partitioner picks for `key` among `partitions` (as listed)."""
    return partitions[partition_index(key, len(partitions))]
