"""What every route shares: JSON responses, Laravel's 401, bounded request bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class RequestCounter:
    """Counts HTTP requests by route template and status: plain ASGI, so a request costs a
    wrapped `send`, not the task and streams of a `BaseHTTPMiddleware`.

    A request the app fails with an exception counts as a 500 (what the error middleware
    outside answers); one that matched no route counts under `unmatched`.
    """

    def __init__(self, app: ASGIApp, *, counter: Counter) -> None:
        self._app = app
        self._counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            # The router writes the matched route into this same scope.
            route = getattr(scope.get("route"), "path", "unmatched")
            self._counter.labels(route=route, status=status).inc()
