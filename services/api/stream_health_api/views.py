"""Seed 000's `data` items, assembled from a stream's stored documents and its health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_health.credentials import mask_password

# The stream fields of seed 000, in its order: an unknown stream shows them as null.
STREAM_FIELDS = (
    "id",
    "type",
    "camera_id",
    "status",
    "url",
    "bitrate",
    "resolution",
    "output_rate",
    "ip",
    "uuid",
    "sound",
    "streams_count",
    "created_at",
    "updated_at",
    "is_preview_from_server",
    "is_archive_from_server",
    "is_enabled",
    "source",
    "is_sound_enabled",
)
_INVENTORY_ONLY = ("server_id", "sub_server_ids")  # in the snapshot, not in the item
COMPUTED = (
    "reconnect_attempt",
    "reconnect_total",
    "reconnect_time",
    "disconnections_count",
    "camera",
    "server",
    "sub_servers",
    "is_actual",
    "conditions",
)


@dataclass(frozen=True, slots=True)
class Presentation:
    """How items are shown: condition order, credentials, when a server is stale."""

    condition_names: Sequence[str]
    expose_credentials: bool
    fresh_after_ms: int  # a main server last heard from before this is not actual


def vms_time(at_ms: int | None) -> str | None:
    """Milliseconds since the epoch in the VMS's format ("2022-06-22 12:25:05", UTC)."""
    if at_ms is None:
        return None
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def sub_server_ids(detail: Mapping[str, Any]) -> list[int]:
    """The sub-server ids a stream's stored snapshot names."""
    if detail["stream"] is None:
        return []
    ids = orjson.loads(detail["stream"]).get("sub_server_ids") or []
    return [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]


def _stream_fields(uid: str, document: str | None, show: Presentation) -> dict[str, Any]:
    # Seed 000's fields always, in its order (null when the VMS did not send one), then any
    # further field the VMS sent.
    sent: dict[str, Any] = {} if document is None else orjson.loads(document)
    fields = {name: sent.get(name) for name in STREAM_FIELDS}
    fields.update((k, v) for k, v in sent.items() if k not in _INVENTORY_ONLY)
    fields["uuid"] = uid
    url = fields.get("url")
    if isinstance(url, str) and not show.expose_credentials:
        fields["url"] = mask_password(url)
    for name in COMPUTED:
        fields.pop(name, None)
    return fields


def _server(detail: Mapping[str, Any]) -> dict[str, Any] | None:
    if detail["server"] is None:
        return None
    server: dict[str, Any] = orjson.loads(detail["server"])
    if detail["server_extra"] is not None:  # the latest pulse's statistics are the freshest
        server["extra"] = orjson.loads(detail["server_extra"])
    return server


def _conditions(stored: Iterable[str], names: Sequence[str]) -> list[str]:
    held = set(stored)
    return [n for n in names if n in held] + sorted(held - set(names))


def stream_item(
    uid: str,
    disconnections: int,
    detail: Mapping[str, Any],
    servers: Mapping[int, str],
    show: Presentation,
) -> dict[str, Any]:
    """One `data` item: the stream's fields, its joins, `is_actual` and its conditions."""
    item = _stream_fields(uid, detail["stream"], show)
    seen_ms = detail["server_seen_ms"]
    item["reconnect_attempt"] = detail["reconnect_attempt"]
    item["reconnect_total"] = detail["reconnect_total"]
    item["reconnect_time"] = vms_time(detail["last_reconnect_ms"])
    item["disconnections_count"] = disconnections
    item["camera"] = None if detail["camera"] is None else orjson.loads(detail["camera"])
    item["server"] = _server(detail)
    item["sub_servers"] = [orjson.loads(servers[i]) for i in sub_server_ids(detail) if i in servers]
    item["is_actual"] = (
        detail["stream"] is not None
        and item["server"] is not None
        and seen_ms is not None
        and seen_ms >= show.fresh_after_ms
    )
    item["conditions"] = _conditions(detail["conditions"], show.condition_names)
    return item
