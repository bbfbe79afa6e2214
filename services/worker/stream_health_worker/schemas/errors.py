"""The one error a wire schema raises: the record is rejected, with a reason for the DLQ."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from pydantic import ValidationError

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# What a number or an instant on the wire may be. Outside, a record is rejected rather than
# stored (PostgreSQL's bigint) or clamped: a clock in year 1 or 9999 is a broken clock.
MAX_INT = 2**63 - 1
EARLIEST_MS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
LATEST_MS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)
OUT_OF_RANGE = "outside 2000-01-01..2099-12-31 (UTC)"


def check_instant(at_ms: int, field: str) -> int:
    """`at_ms` when it is a plausible instant; Rejected naming `field` otherwise."""
    if not EARLIEST_MS <= at_ms < LATEST_MS:
        raise Rejected(f"{field}: {OUT_OF_RANGE}")
    return at_ms


class Rejected(ValueError):  # noqa: N818 - a verdict on a record, raised and caught at the edge
    """An input record that cannot be parsed or validated; `reason` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reason(error: ValidationError, prefix: str = "") -> str:
    """`field.path: message` of a validation error's first problem."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{prefix}{where}: {first['msg']}"


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL cannot store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def guarded(parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a parser; an error other than Rejected also rejects the record.

    A parser's bug must cost one record (dead-lettered, logged), never stop its partition:
    the batch would fail on it again and again.
    """
    try:
        return parse(*args, **kwargs)
    except Rejected:
        raise
    except Exception as error:
        log.exception("worker.parser_failed", extra={"parser": parse.__name__})
        raise Rejected(f"value: could not be read ({type(error).__name__})") from None
