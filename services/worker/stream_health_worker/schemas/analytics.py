"""Orchestrator jobs (SPEC 2.3: seed 003's object) and callbacks (SPEC 2.4) on their topics."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stream_health.domain.analytics import JOB_UID, status_number
from stream_health_worker.schemas.errors import Rejected, reason
from stream_health_worker.schemas.inventory import UtcDatetime, Uuid, document_of

JobUid = Annotated[str, Field(pattern=JOB_UID.pattern)]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class JobSnapshot(BaseModel):
    """An analytics stream as the orchestrator publishes it; fields read are typed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    job_uid: JobUid
    stream_uid: Uuid  # the camera stream it analyses (inventory's uuid, media events' uid)
    status: int | None = Field(default=None, strict=True)
    updated_at: UtcDatetime

    @property
    def updated_ms(self) -> int:
        """`updated_at` in ms since the epoch."""
        return _ms(self.updated_at)


class Callback(BaseModel):
    """A callback as the api publishes it: the job, its status, and when the api took it."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    job_uid: JobUid = Field(alias="streamUid")
    status: int
    received_at: UtcDatetime

    @field_validator("status", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        number = status_number(value) if isinstance(value, int | float | str) else None
        if number is None:
            raise ValueError("not an orchestrator status (a name such as DOWN, or 1 to 12)")
        return number

    @property
    def received_ms(self) -> int:
        """`received_at` in ms since the epoch."""
        return _ms(self.received_at)


def _key(key: bytes | None) -> str:
    if key is None:
        raise Rejected("key: missing (the job uid)")
    try:
        text = key.decode()
    except UnicodeDecodeError:
        raise Rejected("key: not UTF-8") from None
    if not JOB_UID.fullmatch(text):
        raise Rejected("key: not a job uid")
    return text


def parse_job(key: bytes | None, value: bytes | None) -> tuple[str, JobSnapshot | None, str]:
    """(job uid, snapshot or None for a tombstone, the document as JSON text); Rejected."""
    job_uid = _key(key)
    if value is None:
        return job_uid, None, ""
    document = document_of(value)
    try:
        job = JobSnapshot.model_validate(document)
    except ValidationError as error:
        raise Rejected(reason(error)) from None
    if job.job_uid != job_uid:
        raise Rejected(f"job_uid: {job.job_uid!r} does not match the key")
    return job_uid, job, orjson.dumps(document).decode()


def parse_callback(key: bytes | None, value: bytes | None) -> Callback:
    """The callback in a record of the callbacks topic; Rejected when it is not one."""
    job_uid = _key(key)
    if value is None:
        raise Rejected("value: a callback cannot be null")
    try:
        callback = Callback.model_validate(document_of(value))
    except ValidationError as error:
        raise Rejected(reason(error)) from None
    if callback.job_uid != job_uid:
        raise Rejected(f"streamUid: {callback.job_uid!r} does not match the key")
    return callback


def callback_event_id(topic: str, partition: int, offset: int) -> int:
    """A callback's reconnection id: stable across redelivery, unique per record (63 bits)."""
    digest = hashlib.blake2b(f"{topic}/{partition}/{offset}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
