import pytest

from stream_health.db.outbox import backlog_rows


@pytest.mark.parametrize(
    ("counted", "first_id", "last_id", "expected"),
    [
        (0, None, None, 0),  # empty
        (3, 41, 43, 3),  # under the cap: the count, exact
        (7, 1, 90, 7),  # under the cap with holes (rolled-back batches): still the count
        (10, 101, 110, 10),  # at the cap, dense ids: the range is the count
        (10, 101, 5_000, 4_900),  # at the cap: the id range (an upper bound)
        (10, 5, 9, 10),  # a range shorter than what was counted cannot be: the count wins
    ],
)
def test_the_backlog_is_counted_up_to_the_cap_then_read_from_the_id_range(
    counted: int, first_id: int | None, last_id: int | None, expected: int
) -> None:
    assert backlog_rows(counted=counted, cap=10, first_id=first_id, last_id=last_id) == expected
