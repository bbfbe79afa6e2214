"""Typed settings and the `stream_conditions` file."""

from stream_health.config.conditions import ConditionsError, load_conditions, parse_conditions
from stream_health.config.settings import Settings, TopicNames

__all__ = ["ConditionsError", "Settings", "TopicNames", "load_conditions", "parse_conditions"]
