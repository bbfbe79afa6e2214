from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_health.domain.analytics import NAMES, STATUSES, Reported, current, status_number


@pytest.mark.parametrize(
    ("given_status", "number"),
    [
        ("DOWN", 7),
        ("down", 7),  # any case
        (" Down ", 7),
        ("WAITING IMAGES", 6),
        ("waiting_images", 6),  # `_` for the space
        ("IN_PAUSE", 11),
        ("in pause", 11),  # a space for the `_`
        (7, 7),
        (7.0, 7),  # JSON's 7.0 is 7
        ("12", 12),
        (13, None),  # no such number
        (0, None),
        (7.5, None),
        (True, None),  # a boolean is not a status
        ("BROKEN", None),
        ("", None),
    ],
)
def test_a_status_is_read_by_name_or_number(
    given_status: int | float | str, number: int | None
) -> None:
    assert status_number(given_status) == number


def test_every_name_and_number_of_the_table_reads_back() -> None:
    assert {status_number(name) for name in STATUSES} == set(NAMES)
    assert all(status_number(n) == n for n in NAMES)


@given(
    snapshot_ms=st.none() | st.integers(0, 10**6),
    callback_ms=st.none() | st.integers(0, 10**6),
)
def test_the_newer_report_wins_whichever_arrives_first(
    snapshot_ms: int | None, callback_ms: int | None
) -> None:
    snapshot, callback = Reported(1, snapshot_ms), Reported(7, callback_ms)

    served = current(snapshot, callback)

    stamps = [s for s in (snapshot_ms, callback_ms) if s is not None]
    assert served.at_ms == (max(stamps) if stamps else None)
    if callback_ms is not None and (snapshot_ms is None or callback_ms >= snapshot_ms):
        assert served is callback  # at an equal instant the callback, the later report, wins
    else:
        assert served is snapshot
