import pytest

from stream_health.db.server_counts import ServerCount
from stream_health_worker.gauges import OTHER_SERVERS, UNKNOWN_SERVER, bounded_series

CONDITIONS = ("incorrect", "problematic", "disabled")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # one series per (condition, server) that has streams in it
        (
            [
                ServerCount("problematic", "ms1.vms.local", 4),
                ServerCount("incorrect", "ms1.vms.local", 9),
            ],
            {("problematic", "ms1.vms.local"): 4, ("incorrect", "ms1.vms.local"): 9},
        ),
        # streams inventory does not place on a server are counted apart
        (
            [ServerCount("problematic", None, 3), ServerCount("problematic", "", 1)],
            {("problematic", UNKNOWN_SERVER): 4},
        ),
        # past the limit, the servers with fewest streams are summed (ties: by name)
        (
            [
                ServerCount("problematic", "a", 5),
                ServerCount("problematic", "b", 7),
                ServerCount("problematic", "c", 5),
                ServerCount("problematic", "d", 1),
            ],
            {("problematic", "b"): 7, ("problematic", "a"): 5, ("problematic", OTHER_SERVERS): 6},
        ),
        # the pseudo-condition `*` and conditions no longer configured are not exported
        ([ServerCount("*", "a", 50), ServerCount("flapping", "a", 2)], {}),
    ],
)
def test_streams_per_server_are_bounded_per_condition(
    counts: list[ServerCount], expected: dict[tuple[str, str], int]
) -> None:
    assert bounded_series(counts, conditions=CONDITIONS, max_servers=2) == expected


def test_the_limit_applies_to_each_condition_on_its_own() -> None:
    counts = [ServerCount(c, f"ms{i}", 10 + i) for c in CONDITIONS for i in range(5)]

    series = bounded_series(counts, conditions=CONDITIONS, max_servers=3)

    assert len(series) == 3 * (3 + 1)
    assert series[("disabled", "ms4")] == 14
    assert series[("disabled", OTHER_SERVERS)] == 10 + 11
