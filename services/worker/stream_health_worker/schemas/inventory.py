"""Inventory snapshots (SPEC 2.2): the VMS's stream, camera and server objects, keyed by id."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stream_health.config.settings import TopicNames
from stream_health.credentials import mask_password
from stream_health_worker.schemas.errors import (
    EARLIEST_MS,
    LATEST_MS,
    OUT_OF_RANGE,
    Rejected,
    has_nul,
    reason,
)

MAX_ID = 2**63 - 1  # PostgreSQL bigint
_KEY = re.compile(rb"[1-9][0-9]{0,18}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class InventoryKind(StrEnum):
    """Which inventory topic a snapshot comes from."""

    STREAMS = "streams"
    CAMERAS = "cameras"
    SERVERS = "servers"


def inventory_kinds(topics: TopicNames) -> dict[str, InventoryKind]:
    """Each inventory topic's kind."""
    return {
        topics.inventory_streams: InventoryKind.STREAMS,
        topics.inventory_cameras: InventoryKind.CAMERAS,
        topics.inventory_servers: InventoryKind.SERVERS,
    }


def _utc(value: datetime) -> datetime:
    # The VMS writes "2022-06-22 12:25:05" with no zone: its clock is UTC.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST_MS <= value.timestamp() * 1000 < LATEST_MS:
        # A snapshot stamped in year 9999 could never be replaced by a newer one.
        raise PydanticCustomError("instant", OUT_OF_RANGE)
    return value


def _uuid(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise PydanticCustomError("uuid", "Input should be a UUID (8-4-4-4-12 hex digits)")
    return value.lower()


def _null_is_absent(default: bool) -> BeforeValidator:
    # PHP serialises an unset nullable column as null; the product reads that as absent.
    return BeforeValidator(lambda value: default if value is None else value)


def _or_null(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Kept for sorting only (the document is served as sent): a value of another shape
    # sorts as null rather than costing the whole snapshot.
    try:
        return handler(value)
    except ValidationError:
        return None


Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
SortNumber = Annotated[
    int | None, Field(strict=True, ge=-MAX_ID, le=MAX_ID), WrapValidator(_or_null)
]
SortDatetime = Annotated[UtcDatetime | None, WrapValidator(_or_null)]
Uuid = Annotated[str, Field(strict=True), AfterValidator(_uuid)]


class _Snapshot(BaseModel):
    """Fields the product reads are typed; every other field is kept as it came."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Id
    _document: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_document(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        snapshot = handler(data)
        if isinstance(data, dict) and isinstance(snapshot, _Snapshot):
            snapshot._document = dict(data)
        return snapshot

    @property
    def document(self) -> dict[str, Any]:
        """The object exactly as the VMS sent it, to be stored and served."""
        return self._document or self.model_dump(mode="json")


class StreamSnapshot(_Snapshot):
    """A stream: seed 000's `data` item without its joins, plus its servers' ids."""

    updated_at: UtcDatetime
    uuid: Uuid
    camera_id: Id | None = None
    server_id: Id | None = None
    sub_server_ids: list[Id] = Field(default_factory=list)
    is_enabled: Annotated[bool, _null_is_absent(True)] = True
    url: str | None = Field(default=None, repr=False)  # carries the camera password
    ip: str | None = None
    bitrate: SortNumber = None
    output_rate: SortNumber = None
    created_at: SortDatetime = None

    @property
    def url_masked(self) -> str | None:
        """The url as it may be shown and searched: its password replaced by `***`."""
        return None if self.url is None else mask_password(self.url)


class CameraSnapshot(_Snapshot):
    """A camera: seed 000's `camera`."""

    # Seed 000's camera has no updated_at: without one, the newest record on the topic wins.
    updated_at: UtcDatetime | None = None
    is_increased_reconnect: Annotated[bool, _null_is_absent(False)] = False
    name: str | None = None


class ServerSnapshot(_Snapshot):
    """A media server: seed 000's `server`, with its `extra` statistics."""

    updated_at: UtcDatetime
    domain: str = Field(min_length=1, max_length=253)
    is_stream_condition_management_enabled: bool | None = None

    @property
    def manages_conditions(self) -> bool:
        """Whether its streams may be in a condition (absent means yes)."""
        return self.is_stream_condition_management_enabled is not False


Snapshot = StreamSnapshot | CameraSnapshot | ServerSnapshot

_MODELS: dict[InventoryKind, type[Snapshot]] = {
    InventoryKind.STREAMS: StreamSnapshot,
    InventoryKind.CAMERAS: CameraSnapshot,
    InventoryKind.SERVERS: ServerSnapshot,
}


def _key_id(key: bytes | None) -> int:
    if key is None:
        raise Rejected("key: missing (the object's id)")
    if not _KEY.fullmatch(key) or int(key) > MAX_ID:
        raise Rejected("key: not an integer id")
    return int(key)


def document_of(value: bytes) -> dict[str, Any]:
    """A record's JSON object, or Rejected saying why it is not one."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise Rejected("value: not valid JSON") from None
    if not isinstance(document, dict):
        raise Rejected("value: not a JSON object")
    if has_nul(document):  # PostgreSQL cannot query a JSON \u0000
        raise Rejected("value: contains a \\u0000 character")
    return document


def parse_snapshot(
    kind: InventoryKind, key: bytes | None, value: bytes | None
) -> tuple[int, Snapshot | None]:
    """The object id and its snapshot (None for a tombstone); Rejected when invalid."""
    object_id = _key_id(key)
    if value is None:
        return object_id, None
    document = document_of(value)
    try:
        snapshot = _MODELS[kind].model_validate(document)
    except ValidationError as error:
        raise Rejected(reason(error)) from None
    if snapshot.id != object_id:
        raise Rejected(f"id: {snapshot.id} does not match the key {object_id}")
    return object_id, snapshot
