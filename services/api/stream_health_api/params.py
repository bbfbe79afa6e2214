"""The list endpoint's parameters (SPEC 4.1), validated with Laravel's rules and messages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_health.db.listing import MAX_PAGE_ROWS
from stream_health.domain.stream import ANY_CONDITION

# sort parameter -> stream_list column (each has a (condition_id, column, stream_key) index)
SORTS = {
    "id": "stream_id",
    "camera_id": "camera_id",
    "reconnect_attempt": "reconnect_attempt",
    "reconnect_total": "reconnect_total",
    "reconnect_time": "reconnect_ms",
    "disconnections_count": "disconnections",
    "bitrate": "bitrate",
    "output_rate": "output_rate",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
DIRECTIONS = ("asc", "desc")
PARAMETERS = ("per_page", "page", "condition", "search", "ip", "sort", "dir", "domain")
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = MAX_PAGE_ROWS
MAX_PAGE = 1_000_000_000  # keeps (page - 1) * per_page far inside bigint
MAX_TEXT = 255
_INTEGER = re.compile(r"-?[0-9]{1,20}")


class InvalidParameters(Exception):  # noqa: N818  (named for what the caller sees)
    """Parameters that break a rule: parameter -> messages, in Laravel's words."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def message(self) -> str:
        """Laravel's summary: the first message, and how many more there are."""
        first = next(iter(self.errors.values()))[0]
        more = sum(len(messages) for messages in self.errors.values()) - 1
        if not more:
            return first
        return f"{first} (and {more} more error{'s' if more > 1 else ''})"


@dataclass(frozen=True, slots=True)
class ListParams:
    """A valid request for one page of the list."""

    per_page: int
    page: int
    condition: str  # a configured name, or ANY_CONDITION
    sort: str  # the sort parameter's name (a key of SORTS)
    descending: bool
    search: str | None
    ip: str | None
    domain: str | None
    given: tuple[tuple[str, str], ...]  # the known parameters as received, page excluded

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.per_page


def _label(name: str) -> str:
    return name.replace("_", " ")


def _integer(name: str, value: Any, low: int, high: int, errors: dict[str, list[str]]) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):  # a JSON 63.0 is an integer (to JSON Schema and Laravel)
        number = int(value) if value.is_integer() else None
    else:
        number = int(value.strip()) if _INTEGER.fullmatch(value.strip()) else None
    if number is None:
        errors[name] = [f"The {_label(name)} field must be an integer."]
        return low
    if not low <= number <= high:
        errors[name] = [f"The {_label(name)} field must be between {low} and {high}."]
        return low
    return number


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _text(name: str, value: Any, errors: dict[str, list[str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = [f"The {_label(name)} field must be a string."]
        return None
    if "\x00" in value or not _encodable(value):  # PostgreSQL text holds neither
        errors[name] = [f"The {_label(name)} field must be text without NUL or lone surrogates."]
        return None
    if len(value) > MAX_TEXT:
        errors[name] = [f"The {_label(name)} field must not be greater than {MAX_TEXT} characters."]
        return None
    return value


def _choice(name: str, value: Any, choices: Sequence[str], errors: dict[str, list[str]]) -> Any:
    text = _text(name, value, errors)
    if text is not None and text not in choices:
        errors[name] = [f"The selected {_label(name)} is invalid."]
        return None
    return text


def _present(raw: Mapping[str, Any]) -> dict[str, Any]:
    # Laravel turns empty strings into null, and null means "not given".
    return {k: raw[k] for k in PARAMETERS if k in raw and raw[k] is not None and raw[k] != ""}


def _given(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return tuple((k, text(v)) for k, v in raw.items() if k in PARAMETERS and k != "page")


def parse_params(raw: Mapping[str, Any], *, conditions: Sequence[str]) -> ListParams:
    """The request's parameters, or InvalidParameters naming each broken one."""
    values = _present(raw)
    errors: dict[str, list[str]] = {}
    per_page = _integer("per_page", values.get("per_page", 0), 0, MAX_PER_PAGE, errors)
    page = _integer("page", values.get("page", 1), 0, MAX_PAGE, errors)
    condition = _choice("condition", values.get("condition"), conditions, errors)
    sort = _choice("sort", values.get("sort"), tuple(SORTS), errors)
    direction = _choice("dir", values.get("dir"), DIRECTIONS, errors)
    search, ip, domain = (_text(k, values.get(k), errors) for k in ("search", "ip", "domain"))
    if errors:
        raise InvalidParameters({k: errors[k] for k in PARAMETERS if k in errors})
    return ListParams(
        per_page=per_page or DEFAULT_PER_PAGE,
        page=max(page, 1),  # Laravel's paginator reads a page below 1 as the first
        condition=condition or ANY_CONDITION,
        sort=sort or "id",
        descending=direction == "desc",
        search=search,
        ip=ip,
        domain=domain,
        given=_given({k: v for k, v in raw.items() if k in values}),
    )
