"""Whether STREAM_HEALTH_* variables name real settings (pydantic ignores unknown ones)."""

from __future__ import annotations

import argparse

from pydantic import BaseModel

from stream_health.config.settings import Settings
from stream_health_cli.main import build_parser

PREFIX = "STREAM_HEALTH_"


def unknown_settings(names: list[str]) -> list[str]:
    """The variables among `names` that no setting reads (a typo is silently ignored)."""
    unknown = []
    for name in names:
        if not name.startswith(PREFIX):
            continue
        model: type[BaseModel] = Settings
        parts = name.removeprefix(PREFIX).lower().split("__")
        for depth, part in enumerate(parts):
            field = model.model_fields.get(part)
            if field is None:
                unknown.append(name)
                break
            nested = field.annotation
            if depth < len(parts) - 1:
                if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                    unknown.append(name)
                    break
                model = nested
    return unknown


def cli_commands() -> set[str]:
    """The `stream-health` subcommands."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("stream-health has no subcommands")
