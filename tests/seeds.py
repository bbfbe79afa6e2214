"""The vendor API documents (copied verbatim into tests/fixtures/seeds), read back as JSON.

Seed 000 prints its example response without braces and brackets; the indentation still
gives the nesting, so the tests compare against the document itself, not a transcription.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"
SEED_000 = SEEDS / "000_a9eba80b926e4371.txt"


def _value(text: str) -> Any:
    return orjson.loads(text.rstrip(","))


def _body_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == '"data": [')
    end = next(i for i, line in enumerate(lines) if line.startswith("401"))
    return [line for line in lines[start:end] if line.strip()]


def parse_indented(lines: list[str]) -> dict[str, Any]:
    """Nest `"key": value` lines by indentation; a list whose entries are keys holds objects."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(-1, root)]  # (indent of the line that opened it, container)
    for line in lines:
        indent = len(line) - len(line.lstrip())
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if isinstance(parent, list):  # its object's opening brace is not printed
            element: dict[str, Any] = {}
            parent.append(element)
            stack.append((indent - 1, element))
            parent = element
        key, _, rest = line.strip().partition(": ")
        name, rest = orjson.loads(key), rest.strip()
        if rest in ("{", "["):
            parent[name] = {} if rest == "{" else []
            stack.append((indent, parent[name]))
        else:
            parent[name] = _value(rest)
    return root


def seed_000() -> dict[str, Any]:
    """Seed 000's example 200 response: `data` (one item), `links`, `meta` (truncated links)."""
    return parse_indented(_body_lines(SEED_000.read_text()))


SEED_003 = SEEDS / "003_67dbdcc90f5d1322.txt"


def seed_003() -> dict[str, Any]:
    """Seed 003's example 200 object (printed whole, as JSON)."""
    lines = SEED_003.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    end = next(i for i, line in enumerate(lines) if line == "}" and i > start)
    document: dict[str, Any] = orjson.loads("\n".join(lines[start : end + 1]))
    return document
