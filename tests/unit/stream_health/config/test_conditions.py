from pathlib import Path

import pytest

from stream_health.config.conditions import ConditionsError, load_conditions, parse_conditions
from stream_health.domain.conditions import ReconnectCondition, StateCondition, Threshold


def test_shipped_defaults_are_the_specs_three_conditions() -> None:
    conditions = load_conditions(None)

    assert conditions.names == ("incorrect", "problematic", "disabled")
    incorrect, problematic, disabled = conditions.conditions
    assert incorrect == ReconnectCondition("incorrect", Threshold(1, 86_400_000, 1))
    assert problematic == ReconnectCondition(
        "problematic", Threshold(5, 3_600_000, 5), Threshold(15, 10_800_000, 15)
    )
    assert disabled == StateCondition("disabled", "disabled")
    assert conditions.longest_period_ms == 86_400_000


def test_any_names_and_hysteresis_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "conditions.yaml"
    path.write_text(
        "stream_conditions:\n"
        "  flaky: {reconnects: 3, period: 40s, clear_below: 1}\n"
        "  paused: {stream_state: paused}\n"
    )

    conditions = load_conditions(path)

    assert conditions.names == ("flaky", "paused")
    flaky = conditions.reconnect_conditions[0]
    assert flaky.normal == Threshold(reconnects=3, period_ms=40_000, clear_below=1)
    assert flaky.threshold(increased_reconnect=True) is flaky.normal  # no `increased` given


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"stream_conditions": {"p": {"reconnects": 5, "period": "abc"}}},
            "stream_conditions.p.period",
        ),
        (
            {"stream_conditions": {"p": {"reconnects": 0, "period": "1h"}}},
            "stream_conditions.p.reconnects",
        ),
        (
            {"stream_conditions": {"p": {"reconnects": "5", "period": "1h"}}},
            "stream_conditions.p.reconnects",
        ),
        (
            {"stream_conditions": {"p": {"reconnects": 5, "period": 60}}},
            "stream_conditions.p.period",
        ),
        (
            {"stream_conditions": {"p": {"reconnects": 5, "period": "1h", "clear_below": 6}}},
            "stream_conditions.p: Value error, clear_below must not exceed reconnects",
        ),
        (
            {
                "stream_conditions": {
                    "p": {"reconnects": 5, "period": "1h", "increased": {"period": "3h"}}
                }
            },
            "stream_conditions.p.increased.reconnects",
        ),
        ({"stream_conditions": {"p": {"reconnects": 5}}}, "stream_conditions.p.period"),
        ({"stream_conditions": {"d": {"stream_state": ""}}}, "stream_conditions.d.stream_state"),
        (
            {"stream_conditions": {"d": {"stream_state": "x", "typo": 1}}},
            "stream_conditions.d.typo",
        ),
        ({"stream_conditions": {"Bad Name": {"stream_state": "x"}}}, "stream_conditions.Bad Name"),
        ({"stream_conditions": {"p": "often"}}, "stream_conditions.p"),
        ({"stream_conditions": {}}, "stream_conditions"),
        ({"conditions": {}}, "stream_conditions"),
        (["not", "a", "mapping"], "stream_conditions"),
    ],
)
def test_invalid_conditions_name_the_offending_key(document: object, message: str) -> None:
    with pytest.raises(ConditionsError) as caught:
        parse_conditions(document, source="test.yaml")

    assert str(caught.value).startswith("test.yaml: ")
    assert message in str(caught.value)


def test_a_file_that_is_not_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("stream_conditions: {incorrect: [\n")

    with pytest.raises(ConditionsError, match="not valid YAML"):
        load_conditions(path)


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConditionsError, match=r"missing\.yaml: cannot read"):
        load_conditions(tmp_path / "missing.yaml")
