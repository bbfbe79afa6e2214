import pytest

from stream_health.domain.conditions import (
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)


def test_increased_thresholds_apply_only_to_increased_reconnect_cameras() -> None:
    normal, increased = Threshold(5, 3_600_000, 5), Threshold(15, 10_800_000, 10)
    condition = ReconnectCondition("problematic", normal, increased)

    assert condition.threshold(increased_reconnect=False) is normal
    assert condition.threshold(increased_reconnect=True) is increased
    assert condition.longest_period_ms == 10_800_000
    assert condition.most_reconnects == 15


@pytest.mark.parametrize(
    ("reconnects", "period_ms", "clear_below"),
    [
        (0, 1_000, 1),  # no reconnects needed makes every stream problematic
        (3, 0, 3),  # an empty window
        (3, 1_000, 4),  # clear_below above the entry threshold
        (3, 1_000, 0),  # a stream could never leave
    ],
)
def test_thresholds_refuse_impossible_rules(
    reconnects: int, period_ms: int, clear_below: int
) -> None:
    with pytest.raises(ValueError, match="must"):
        Threshold(reconnects, period_ms, clear_below)


def test_condition_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        ConditionSet((StateCondition("x", "disabled"), StateCondition("x", "paused")))


def test_a_set_without_reconnect_conditions_has_no_window() -> None:
    assert ConditionSet((StateCondition("disabled", "disabled"),)).longest_period_ms == 0
