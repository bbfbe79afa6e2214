"""Metric names: those the services export, and those a PromQL expression reads."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from stream_health.config.settings import Settings
from stream_health_api.app import build_app as build_api
from stream_health_worker.app import build_app as build_worker

# The sample names each metric type writes, by suffix (Prometheus text exposition).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "atan2", "inf", "nan"}  # fmt: skip


async def _scrape(app: FastAPI) -> str:
    # httpx's ASGI transport sends no lifespan events: nothing connects to Kafka or PostgreSQL.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/metrics")
    response.raise_for_status()
    return response.text


async def exported_metric_names() -> dict[str, str]:
    """Every sample name the worker and the api can export, mapped to its metric family."""
    settings = Settings()
    names = {}
    for app in (build_worker(settings), build_api(settings)):
        for family in text_string_to_metric_families(await _scrape(app)):
            for suffix in _SUFFIXES[family.type]:
                names[family.name + suffix] = family.name
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    text = _STRINGS.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}
