"""Hostile HTTP against a running api: 401, 403 or 422 as the SPEC says, never a 5xx.

SQL-shaped filters and sort keys, numbers past any column, malformed, expired and unsigned
tokens, oversized bodies and odd paths. Afterwards the data is intact and the api's log holds
none of the secrets it was sent.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import orjson
import pytest

from tests.e2e.processes import Service
from tests.integration.stream_health_api.harness import JWT_SECRET, SERVICE_TOKEN, bearer

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LIST = "/api/admin/v1/streams/inactive"
SERVICE = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
SQL = [
    "' OR '1'='1",
    "'; DROP TABLE stream_list; --",
    "%' UNION SELECT doc FROM inventory_streams --",
    "\\'); SELECT pg_sleep(5); --",
    "$1",
    "%%%",
    "_",
    "\\",
]


def _unsigned(claims: dict[str, Any]) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{header}.{body}."


EXPIRED = jwt.encode({"sub": "admin", "exp": int(time.time()) - 60}, JWT_SECRET, "HS256")
WRONG_KEY = jwt.encode({"sub": "a", "exp": int(time.time()) + 600}, "x" * 40, "HS256")
NO_EXPIRY = jwt.encode({"sub": "admin"}, JWT_SECRET, "HS256")
BAD_AUTH = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer a.b"},
    {"Authorization": "Bearer " + "x" * 6000},
    {"Authorization": f"Basic {base64.b64encode(b'admin:admin').decode()}"},
    {"Authorization": f"Bearer {_unsigned({'sub': 'admin', 'exp': int(time.time()) + 600})}"},
    {"Authorization": f"Bearer {EXPIRED}"},
    {"Authorization": f"Bearer {WRONG_KEY}"},
    {"Authorization": f"Bearer {NO_EXPIRY}"},
    {"Authorization": f"Bearer {SERVICE_TOKEN}x"},
    {"Authorization": f"bearer  {SERVICE_TOKEN[:-1]}"},
]


@pytest.fixture(scope="module")
async def client(api: Service) -> Any:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


async def test_sql_shaped_filters_are_data_not_sql(client: httpx.AsyncClient) -> None:
    before = (await client.get(LIST, headers=SERVICE)).json()["meta"]["total"]
    for text in SQL:
        for name in ("search", "ip", "domain"):
            response = await client.get(LIST, params={name: text}, headers=SERVICE)
            assert response.status_code == 200, (name, text, response.text)
            for item in response.json()["data"]:  # only literal matches, if any
                shown = {
                    "search": f"{(item['camera'] or {}).get('name')} {item['url']}",
                    "ip": str(item.get("ip")),
                    "domain": str((item["server"] or {}).get("domain")),
                }[name]
                assert text.lower() in shown.lower(), (name, text, shown)
        response = await client.post(LIST, json={"search": text}, headers=SERVICE)
        assert response.status_code == 200

    assert (await client.get(LIST, headers=SERVICE)).json()["meta"]["total"] == before > 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "id; DROP TABLE stream_list"}, "sort"),
        ({"sort": "(SELECT 1)"}, "sort"),
        ({"sort": "id desc"}, "sort"),
        ({"dir": "asc; --"}, "dir"),
        ({"condition": "' OR '1'='1"}, "condition"),
        ({"per_page": str(10**30)}, "per_page"),
        ({"per_page": "-1"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "1e9"}, "per_page"),
        ({"per_page": "NaN"}, "per_page"),
        ({"page": str(10**30)}, "page"),
        ({"page": str(2**63)}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "Infinity"}, "page"),
        ({"search": "x" * 300}, "search"),
        ({"search": "nul\x00byte"}, "search"),
    ],
)
async def test_out_of_range_or_unknown_parameters_get_422_naming_them(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    got = await client.get(LIST, params=params, headers=SERVICE)
    posted = await client.post(LIST, content=orjson.dumps(params), headers=SERVICE)

    for response in (got, posted):
        assert response.status_code == 422, response.text
        assert field in response.json()["errors"]


async def test_a_json_body_of_the_wrong_shape_gets_422(client: httpx.AsyncClient) -> None:
    for body in (b"[]", b'"x"', b"{", b'{"page": {"$gt": 1}}', b'{"per_page": [1]}', b"\xff\xfe"):
        response = await client.post(
            LIST, content=body, headers={**SERVICE, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, (body, response.text)


async def test_oversized_bodies_get_422_and_unauthenticated_ones_401(
    client: httpx.AsyncClient,
) -> None:
    huge = orjson.dumps({"search": "x" * (2 << 20)})

    assert (await client.post(LIST, content=huge, headers=SERVICE)).status_code == 422
    assert (await client.post(LIST, content=huge)).status_code == 401
    callback = await client.post(
        "/api/v1/orchestrator/callback",
        content=orjson.dumps({"streamUid": "x" * (2 << 20), "status": 7}),
    )
    assert callback.status_code == 422


@pytest.mark.parametrize("headers", BAD_AUTH)
async def test_bad_credentials_get_401_on_every_read(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in (LIST, "/api/streams/0b5f4c1e-8f3a-4d59-9a43-6b1f2f0d7c11/"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, (path, headers, response.text)
        assert response.json() == {"message": "Unauthenticated."}


@pytest.mark.parametrize(
    "path",
    [
        "/api/streams/' OR 1=1 --/",
        "/api/streams/..%2F..%2Fetc%2Fpasswd/",
        "/api/streams/%00/",
        "/api/streams/" + "a" * 5000 + "/",
        "/api/admin/v1/streams/inactive/../../../../etc/passwd",
    ],
)
async def test_odd_paths_never_reach_a_5xx(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers=bearer())

    assert response.status_code in {400, 401, 404, 405, 414, 422}, response.text


async def test_hostile_callbacks_get_422(client: httpx.AsyncClient) -> None:
    bodies = [
        b"{",
        b"[]",
        b"\xff",
        orjson.dumps({"streamUid": "' OR 1=1 --", "status": 7}),
        b'{"streamUid": "0b5f4c1e-8f3a-4d59-9a43-6b1f2f0d7c11", "status": 1000000000000000000000}',
        orjson.dumps({"streamUid": "0b5f4c1e-8f3a-4d59-9a43-6b1f2f0d7c11", "status": "DROP"}),
        orjson.dumps({"streamUid": None, "status": 7}),
    ]
    for body in bodies:
        response = await client.post("/api/v1/orchestrator/callback", content=body)
        assert response.status_code == 422, (body, response.text)


def test_the_api_log_holds_no_secret_it_was_sent(api: Service) -> None:
    log = api.log_path.read_text(errors="replace")

    secrets = [SERVICE_TOKEN, JWT_SECRET, EXPIRED, WRONG_KEY, NO_EXPIRY, "s3cret", "hidden"]
    assert log.strip(), "the api wrote no log at all: nothing was checked"
    assert [secret for secret in secrets if secret in log] == []
