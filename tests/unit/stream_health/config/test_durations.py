import pytest

from stream_health.config.durations import parse_duration_ms


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("40s", 40_000),  # seconds, as in the SPEC
        ("10m", 600_000),  # minutes
        ("1h", 3_600_000),  # hours
        ("7d", 604_800_000),  # days
        ("2w", 1_209_600_000),  # weeks
        ("250ms", 250),  # milliseconds for fast tests
        ("1.5h", 5_400_000),  # fractions
        (" 3h ", 10_800_000),  # surrounding blanks are tolerated
        ("PT1H", 3_600_000),  # ISO 8601 time part
        ("PT1H30M", 5_400_000),  # ISO 8601 combined
        ("P1D", 86_400_000),  # ISO 8601 date part
        ("P1DT2H", 93_600_000),  # ISO 8601 date and time
        ("pt15s", 15_000),  # ISO 8601 is case-insensitive
    ],
)
def test_durations_parse_to_milliseconds(text: str, expected_ms: int) -> None:
    assert parse_duration_ms(text) == expected_ms


@pytest.mark.parametrize("text", ["", "abc", "10", "10x", "-5m", "0s", "PT", "P", "PT0S", "1h30"])
def test_invalid_durations_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration_ms(text)
