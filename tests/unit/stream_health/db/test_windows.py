from stream_health.db.windows import COLUMNS, from_row, to_row
from stream_health.domain import window
from stream_health.domain.stream import StreamFacts, StreamWindow


def _stored(stream: StreamWindow) -> dict[str, object]:
    """The row PostgreSQL gives back for `stream` (fresh objects, as a driver decodes them)."""
    row = dict(zip(COLUMNS, to_row(stream, partition=3, drain_at_ms=None), strict=True))
    return {
        name: list(value) if isinstance(value, list) else value for name, value in row.items()
    } | {"server_state": "".join(["disab", "led"])}


def test_a_loaded_window_is_the_stored_one() -> None:
    stream = StreamWindow(
        "u-1",
        stamps=window.entry(1_000, 7),
        last_reconnect_ms=1_000,
        server_state="disabled",
        server_state_version=5,
        reconnect_attempt=2,
        reconnect_total=9,
        counters_version=4,
        facts=StreamFacts(stream_id=1, camera_id=2, server_id=3, increased=True),
        conditions=frozenset({"disabled", "incorrect"}),
        seq=6,
    )

    assert from_row(_stored(stream)) == stream


def test_loaded_windows_share_their_set_of_conditions_and_their_state() -> None:
    # A frozenset takes ~200 B: a restarted worker loading 100k windows keeps a few of them.
    held = frozenset({"problematic", "disabled"})
    loaded = [
        from_row(_stored(StreamWindow(f"u-{i}", server_state="disabled", conditions=held)))
        for i in range(2)
    ]

    assert loaded[0].conditions == held
    assert loaded[0].conditions is loaded[1].conditions
    assert loaded[0].server_state is loaded[1].server_state
