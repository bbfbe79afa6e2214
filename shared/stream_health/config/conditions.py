"""Load and validate `stream_conditions` (YAML) into the domain's ConditionSet."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from stream_health.config.durations import parse_duration_ms
from stream_health.domain.conditions import (
    Condition,
    ConditionSet,
    ReconnectCondition,
    StateCondition,
    Threshold,
)


class ConditionsError(ValueError):
    """The conditions file is missing, not YAML, or names an invalid key."""


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a period is a string such as 40s, 10m, 1h, 7d or PT1H")
    if isinstance(value, int):
        raise ValueError(f"{value} has no unit: write {value}s, {value}m, {value}h or {value}d")
    return parse_duration_ms(value)


PeriodMs = Annotated[int, BeforeValidator(_duration)]


class _ThresholdModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reconnects: int = Field(ge=1)
    period: PeriodMs
    clear_below: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _clear_below_at_most_reconnects(self) -> _ThresholdModel:
        if self.clear_below is not None and self.clear_below > self.reconnects:
            raise ValueError("clear_below must not exceed reconnects")
        return self

    def to_domain(self) -> Threshold:
        return Threshold(
            reconnects=self.reconnects,
            period_ms=self.period,
            clear_below=self.clear_below if self.clear_below is not None else self.reconnects,
        )


class _ReconnectModel(_ThresholdModel):
    increased: _ThresholdModel | None = None


class _StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    stream_state: str = Field(min_length=1)


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _to_domain(name: str, spec: _StateModel | _ReconnectModel) -> Condition:
    if isinstance(spec, _StateModel):
        return StateCondition(name=name, stream_state=spec.stream_state)
    return ReconnectCondition(
        name=name,
        normal=spec.to_domain(),
        increased=spec.increased.to_domain() if spec.increased else None,
    )


def _describe(error: ValidationError, prefix: tuple[str, ...]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in (*prefix, *item['loc']))}: {item['msg']}"
        for item in error.errors()
    )


def _parse_one(name: Any, spec: Any, source: str) -> Condition:
    key = f"stream_conditions.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConditionsError(f"{source}: {key}: a name is lower-case letters, digits and _")
    if not isinstance(spec, dict):
        raise ConditionsError(f"{source}: {key}: expected a mapping of settings")
    kind = _StateModel if "stream_state" in spec else _ReconnectModel
    try:
        model = kind.model_validate(spec)
    except ValidationError as exc:
        raise ConditionsError(f"{source}: {_describe(exc, ('stream_conditions', name))}") from None
    return _to_domain(name, model)


def parse_conditions(document: Any, *, source: str = "<conditions>") -> ConditionSet:
    """Validate a parsed YAML document holding `stream_conditions`."""
    raw = document.get("stream_conditions") if isinstance(document, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise ConditionsError(f"{source}: stream_conditions: expected a non-empty mapping")
    return ConditionSet(tuple(_parse_one(name, spec, source) for name, spec in raw.items()))


def load_conditions(path: Path | None) -> ConditionSet:
    """The conditions in `path`, or the shipped defaults when `path` is None."""
    if path is None:
        text = resources.files("stream_health.config").joinpath("defaults.yaml").read_text()
        source = "shipped defaults"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConditionsError(f"{path}: cannot read conditions file: {exc.strerror}") from None
        source = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConditionsError(f"{source}: not valid YAML: {exc}") from None
    return parse_conditions(document, source=source)
