"""Structured JSON logs with stable event names; credentials are masked on the way out.

Our code logs a stable, dotted snake_case event (`worker.batch_failed`) with details in
`extra`. Libraries log free text: their line gets the event `log.unstructured` and the text
under `message`. Every string of every line, tracebacks included, passes `redact` first: the
code never passes secrets in, and the formatter catches what a library or an exception
message (a DSN, a stream url with its password, SQL parameters) might carry.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_health.credentials import redact

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
UNSTRUCTURED = "log.unstructured"
_MIN_SECRET_CHARS = 8  # shorter literals would mask ordinary words


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, then the record's extras."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= _MIN_SECRET_CHARS)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if EVENT_NAME.fullmatch(message):
            payload["event"] = message
        else:
            payload["event"] = UNSTRUCTURED
            payload["message"] = message
        payload.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(self._clean(payload)).decode()

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, secrets=self._secrets)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v) for v in value]
        return redact(str(value), secrets=self._secrets)


def configure_logging(level: str = "INFO", *, secrets: Iterable[str] = ()) -> None:
    """Send every logger's records to stderr as JSON lines, masking `secrets` verbatim."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets=secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
