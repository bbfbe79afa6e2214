"""Durations as operators write them: `40s`, `10m`, `1h`, `7d`, or ISO 8601 (`PT1H`)."""

from __future__ import annotations

import re

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(text: str, *, allow_zero: bool = False) -> int:
    """Milliseconds in a duration string; ValueError naming the text when it is not one
    (or when it is zero, unless `allow_zero`)."""
    if match := _SHORT.match(text):
        value, unit = match.groups()
        millis = round(float(value) * _UNIT_MS[unit])
    elif (match := _ISO.match(text.strip().upper())) and text.strip().upper() not in {"P", "PT"}:
        parts = match.groupdict()
        millis = round(sum(float(parts[u] or 0) * _UNIT_MS[u] for u in ("w", "d", "h", "m", "s")))
    else:
        raise ValueError(f"{text!r} is not a duration (use 40s, 10m, 1h, 7d or ISO 8601 like PT1H)")
    if millis < 0 or (millis == 0 and not allow_zero):
        raise ValueError(f"{text!r} must be longer than zero")
    return millis
