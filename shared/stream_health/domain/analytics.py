"""Analytics streams (SPEC 2.3, 2.4): orchestrator statuses and which report is current.

An analytics stream's status comes from two sources: the orchestrator's job snapshots and
the callbacks the analytics platform posts. Whichever is newer decides; the rule is a
function of the two stamps only, so the result does not depend on the order they arrive in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A job uid as the orchestrator writes them (seed 003: a UUID); also a URL path segment.
JOB_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# The orchestrator's statuses; seed 003 serves the number.
STATUSES: dict[str, int] = {
    "WORKING": 1,
    "CREATED": 2,
    "UPDATED": 3,
    "PENDING": 4,
    "PREPARED": 5,
    "WAITING IMAGES": 6,
    "DOWN": 7,
    "TO REPLACE": 8,
    "PAUSE": 9,
    "UNPAUSE": 10,
    "IN_PAUSE": 11,
    "STOPPED": 12,
}
NAMES = {number: name for name, number in STATUSES.items()}


def status_number(status: int | float | str) -> int | None:
    """A status given by name (any case, `_` or space) or number, as its number; None if unknown."""
    if isinstance(status, bool):
        return None
    if isinstance(status, float):  # JSON's 7.0 is the integer 7
        return status_number(int(status)) if status.is_integer() else None
    if isinstance(status, int):
        return status if status in NAMES else None
    text = status.strip().upper()
    if text.isdigit():
        return status_number(int(text))
    for spelling in (text, text.replace("_", " "), text.replace(" ", "_")):
        if spelling in STATUSES:
            return STATUSES[spelling]
    return None


@dataclass(frozen=True, slots=True)
class Reported:
    """A status and when it was reported (ms since the epoch)."""

    status: int | None
    at_ms: int | None


def current(snapshot: Reported, callback: Reported) -> Reported:
    """The status to serve: the callback's when it is at least as new as the snapshot's."""
    if callback.at_ms is None:
        return snapshot
    if snapshot.at_ms is None or callback.at_ms >= snapshot.at_ms:
        return callback
    return snapshot
