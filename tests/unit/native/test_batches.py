"""A batch's bookkeeping compiled (shared/native/src/batches.rs) against the Python it
replaced: where each partition starts, and which records are fresh, over random batches
(partitions interleaved, offsets repeated or out of order, some already applied)."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_health_core import add_own_uids, first_offsets, fresh, missing
from tests.records import Record

_records = st.lists(
    st.builds(
        Record,
        topic=st.sampled_from(["media", "signals"]),
        partition=st.integers(0, 2),
        offset=st.integers(0, 12),
        key=st.none(),
        value=st.none(),
    ),
    max_size=30,
)
_positions = st.dictionaries(
    st.tuples(st.sampled_from(["media", "signals"]), st.integers(0, 2)),
    st.integers(0, 12),
)


def _first_offsets(records: list[Record]) -> dict[tuple[str, int], int]:
    starts: dict[tuple[str, int], int] = {}
    for record in records:
        tp = (record.topic, record.partition)
        starts[tp] = min(starts.get(tp, record.offset), record.offset)
    return starts


def _fresh(
    records: list[Record],
    stored: dict[tuple[str, int], tuple[int, int]],
    next_offsets: dict[tuple[str, int], int],
    skipped: Counter[str],
) -> list[Record]:
    kept = []
    for record in records:
        key = (record.topic, record.partition)
        if record.offset < max(stored[key][0], next_offsets.get(key, 0)):
            skipped[record.topic] += 1
            continue
        kept.append(record)
        next_offsets[key] = record.offset + 1
    return kept


@given(records=_records)
def test_first_offsets_are_each_partitions_lowest(records: list[Record]) -> None:
    found = first_offsets(records)

    assert found == _first_offsets(records)
    assert list(found) == list(_first_offsets(records))  # first seen, first listed


@given(records=_records, stored=_positions, earlier=_positions)
def test_fresh_keeps_and_counts_what_the_python_did(
    records: list[Record],
    stored: dict[tuple[str, int], int],
    earlier: dict[tuple[str, int], int],
) -> None:
    positions = {(t, p): (stored.get((t, p), 0), 7) for t in ("media", "signals") for p in range(3)}
    compiled_next, python_next = dict(earlier), dict(earlier)
    compiled_skipped, python_skipped = Counter[str](), Counter[str]()

    kept = fresh(records, positions, compiled_next, compiled_skipped)

    assert kept == _fresh(records, positions, python_next, python_skipped)
    assert compiled_next == python_next
    assert compiled_skipped == python_skipped


def test_a_record_of_a_partition_without_a_position_is_an_error() -> None:
    with pytest.raises(KeyError) as raised:
        fresh([Record("media", 4, 0, None, None)], {}, {}, Counter())

    assert raised.value.args == (("media", 4),)


class _Window:
    """A window as the owner's helpers read it: its own uid."""

    def __init__(self, uid: str) -> None:
        self.uid = uid


_uids = st.sampled_from([f"u{n}" for n in range(6)])


@given(
    wanted=st.dictionaries(st.integers(0, 3), st.sets(_uids)),
    held=st.dictionaries(st.integers(0, 3), st.sets(_uids)),
)
def test_missing_is_what_the_cache_lacks_of_the_wanted_in_order(
    wanted: dict[int, set[str]], held: dict[int, set[str]]
) -> None:
    windows = {p: {uid: _Window(uid) for uid in uids} for p, uids in held.items()}

    found = missing(wanted, windows)

    assert found == [
        (p, uid) for p, uids in wanted.items() for uid in uids if uid not in windows.get(p, {})
    ]


@given(uids=st.lists(_uids), held=st.sets(_uids), before=st.sets(_uids))
def test_own_uids_are_added_as_the_windows_hold_them(
    uids: list[str], held: set[str], before: set[str]
) -> None:
    windows = {uid: _Window(uid) for uid in held}
    copies = ["".join(list(uid)) for uid in uids]  # equal strings, not the windows' own
    into = {"".join(list(uid)) for uid in before}

    add_own_uids(into, copies, windows)

    assert into == before | set(uids)
    for uid in into:
        if uid in windows and uid not in before:
            # The window's own string, not the copy that named it.
            assert any(uid is w.uid for w in windows.values())
