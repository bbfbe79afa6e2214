from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_health.domain import window


def packed(*entries: tuple[int, int]) -> bytes:
    """A window holding `entries` as given (newest first, as the window keeps them)."""
    return b"".join(window.entry(at_ms, event_id) for at_ms, event_id in entries)


def entries(stamps: bytes) -> list[tuple[int, int]]:
    """The (time, id) of every entry held, newest first."""
    return [
        (int.from_bytes(stamps[i : i + 8], "big"), int.from_bytes(stamps[i + 8 : i + 16], "big"))
        for i in range(0, len(stamps), window.ENTRY_BYTES)
    ]


# --- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "since_ms", "expected"),
    [
        ([], 0, 0),  # an empty window counts nothing
        ([(30, 1), (20, 1), (10, 1)], 9, 3),  # every entry is after 9
        ([(30, 1), (20, 1), (10, 1)], 10, 2),  # strictly after: the entry at 10 is out
        ([(30, 1), (20, 1), (10, 1)], 29, 1),  # only the newest is after 29
        ([(30, 1), (20, 1), (10, 1)], 30, 0),  # nothing is after the newest
        ([(30, 1), (20, 1), (10, 1)], -1, 3),  # a window reaching before 1970 counts all
        ([(30, 1), (20, 1), (10, 1)], -500, 3),  # however far before
        ([(20, 9), (20, 0), (10, 5)], 19, 2),  # equal times with any ids count alike
        ([(21, 0), (20, 9)], 20, 1),  # id 0 at since + 1 is the lowest entry after since
        ([(0, 0)], -1, 1),  # the smallest possible entry is after -1
        ([(0, 0)], 0, 0),  # and not after 0
        ([(window.MAX_MS, window.MAX_ID)], window.MAX_MS - 1, 1),  # the largest entry
        ([(window.MAX_MS, window.MAX_ID)], window.MAX_MS, 0),  # nothing after the largest time
    ],
)
def test_count_after_counts_entries_stamped_strictly_after_the_instant(
    held: list[tuple[int, int]], since_ms: int, expected: int
) -> None:
    assert window.count_after(packed(*held), since_ms) == expected


@pytest.mark.parametrize(
    ("held", "item", "capacity", "expected", "duplicate"),
    [
        ([], (10, 1), 3, [(10, 1)], False),  # the first entry
        ([(10, 1)], (20, 2), 3, [(20, 2), (10, 1)], False),  # newer goes first
        ([(20, 2), (10, 1)], (15, 3), 3, [(20, 2), (15, 3), (10, 1)], False),  # late, in between
        ([(20, 2)], (20, 1), 3, [(20, 2), (20, 1)], False),  # same time: the higher id is newer
        ([(20, 2)], (20, 3), 3, [(20, 3), (20, 2)], False),  # same time, higher id goes first
        ([(20, 2), (10, 1)], (10, 1), 3, [(20, 2), (10, 1)], True),  # the same event again
        ([(20, 2), (10, 1)], (25, 1), 3, [(20, 2), (10, 1)], True),  # same id restamped (clamped)
        (
            [(30, 3), (20, 2), (10, 1)],
            (40, 4),
            3,
            [(40, 4), (30, 3), (20, 2)],
            False,
        ),  # full: oldest out
        ([(30, 3), (20, 2), (10, 1)], (15, 4), 3, [(30, 3), (20, 2), (15, 4)], False),  # full, late
        (
            [(30, 3), (20, 2), (10, 1)],
            (5, 4),
            3,
            [(30, 3), (20, 2), (10, 1)],
            False,
        ),  # too old to keep
        (
            [(30, 3), (20, 2), (10, 1)],
            (10, 0),
            3,
            [(30, 3), (20, 2), (10, 1)],
            False,
        ),  # same ms, lower id
        ([(30, 3)], (40, 4), 1, [(40, 4)], False),  # capacity 1 keeps only the newest
        ([], (40, 4), 0, [], False),  # capacity 0 keeps nothing
    ],
)
def test_insert_keeps_the_newest_entries_up_to_the_capacity(
    held: list[tuple[int, int]],
    item: tuple[int, int],
    capacity: int,
    expected: list[tuple[int, int]],
    duplicate: bool,
) -> None:
    stamps, found = window.insert(packed(*held), window.entry(*item), capacity=capacity)

    assert entries(stamps) == expected
    assert found is duplicate


def test_an_id_straddling_two_entries_is_not_taken_for_a_duplicate() -> None:
    # The bytes of id 0x00000005_00000001 appear across the first entry's id (..., 5) and the
    # second entry's time (1 << 32, ...): only whole id fields may count.
    straddling = 0x0000_0005_0000_0001
    held = packed((2 << 32, 5), (1 << 32, 9))
    assert held[12:20] == straddling.to_bytes(8, "big")

    stamps, found = window.insert(held, window.entry(3, straddling), capacity=3)

    assert not found
    assert entries(stamps) == [(2 << 32, 5), (1 << 32, 9), (3, straddling)]


@pytest.mark.parametrize(
    ("held", "until_ms", "expected"),
    [
        ([(30, 1), (20, 1), (10, 1)], 20, [(30, 1)]),  # at or before 20 goes
        ([(30, 1), (20, 1), (10, 1)], 19, [(30, 1), (20, 1)]),  # just before the entry at 20
        ([(30, 1), (20, 1), (10, 1)], 30, []),  # everything
        ([(30, 1), (20, 1), (10, 1)], -1, [(30, 1), (20, 1), (10, 1)]),  # nothing
    ],
)
def test_drop_until_forgets_everything_stamped_at_or_before_the_instant(
    held: list[tuple[int, int]], until_ms: int, expected: list[tuple[int, int]]
) -> None:
    assert entries(window.drop_until(packed(*held), until_ms)) == expected


def test_truncate_keeps_the_newest_entries() -> None:
    held = packed((30, 1), (20, 1), (10, 1))

    assert window.timestamps(window.truncate(held, capacity=2)) == [30, 20]
    assert window.truncate(held, capacity=5) == held
    assert window.truncate(held, capacity=0) == window.EMPTY


# --- properties ---------------------------------------------------------------------------

times_ms = st.one_of(st.integers(0, 40), st.integers(0, window.MAX_MS))
event_ids = st.one_of(st.integers(0, 5), st.integers(0, window.MAX_ID))
capacities = st.integers(0, 6)


@given(st.tuples(times_ms, event_ids), st.tuples(times_ms, event_ids))
def test_entries_compare_as_bytes_like_their_time_then_id(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    assert (window.entry(*a) < window.entry(*b)) == (a < b)
    assert (window.entry(*a) == window.entry(*b)) == (a == b)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Reconnections in arrival order, each event with its own id, some delivered again."""
    times = draw(st.lists(st.integers(0, 40), max_size=25))
    ids = draw(st.lists(event_ids, min_size=len(times), max_size=len(times), unique=True))
    events = list(zip(times, ids, strict=True))
    for _ in range(draw(st.integers(0, 5)) if events else 0):
        events.insert(draw(st.integers(0, len(events))), draw(st.sampled_from(events)))
    return events


@settings(max_examples=200)
@given(histories(), capacities, st.integers(-1, 45))
def test_a_window_keeps_the_newest_distinct_events_and_counts_like_the_full_history(
    history: list[tuple[int, int]], capacity: int, since_ms: int
) -> None:
    stamps, seen = window.EMPTY, set[tuple[int, int]]()
    for event in history:
        stamps, duplicate = window.insert(stamps, window.entry(*event), capacity=capacity)
        if duplicate:
            assert event in seen
        seen.add(event)

        kept = entries(stamps)
        assert kept == sorted(set(kept), reverse=True)  # newest first, each entry once
        assert kept == sorted(seen, reverse=True)[:capacity]  # the newest `capacity` seen
        true_count = sum(1 for at_ms, _ in seen if at_ms > since_ms)
        counted = window.count_after(stamps, since_ms)
        assert counted == sum(1 for at_ms, _ in kept if at_ms > since_ms)
        assert counted == min(true_count, capacity)  # exact while the true count fits


@settings(max_examples=200)
@given(histories(), capacities, st.lists(st.integers(0, 60), max_size=5))
def test_a_restamped_event_is_a_duplicate_while_its_id_is_held(
    history: list[tuple[int, int]], capacity: int, restamps: list[int]
) -> None:
    stamps = window.EMPTY
    for event in history:
        stamps, _ = window.insert(stamps, window.entry(*event), capacity=capacity)
    for index, at_ms in enumerate(restamps):
        if not history:
            break
        _, event_id = history[index % len(history)]
        held_ids = {held_id for _, held_id in entries(stamps)}

        stamps, duplicate = window.insert(stamps, window.entry(at_ms, event_id), capacity=capacity)

        assert duplicate == (event_id in held_ids)
        kept = entries(stamps)
        assert kept == sorted(set(kept), reverse=True)
        assert len(kept) <= capacity


@given(histories(), capacities, st.integers(-1, 45))
def test_drop_until_and_count_after_agree(
    history: list[tuple[int, int]], capacity: int, until_ms: int
) -> None:
    stamps = window.EMPTY
    for event in history:
        stamps, _ = window.insert(stamps, window.entry(*event), capacity=capacity)

    dropped = window.drop_until(stamps, until_ms)

    assert entries(dropped) == [e for e in entries(stamps) if e[0] > until_ms]
    assert window.size(dropped) == window.count_after(stamps, until_ms)
