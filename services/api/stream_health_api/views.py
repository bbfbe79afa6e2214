"""Seed 000's `data` items, assembled from a stream's stored documents and its health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from stream_health import jsonbytes
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


_EPOCH = datetime(1970, 1, 1)  # naive: UTC, and isoformat then writes no offset


def vms_time(at_ms: int | None) -> str | None:
    """Milliseconds since the epoch in the VMS's format ("2022-06-22 12:25:05", UTC)."""
    if at_ms is None:
        return None
    # isoformat, not strftime (which parses its format on every call): the fraction dropped.
    return (_EPOCH + timedelta(milliseconds=at_ms)).isoformat(" ", "seconds")


def sub_server_ids(stream: Mapping[str, Any]) -> list[int]:
    """The sub-server ids a stream's stored snapshot names."""
    ids = stream.get("sub_server_ids") or []
    return [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]


def stream_document(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The stream's stored snapshot ({} while inventory does not know it)."""
    document = detail["stream"]
    return {} if document is None else orjson.loads(document)


_SEED_ORDER = dict.fromkeys(STREAM_FIELDS)  # every field null, in seed 000's order
_NOT_SHOWN = (*_INVENTORY_ONLY, *COMPUTED)


def _stream_fields(uid: str, sent: Mapping[str, Any], show: Presentation) -> dict[str, Any]:
    # Seed 000's fields always, in its order (null when the VMS did not send one), then any
    # further field the VMS sent. Updating a copy of the null template keeps each seed field
    # where the template has it and appends the others in the VMS's order, all in C.
    fields = _SEED_ORDER.copy()
    fields.update(sent)
    for name in _NOT_SHOWN:
        if name in fields:
            del fields[name]
    fields["uuid"] = uid
    url = fields["url"]
    # A password is only ever before an '@': most urls have none and skip the pattern.
    if isinstance(url, str) and "@" in url and not show.expose_credentials:
        fields["url"] = mask_password(url)
    return fields


# Server documents built, kept across pages: a few hundred servers show under every page.
SERVERS_KEPT = 2048


class BuiltServers:
    """Server documents as served, kept by the stored texts they are built from.

    A server's document with its `extra` (the latest pulse's statistics) is built by parsing
    and writing JSON, about 10 µs, and a page shows about as many servers as streams. Keyed by
    the texts themselves, an entry is never stale: a changed document or a new pulse is a new
    key, and the oldest entries go first once `kept` are held (a few KiB each).
    """

    def __init__(self, kept: int = SERVERS_KEPT) -> None:
        self._kept = kept
        self._built: dict[tuple[str, str | None], orjson.Fragment] = {}

    def __len__(self) -> int:
        return len(self._built)

    def build(self, document: str, extra: str | None) -> orjson.Fragment:
        """The server's document; its `extra` is the latest pulse's statistics when one came."""
        key = (document, extra)
        built = self._built.get(key)
        if built is None:
            if extra is None:
                built = orjson.Fragment(document)
            else:
                server = orjson.loads(document)
                server["extra"] = orjson.Fragment(extra)
                built = orjson.Fragment(jsonbytes.dumps(server))
            if len(self._built) >= self._kept:
                del self._built[next(iter(self._built))]  # the oldest
            self._built[key] = built
        return built


class Documents:
    """The servers of one page, each embedded as JSON text built once however often it shows."""

    def __init__(
        self, servers: Mapping[int, tuple[str, str | None]], built: BuiltServers | None = None
    ) -> None:
        self._stored = servers
        self._built = BuiltServers() if built is None else built

    def server(self, server_id: int | None) -> orjson.Fragment | None:
        """The server's document; its `extra` is the latest pulse's statistics when one came."""
        if server_id is None:
            return None
        stored = self._stored.get(server_id)
        return None if stored is None else self._built.build(*stored)

    def sub_servers(self, ids: Iterable[int]) -> list[orjson.Fragment]:
        """The documents of the sub-servers inventory knows."""
        return [built for i in ids if (built := self.server(i)) is not None]


def _conditions(stored: Iterable[str], names: Sequence[str]) -> list[str]:
    held = set(stored)
    return [n for n in names if n in held] + sorted(held - set(names))


def stream_item(
    detail: Mapping[str, Any], sent: Mapping[str, Any], documents: Documents, show: Presentation
) -> dict[str, Any]:
    """One `data` item from a page row and its stream document (`stream_document(detail)`)."""
    item = _stream_fields(detail["uid"], sent, show)
    seen_ms = detail["server_seen_ms"]
    item["reconnect_attempt"] = detail["reconnect_attempt"]
    item["reconnect_total"] = detail["reconnect_total"]
    item["reconnect_time"] = vms_time(detail["last_reconnect_ms"])
    item["disconnections_count"] = detail["disconnections"]
    camera = detail["camera"]
    item["camera"] = None if camera is None else orjson.Fragment(camera)
    item["server"] = documents.server(detail["server_id"])
    item["sub_servers"] = documents.sub_servers(sub_server_ids(sent))
    item["is_actual"] = (
        bool(sent)
        and item["server"] is not None
        and seen_ms is not None
        and seen_ms >= show.fresh_after_ms
    )
    item["conditions"] = _conditions(detail["conditions"], show.condition_names)
    return item
