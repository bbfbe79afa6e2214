from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import orjson

from stream_health.jsonbytes import dumps

DOCUMENT = {"event_id": "0c4f6b1e-8f3a-5d59-9a43-6b1f2f0d7c11", "conditions": ["incorrect"]}


def _held_per_value(make: Callable[[], bytes]) -> float:
    """The memory each of 200 results of `make()` holds while kept (tracemalloc's count)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make() for _ in range(200)]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    return held


def test_a_kept_value_holds_about_its_own_length() -> None:
    encoded = dumps(DOCUMENT)

    assert encoded == orjson.dumps(DOCUMENT)
    # The bytes object's header plus the JSON (and a list slot), not orjson's buffer.
    assert _held_per_value(lambda: dumps(DOCUMENT)) < len(encoded) + 64


def test_orjson_alone_holds_its_buffer_which_is_why_this_exists() -> None:
    # If a later orjson sizes its output to the JSON, `dumps` is one copy too many.
    assert _held_per_value(lambda: orjson.dumps(DOCUMENT)) > 4 * len(dumps(DOCUMENT))
