"""Analytics streams (SPEC 4.2, seed 003) and the orchestrator's callbacks (SPEC 4.3)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from stream_health.db.analytics import load_job
from stream_health.domain.analytics import JOB_UID, STATUSES, Reported, current, status_number
from stream_health_api.auth import Authenticator
from stream_health_api.http import authenticated, json_response, read_body, unauthenticated
from stream_health_api.responses import (
    AnalyticsStream,
    CallbackAccepted,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)

log = logging.getLogger(__name__)
Publish = Callable[[str, bytes], Awaitable[None]]  # (job uid as the key, value): acked when done
MAX_BODY_BYTES = 16 * 1024


def iso_micros(at_ms: int) -> str:
    """Seed 003's timestamps: ISO 8601, microseconds, `Z`."""
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def served_job(row: Any) -> dict[str, Any]:
    """Seed 003's object: the snapshot as sent, with the newest status and `updated_at`."""
    job: dict[str, Any] = orjson.loads(row["doc"])
    snapshot = Reported(job.get("status"), row["snapshot_ms"])
    reported = current(snapshot, Reported(row["callback_status"], row["callback_ms"]))
    if reported is not snapshot and reported.at_ms is not None:
        job["status"] = reported.status
        job["updated_at"] = iso_micros(reported.at_ms)
    return job


def _callback_errors(body: Any) -> dict[str, list[str]]:
    if not isinstance(body, dict):
        return {"body": ["The body must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    job_uid = body.get("streamUid")
    if job_uid is None:
        errors["streamUid"] = ["The stream uid field is required."]
    elif not isinstance(job_uid, str) or not JOB_UID.fullmatch(job_uid):
        errors["streamUid"] = ["The stream uid field must be a job uid (letters, digits, .-_)."]
    status = body.get("status")
    if status is None:
        errors["status"] = ["The status field is required."]
    elif not isinstance(status, int | float | str) or status_number(status) is None:
        errors["status"] = ["The selected status is invalid."]
    return errors


def _allowed(request: Request, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    if request.client is None:
        return False
    try:
        address = ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in networks)


async def _body(request: Request) -> Any:
    raw = await read_body(request, limit_bytes=MAX_BODY_BYTES)
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def analytics_router(
    *,
    pool: Callable[[], Any],
    authenticator: Authenticator,
    publish: Publish,
    callback_allow: Sequence[IPv4Network | IPv6Network],
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> APIRouter:
    """The analytics stream check and the callback receiver."""
    router = APIRouter(tags=["analytics"])
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    read_responses: dict[int | str, dict[str, Any]] = {
        200: {"model": AnalyticsStream, "description": "The analytics stream (seed 003)"},
        401: {"model": Unauthenticated, "description": "No valid bearer token"},
        404: {"model": NotFound, "description": "No such job"},
    }

    async def check(request: Request, job_uid: str) -> Response:
        if not authenticated(authenticator, request):
            return unauthenticated()
        row = None
        if JOB_UID.fullmatch(job_uid):
            async with pool().acquire() as conn:
                row = await load_job(conn, job_uid=job_uid)
        if row is None:
            return json_response({"detail": "Stream not found"}, 404)
        return json_response(served_job(row))

    for path in ("/api/streams/{job_uid}/", "/api/streams/{job_uid}"):
        for method, suffix in (("GET", ""), ("POST", "_by_post")):
            name = f"check_analytics_stream{suffix}{'' if path.endswith('/') else '_no_slash'}"
            router.add_api_route(
                path,
                check,
                methods=[method],
                name=name,
                operation_id=name,
                responses=read_responses,
                openapi_extra={"security": security},
                summary="The analytics stream's current state (seed 003); ?format=json",
            )

    @router.post(
        "/api/v1/orchestrator/callback",
        status_code=201,
        responses={
            201: {"model": CallbackAccepted, "description": "Kafka acknowledged the callback"},
            403: {"description": "The caller's address is not allowed"},
            422: {"model": ValidationFailed, "description": "Not a callback"},
            503: {"description": "Kafka did not acknowledge: retry"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["streamUid", "status"],
                            "properties": {
                                "streamUid": {"type": "string", "pattern": f"^{JOB_UID.pattern}$"},
                                "status": {
                                    "oneOf": [
                                        {"type": "integer", "minimum": 1, "maximum": 12},
                                        {"type": "string", "enum": sorted(STATUSES)},
                                    ]
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def orchestrator_callback(request: Request) -> Response:
        """Publish the callback to orchestrator.callbacks; 201 once Kafka acknowledged it."""
        if not _allowed(request, callback_allow):
            return json_response({"message": "This source may not post callbacks."}, 403)
        body = await _body(request)
        errors = _callback_errors(body)
        if errors:
            first = next(iter(errors.values()))[0]
            return json_response({"message": first, "errors": errors}, 422)
        accepted = {
            "streamUid": body["streamUid"],
            "status": status_number(body["status"]),
            "received_at": iso_micros(clock_ms()),
        }
        try:
            await publish(body["streamUid"], orjson.dumps(accepted))
        except Exception as failure:  # Kafka did not take it: the caller retries
            log.warning("api.callback_not_published", extra={"error": type(failure).__name__})
            return json_response({"message": "The callback was not recorded; retry."}, 503)
        return json_response(accepted, 201)

    return router
