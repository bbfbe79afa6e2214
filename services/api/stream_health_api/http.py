"""What every route shares: JSON responses, Laravel's 401, bounded request bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request, Response

from stream_health_api.auth import Authenticator

JSON = "application/json"


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def authenticated(authenticator: Authenticator, request: Request) -> bool:
    """Whether the request carries a valid bearer token."""
    return authenticator.authenticate(request.headers.get("authorization")) is not None


def unauthenticated() -> Response:
    """Laravel's 401."""
    return json_response(
        {"message": "Unauthenticated."}, 401, headers={"WWW-Authenticate": "Bearer"}
    )


async def read_body(request: Request, *, limit_bytes: int) -> bytes | None:
    """The request body, or None as soon as it grows past `limit_bytes`."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
