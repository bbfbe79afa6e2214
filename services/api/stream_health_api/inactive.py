"""`GET|POST /api/admin/v1/streams/inactive` (SPEC 4.1, seed 000): streams in conditions."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from stream_health import jsonbytes
from stream_health.db.listing import ListQuery, list_page
from stream_health_api.auth import Authenticator
from stream_health_api.http import (
    JSON,
    authenticated,
    json_response,
    read_body,
    unauthenticated,
)
from stream_health_api.page_cache import Page, PageCache
from stream_health_api.pagination import paginator_envelope
from stream_health_api.params import (
    DIRECTIONS,
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_TEXT,
    SORTS,
    InvalidParameters,
    ListParams,
    parse_params,
)
from stream_health_api.responses import StreamPage, Unauthenticated, ValidationFailed
from stream_health_api.views import (
    BuiltServers,
    Documents,
    Presentation,
    stream_document,
    stream_item,
)

PATH = "/api/admin/v1/streams/inactive"
MAX_BODY_BYTES = 64 * 1024


def invalid(errors: InvalidParameters) -> Response:
    """Laravel's 422."""
    return json_response({"message": errors.message, "errors": errors.errors}, 422)


_NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL


def _openapi(conditions: Sequence[str]) -> dict[str, Any]:
    def integer(low: int, high: int, default: int, what: str) -> dict[str, Any]:
        return {
            "type": "integer",
            "minimum": low,
            "maximum": high,
            "default": default,
            "description": what,
        }

    properties: dict[str, Any] = {
        "per_page": integer(0, MAX_PER_PAGE, 25, "items per page (0: the default, 25)"),
        "page": integer(0, MAX_PAGE, 1, "page number (0 reads as 1)"),
        "condition": {
            "type": "string",
            "enum": list(conditions),
            "description": "a configured condition; absent: any condition",
        },
        "search": {
            "type": "string",
            "maxLength": MAX_TEXT,
            "description": "substring of the camera name or the stream url, any case",
        },
        "ip": {
            "type": "string",
            "maxLength": MAX_TEXT,
            "description": "substring of the ip",
        },
        "sort": {"type": "string", "enum": list(SORTS), "default": "id"},
        "dir": {"type": "string", "enum": list(DIRECTIONS), "default": "asc"},
        "domain": {
            "type": "string",
            "maxLength": MAX_TEXT,
            "description": "the main media server's domain, any case, exact",
        },
    }
    for text in ("search", "ip", "domain"):
        properties[text]["pattern"] = _NO_NUL
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in properties.items()
        ],
        "_body": {"type": "object", "properties": properties},
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": StreamPage, "description": "One page of streams in conditions"},
    401: {"model": Unauthenticated, "description": "No valid bearer token"},
    422: {"model": ValidationFailed, "description": "An invalid parameter, named"},
}


def inactive_router(
    *,
    pool: Callable[[], Any],
    authenticator: Authenticator,
    conditions: Sequence[str],
    expose_credentials: bool,
    stale_after_ms: int,
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    cache: PageCache | None = None,
) -> APIRouter:
    """The list endpoint over the `stream_list` view; `conditions` are the configured names.

    `pool` gives the asyncpg pool the app opened at startup. `cache` keeps rendered pages for
    identical requests (after authentication: it is reached only by authenticated requests).
    """
    router = APIRouter(tags=["streams"])
    spec = _openapi(conditions)
    body_schema = spec.pop("_body")
    pages = cache if cache is not None else PageCache(ttl_s=0, max_bytes=1)
    servers_built = BuiltServers()

    async def page(request: Request, params: ListParams) -> Response:
        # Everything the body depends on: the parameters as given (the links repeat them in
        # their order and spelling), the base url the links start with, and how urls are
        # shown. Never the token: every authenticated caller sees the same list.
        path = str(request.url.replace(query="", fragment=""))
        body = await pages.get((path, params, expose_credentials), lambda: render(path, params))
        return Response(body, media_type=JSON)

    async def render(path: str, params: ListParams) -> Page:
        query = ListQuery(
            condition=params.condition,
            sort_column=SORTS[params.sort],
            descending=params.descending,
            limit=params.per_page,
            offset=params.offset,
            search=params.search,
            ip=params.ip,
            domain=params.domain,
        )
        async with pool().acquire() as conn:
            listed = await list_page(conn, query)
        documents = [stream_document(row) for row in listed.rows]
        show = Presentation(conditions, expose_credentials, clock_ms() - stale_after_ms)
        page_documents = Documents(listed.servers, servers_built)
        items = [
            stream_item(row, sent, page_documents, show)
            for row, sent in zip(listed.rows, documents, strict=True)
        ]
        # The page is true until its first actual server would turn stale (or the data moves).
        keep_ms = min(
            (
                row["server_seen_ms"] - show.fresh_after_ms
                for row, item in zip(listed.rows, items, strict=True)
                if item["is_actual"]
            ),
            default=None,
        )
        links, meta = paginator_envelope(
            path=path,
            query=params.given,
            page=params.page,
            per_page=params.per_page,
            total=listed.total,
            count=len(items),
        )
        body = jsonbytes.dumps({"data": items, "links": links, "meta": meta})  # kept in the cache
        return Page(body) if keep_ms is None else Page(body, keep_s=keep_ms / 1000)

    async def answer(request: Request, raw: Mapping[str, Any]) -> Response:
        try:
            params = parse_params(raw, conditions=conditions)
        except InvalidParameters as errors:
            return invalid(errors)
        return await page(request, params)

    security: list[dict[str, list[str]]] = [{"bearer": []}]

    @router.get(PATH, responses=_RESPONSES, openapi_extra={**spec, "security": security})
    async def list_inactive(request: Request) -> Response:
        """Streams in conditions (seed 000), filtered, sorted and paginated."""
        if not authenticated(authenticator, request):
            return unauthenticated()
        return await answer(request, dict(request.query_params))

    @router.post(
        PATH,
        responses=_RESPONSES,
        openapi_extra={
            **spec,
            "security": security,
            "requestBody": {"content": {JSON: {"schema": body_schema}}, "required": False},
        },
    )
    async def list_inactive_by_body(request: Request) -> Response:
        """The same list, its parameters in a JSON body (over those of the query string)."""
        if not authenticated(authenticator, request):
            return unauthenticated()
        body = await _json_body(request)
        if isinstance(body, InvalidParameters):
            return invalid(body)
        return await answer(request, {**dict(request.query_params), **body})

    return router


async def _json_body(request: Request) -> dict[str, Any] | InvalidParameters:
    raw = await read_body(request, limit_bytes=MAX_BODY_BYTES)
    if raw is None:
        return InvalidParameters(
            {"body": [f"The body must not be greater than {MAX_BODY_BYTES // 1024} kilobytes."]}
        )
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return InvalidParameters({"body": ["The body must be a JSON object."]})
    if not isinstance(body, dict):
        return InvalidParameters({"body": ["The body must be a JSON object."]})
    return body
