"""The one error a wire schema raises: the record is rejected, with a reason for the DLQ."""

from __future__ import annotations

from pydantic import ValidationError


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
