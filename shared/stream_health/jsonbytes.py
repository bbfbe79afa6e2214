"""JSON to bytes for values that are kept: orjson's output, copied to its length.

orjson (3.12 and later) returns its working buffer itself as the bytes object: at least
4 KiB, more for larger documents (a 3 KB document held ~32 KB), however short the JSON. A
value used once and dropped does not mind; one that is kept (a batch's outgoing records
until they are stored, a cached page, a cached document) holds all of it. `dumps` copies
the JSON into a bytes object of its own length, which costs a copy of the JSON's bytes.
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """`orjson.dumps(value)`, in a bytes object no larger than the JSON."""
    return bytes(memoryview(orjson.dumps(value)))
