"""Response models of the list endpoint, for the OpenAPI document (seed 000's shapes).

Routes serialise plain dicts with orjson; these models only describe them. Objects that
come from the VMS (stream, camera, server) are served as the VMS sent them: only the
fields the product validates or computes are typed, the rest are allowed as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _VmsObject(BaseModel):
    model_config = ConfigDict(extra="allow")


class Camera(_VmsObject):
    """Seed 000's `camera`, as the VMS's last snapshot has it."""

    id: int


class Server(_VmsObject):
    """Seed 000's `server`; `extra` is the latest pulse's statistics when one came."""

    id: int
    domain: str
    extra: Any = None


class StreamItem(_VmsObject):
    """One stream: its VMS fields (seed 000), joins, freshness and conditions."""

    id: int | None = Field(description="null while inventory does not know the stream")
    camera_id: int | None
    url: str | None = Field(description="its password shown as *** unless configured")
    ip: str | None
    uuid: str = Field(description="the media server's data.uid")
    reconnect_attempt: int | None = Field(description="the media server's latest counter")
    reconnect_total: int | None = Field(description="the media server's latest counter")
    reconnect_time: str | None = Field(
        description="the latest reconnection, UTC, e.g. 2022-06-22 12:25:05"
    )
    disconnections_count: int = Field(
        description="reconnections in the requested condition's window (no condition: the "
        "longest), as of the stream's last update; at most the largest configured reconnects"
    )
    camera: Camera | None
    server: Server | None
    sub_servers: list[Server]
    is_actual: bool = Field(
        description="false when the main server is silent for server_stale_after, or "
        "inventory does not know the stream"
    )
    conditions: list[str]


class Links(BaseModel):
    """Laravel's paginator links: full URLs keeping the other parameters."""

    first: str
    last: str
    prev: str | None
    next: str | None


class PageLink(BaseModel):
    """One entry of `meta.links`: previous, a page number or `...`, next."""

    url: str | None
    label: str
    active: bool


class Meta(BaseModel):
    """Laravel's length-aware paginator meta; `from` and `to` are null on an empty page."""

    model_config = ConfigDict(populate_by_name=True)

    current_page: int
    from_: int | None = Field(alias="from")
    last_page: int
    links: list[PageLink]
    path: str
    per_page: int
    to: int | None
    total: int


class StreamPage(BaseModel):
    """200: one page of streams in conditions."""

    data: list[StreamItem]
    links: Links
    meta: Meta


class Unauthenticated(BaseModel):
    """401: no valid bearer token."""

    message: str = Field(examples=["Unauthenticated."])


class ValidationFailed(BaseModel):
    """422 in Laravel's format: a summary and, per parameter, its messages."""

    message: str
    errors: dict[str, list[str]]


class AnalyticsStream(_VmsObject):
    """Seed 003's object as the orchestrator sent it; `status` and `updated_at` are the latest
    callback's when it is newer than the snapshot."""

    job_uid: str
    stream_uid: str = Field(description="the uuid of the camera stream it analyses")
    status: int | None = Field(description="the status number (1 WORKING ... 12 STOPPED)")


class NotFound(BaseModel):
    """404 in the shape of seed 003's service."""

    detail: str = Field(examples=["Stream not found"])


class CallbackAccepted(BaseModel):
    """201: the callback as published to orchestrator.callbacks (the status as its number)."""

    streamUid: str  # noqa: N815  (the orchestrator's field name)
    status: int
    received_at: str
