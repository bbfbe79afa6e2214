"""The admin list (SPEC 4.1, seed 000) over views the real worker code keeps, real PostgreSQL."""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from stream_health.db.engine import plain_dsn
from stream_health_api.params import SORTS
from stream_health_worker.ingest import drain_due
from tests.conftest import fresh_database
from tests.integration.stream_health_api.harness import (
    FILTER_DOMAIN,
    HOUR_MS,
    SERVICE_TOKEN,
    SORT_DOMAIN,
    Fleet,
    api_client,
    bearer,
    list_settings,
    now_ms,
    populate,
    seed_inventory,
    server_doc,
    stream_doc,
)
from tests.seeds import seed_000
from tests.waiting import until

PATH = "/api/admin/v1/streams/inactive"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Any, ...]]:
    async with fresh_database("list") as url:
        settings = list_settings(url, tmp_path_factory.mktemp("list"))
        fleet = Fleet(settings)
        try:
            uids = await populate(fleet)
            connection = await asyncpg.connect(plain_dsn(url))
            try:  # ties are in list-key order
                keyed = await connection.fetch("SELECT uid, list_key FROM stream_windows")
            finally:
                await connection.close()
            uids["list_keys"] = {row["uid"]: row["list_key"] for row in keyed}
            async with api_client(settings) as client:
                yield client, uids, fleet
        finally:
            await fleet.close()


@pytest.fixture
def client(stack: tuple[Any, ...]) -> Any:
    return stack[0]


@pytest.fixture
def uids(stack: tuple[Any, ...]) -> Any:
    return stack[1]


async def _get(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get(PATH, params=params, headers=bearer())


async def test_the_seed_row_is_served_field_for_field(tmp_path: Path) -> None:
    # Its url shows the password as the seed does: credentials are exposed here.
    async with fresh_database("seed") as url:
        settings = list_settings(url, tmp_path, expose_stream_credentials=True)
        fleet = Fleet(settings)
        try:
            seed = seed_000()
            item = seed["data"][0]
            server = item["server"]
            await fleet.apply(seed_inventory(fleet))
            await fleet.apply(
                [
                    fleet.event(
                        "service:pulse", None, server=server["domain"], data=server["extra"]
                    ),
                    fleet.event(
                        "stream:state",
                        item["uuid"],
                        server=server["domain"],
                        data={
                            "state": "disabled",
                            "reconnects": {"attempt": 0, "limit": 10, "total": 1},
                        },
                    ),
                ]
            )
            async with api_client(settings) as client:
                response = await _get(client, per_page=15, condition="disabled")
        finally:
            await fleet.close()

    assert response.status_code == 200
    body = response.json()
    expected = copy.deepcopy(item) | {"conditions": ["disabled"]}
    served = body["data"][0]
    assert list(served) == list(expected)  # names, in the seed's order
    for name, value in expected.items():
        assert served[name] == value, name
        assert type(served[name]) is type(value), name
    assert list(served["server"]["extra"]) == list(server["extra"])
    assert list(body) == ["data", "links", "meta"]
    assert list(body["links"]) == list(seed["links"])
    assert list(body["meta"]) == list(seed["meta"])
    assert body["meta"]["path"] == seed["meta"]["path"]
    assert body["meta"]["links"][0] == seed["meta"]["links"][0]
    assert body["links"]["first"] == f"{seed['meta']['path']}?per_page=15&condition=disabled&page=1"


async def test_a_stream_url_password_is_masked_by_default(
    client: httpx.AsyncClient, uids: dict[str, Any]
) -> None:
    body = (await _get(client, domain=FILTER_DOMAIN, per_page=100)).json()

    urls = {item["uuid"]: item["url"] for item in body["data"]}
    assert urls[uids["filter"]["gate"]] == "rtsp://admin:***@10.1.2.3/live"
    assert urls[uids["filter"]["lobby"]] == "rtsp://viewer:***@lobby.example/1"
    assert urls[uids["filter"]["parking"]] == "rtsp://cam.example/park"
    assert "s3cret" not in str(body)


def _key(value: Any, key: int) -> tuple[Any, ...]:
    # PostgreSQL's default: null sorts above every value (last ascending, first descending).
    # Ties are in the order of the streams' list keys.
    return (value is None, 0 if value is None else value, key)


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("sort", list(SORTS))
async def test_every_sort_key_orders_the_list_both_ways(
    client: httpx.AsyncClient, uids: dict[str, Any], sort: str, direction: str
) -> None:
    response = await _get(client, domain=SORT_DOMAIN, sort=sort, dir=direction, per_page=100)

    items = response.json()["data"]
    field = "id" if sort == "id" else sort
    shown = [(item[field], item["uuid"]) for item in items]
    descending = direction == "desc"
    assert sorted(item["uuid"] for item in items) == sorted(uids["sort"])
    assert len({value for value, _ in shown}) > 2  # the data makes the order mean something
    keys = uids["list_keys"]
    expected = sorted(shown, key=lambda s: _key(s[0], keys[s[1]]), reverse=descending)
    assert shown == expected


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("sort", list(SORTS))
async def test_unfiltered_pages_from_either_end_make_up_the_whole_list(
    client: httpx.AsyncClient, sort: str, direction: str
) -> None:
    whole = (await _get(client, sort=sort, dir=direction, per_page=100)).json()
    total = whole["meta"]["total"]
    pages = [
        (await _get(client, sort=sort, dir=direction, per_page=3, page=p)).json()
        for p in range(1, -(-total // 3) + 2)
    ]

    # Pages past the middle are read backwards from the end; the rows are the same.
    assert [i["uuid"] for p in pages for i in p["data"]] == [i["uuid"] for i in whole["data"]]
    assert {p["meta"]["total"] for p in pages} == {total}
    assert pages[-1]["data"] == []


async def test_disconnections_count_is_the_count_in_the_conditions_window(
    client: httpx.AsyncClient, uids: dict[str, Any]
) -> None:
    problematic = (await _get(client, domain=SORT_DOMAIN, condition="problematic")).json()
    anywhere = (await _get(client, domain=SORT_DOMAIN, per_page=100)).json()

    made = {uid: 1 + (n * 3) % 5 for n, uid in enumerate(uids["sort"])}
    # A window keeps the newest `reconnects` of the largest condition (3 here): counts stop there.
    shown = {uid: min(count, 3) for uid, count in made.items()}
    assert {i["uuid"]: i["disconnections_count"] for i in anywhere["data"]} == shown
    assert {i["uuid"] for i in problematic["data"]} == {u for u, n in made.items() if n >= 3}
    for item in problematic["data"]:
        assert item["conditions"] == ["incorrect", "problematic"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "gate"}, {"gate"}),  # camera name, any case
        ({"search": "NORTH"}, {"gate"}),
        ({"search": "100%"}, {"parking"}),  # % is a character, not a wildcard
        ({"search": "lobby_"}, {"lobby"}),  # so is _
        ({"search": "lobby.example"}, {"lobby"}),  # the url
        ({"search": "s3cret"}, set()),  # never the password
        ({"search": "***"}, {"gate", "lobby"}),  # the url as it is shown
        ({"ip": "10.1.2"}, {"gate", "lobby"}),  # a substring of the ip
        ({"ip": "10.1."}, {"gate", "lobby"}),  # dotted: found through the ip key index
        ({"ip": ".2.3"}, {"gate"}),
        ({"ip": "1.2"}, {"gate", "lobby"}),
        ({"ip": "192.168.7.7"}, {"parking"}),
        ({"ip": "10.9"}, set()),
    ],
)
async def test_search_and_ip_filter_by_substring(
    client: httpx.AsyncClient, uids: dict[str, Any], params: dict[str, str], expected: set[str]
) -> None:
    body = (await _get(client, domain=FILTER_DOMAIN, **params)).json()

    names = {label for label, uid in uids["filter"].items()}
    found = {label for label in names if uids["filter"][label] in {i["uuid"] for i in body["data"]}}
    assert found == expected
    assert body["meta"]["total"] == len(expected)


@pytest.mark.parametrize("domain", ["filter.vms.local", "FILTER.VMS.LOCAL", FILTER_DOMAIN])
async def test_domain_filters_by_main_server_in_any_case_exactly(
    client: httpx.AsyncClient, uids: dict[str, Any], domain: str
) -> None:
    body = (await _get(client, domain=domain)).json()
    partial = (await _get(client, domain="filter.vms")).json()

    assert {i["uuid"] for i in body["data"]} == set(uids["filter"].values())
    assert partial["data"] == []


async def test_a_stream_unknown_to_inventory_is_listed_without_joins(
    client: httpx.AsyncClient, uids: dict[str, Any]
) -> None:
    body = (await _get(client, sort="id", dir="asc", per_page=100)).json()

    item = next(i for i in body["data"] if i["uuid"] == uids["unknown"])
    assert item["id"] is None
    assert (item["camera"], item["server"], item["sub_servers"]) == (None, None, [])
    assert item["is_actual"] is False
    assert item["conditions"] == ["incorrect"]
    assert body["data"][-1]["uuid"] == uids["unknown"]  # a null id sorts last ascending


async def test_is_actual_follows_the_main_servers_latest_event(
    client: httpx.AsyncClient, uids: dict[str, Any]
) -> None:
    fresh = (await _get(client, domain=SORT_DOMAIN)).json()
    silent = (await _get(client, domain=FILTER_DOMAIN)).json()

    # The sort set's server pulsed just now; the filter set's reconnects came from it too.
    assert {i["is_actual"] for i in fresh["data"]} == {True}
    assert {i["is_actual"] for i in silent["data"]} == {True}


async def test_the_seed_rows_stream_is_in_the_disabled_condition_only(
    client: httpx.AsyncClient,
) -> None:
    disabled = (await _get(client, condition="disabled")).json()
    incorrect = (await _get(client, condition="incorrect", per_page=100)).json()

    seed_uuid = seed_000()["data"][0]["uuid"]
    assert [i["uuid"] for i in disabled["data"]] == [seed_uuid]
    assert disabled["meta"]["total"] == 1
    assert seed_uuid not in {i["uuid"] for i in incorrect["data"]}


async def test_pages_split_the_list_and_keep_the_other_parameters(
    client: httpx.AsyncClient, uids: dict[str, Any]
) -> None:
    pages = [
        (await _get(client, domain=SORT_DOMAIN, per_page=4, page=p, sort="id")).json()
        for p in (1, 2, 3, 4)
    ]

    assert [len(p["data"]) for p in pages] == [4, 4, 1, 0]
    assert [i["uuid"] for p in pages for i in p["data"]] == [
        i["uuid"]
        for i in (await _get(client, domain=SORT_DOMAIN, sort="id", per_page=100)).json()["data"]
    ]
    last, beyond = pages[2]["meta"], pages[3]["meta"]
    assert (last["from"], last["to"], last["last_page"], last["total"]) == (9, 9, 3, 9)
    assert (beyond["from"], beyond["to"], beyond["current_page"]) == (None, None, 4)
    assert pages[0]["links"]["next"] == (
        f"https://vms.local{PATH}?domain={SORT_DOMAIN}&per_page=4&sort=id&page=2"
    )
    assert pages[2]["links"]["next"] is None


async def test_an_empty_result_is_one_empty_page(client: httpx.AsyncClient) -> None:
    body = (await _get(client, domain="none.vms.local")).json()

    assert body["data"] == []
    meta = body["meta"]
    assert (meta["total"], meta["from"], meta["to"], meta["last_page"]) == (0, None, None, 1)
    assert [link["label"] for link in meta["links"]] == [
        "pagination.previous",
        "1",
        "pagination.next",
    ]


@pytest.mark.parametrize(
    ("per_page", "page", "shown"),
    [
        (0, 0, 25),  # 0 means the default (the seed's own example posts zeros)
        (None, None, 25),
        (1, 1, 1),
        (100, 1, 100),
    ],
)
async def test_per_page_and_page_defaults_and_bounds(
    client: httpx.AsyncClient, per_page: int | None, page: int | None, shown: int
) -> None:
    params = {k: v for k, v in {"per_page": per_page, "page": page}.items() if v is not None}
    body = (await _get(client, **params)).json()

    assert body["meta"]["per_page"] == shown
    assert body["meta"]["current_page"] == 1


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"per_page": 101}, "per_page", "The per page field must be between 0 and 100."),
        ({"per_page": -1}, "per_page", "The per page field must be between 0 and 100."),
        ({"per_page": "ten"}, "per_page", "The per page field must be an integer."),
        ({"page": "1.5"}, "page", "The page field must be an integer."),
        ({"page": 10**12}, "page", "The page field must be between 0 and 1000000000."),
        ({"condition": "broken"}, "condition", "The selected condition is invalid."),
        ({"sort": "password"}, "sort", "The selected sort is invalid."),
        ({"sort": "id; DROP TABLE stream_list"}, "sort", "The selected sort is invalid."),
        ({"dir": "up"}, "dir", "The selected dir is invalid."),
        (
            {"search": "x" * 256},
            "search",
            "The search field must not be greater than 255 characters.",
        ),
    ],
)
async def test_an_invalid_parameter_gets_422_naming_it(
    client: httpx.AsyncClient, params: dict[str, Any], field: str, message: str
) -> None:
    response = await _get(client, **params)

    assert response.status_code == 422
    assert response.json() == {"message": message, "errors": {field: [message]}}


async def test_several_invalid_parameters_are_all_named(client: httpx.AsyncClient) -> None:
    response = await _get(client, sort="nope", dir="sideways", per_page=1000)

    body = response.json()
    assert response.status_code == 422
    assert set(body["errors"]) == {"per_page", "sort", "dir"}
    assert body["message"] == "The per page field must be between 0 and 100. (and 2 more errors)"


async def test_post_takes_the_parameters_as_a_json_body(
    client: httpx.AsyncClient, uids: dict[str, Any]
) -> None:
    params = {"domain": SORT_DOMAIN, "sort": "bitrate", "dir": "desc", "per_page": 3}
    by_get = await _get(client, **params)
    by_post = await client.post(PATH, json=params, headers=bearer())
    bad = await client.post(PATH, content=b"[1, 2]", headers=bearer())
    invalid = await client.post(PATH, json={"sort": 5}, headers=bearer())

    assert by_post.status_code == 200
    assert by_post.json()["data"] == by_get.json()["data"]
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"body": ["The body must be a JSON object."]}
    assert invalid.json()["errors"] == {"sort": ["The sort field must be a string."]}


def _none_token() -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'admin', 'exp': 4102444800})}."


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no token
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {_none_token()}"},  # alg none
        bearer(exp=1),  # expired
        {"Authorization": f"Basic {SERVICE_TOKEN}"},  # not a bearer token
        {"Authorization": "Bearer " + SERVICE_TOKEN + "x"},
    ],
)
async def test_without_a_valid_token_the_answer_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    got = await client.get(PATH, headers=headers)
    posted = await client.post(PATH, json={"sort": "nope"}, headers=headers)

    assert (got.status_code, got.json()) == (401, {"message": "Unauthenticated."})
    assert (posted.status_code, posted.json()) == (401, {"message": "Unauthenticated."})


async def test_a_service_token_whose_digest_is_configured_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(PATH, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})

    assert response.status_code == 200


async def test_inventory_changes_reach_the_listed_rows(
    stack: tuple[Any, ...], tmp_path: Path
) -> None:
    client, _, fleet = stack
    uid = str(uuid.uuid4())
    domain = f"moving-{uid[:8]}.vms.local"
    await fleet.apply([fleet.snapshot("servers", 900, server_doc(900, domain))])
    await fleet.apply([fleet.snapshot("cameras", 901, {"id": 901, "name": "Old name"})])
    stream = stream_doc(902, uid, camera_id=901, server_id=900, bitrate=5)
    await fleet.apply([fleet.snapshot("streams", 902, stream)])
    await fleet.apply([fleet.event("stream:reconnect", uid, server=domain)])
    before = (await _get(client, search="old name")).json()

    await fleet.apply([fleet.snapshot("cameras", 901, {"id": 901, "name": "New name"})])
    renamed = (await _get(client, search="old name")).json()
    moved = stream | {"updated_at": "2024-07-01 00:00:00", "is_enabled": False}
    await fleet.apply([fleet.snapshot("streams", 902, moved)])
    switched_off = (await _get(client, domain=domain)).json()

    assert [i["uuid"] for i in before["data"]] == [uid]
    assert renamed["data"] == []
    assert switched_off["data"] == []


async def test_a_shown_count_falls_when_a_reconnection_ages_out_with_no_further_event(
    stack: tuple[Any, ...],
) -> None:
    client, _, fleet = stack
    uid, at = str(uuid.uuid4()), now_ms()
    domain = f"aging-{uid[:8]}.vms.local"
    await fleet.apply([fleet.snapshot("servers", 910, server_doc(910, domain))])
    await fleet.apply(
        [fleet.snapshot("streams", 912, stream_doc(912, uid, camera_id=911, server_id=910))]
    )
    day_ms = 24 * HOUR_MS
    await fleet.apply(
        [
            fleet.event("stream:reconnect", uid, server=domain, at_ms=at - day_ms + 60_000),
            fleet.event("stream:reconnect", uid, server=domain, at_ms=at - 600_000),
        ]
    )
    before = (await _get(client, domain=domain, condition="incorrect")).json()["data"]

    # The timer's wake-up a minute later: the older reconnection has left the 24 h window.
    await drain_due(fleet.sessions, ctx=fleet.ctx, now_ms=at + 61_000)
    await fleet.flush(at + 61_000)
    after = (await _get(client, domain=domain, condition="incorrect")).json()["data"]
    anywhere = (await _get(client, domain=domain)).json()["data"]

    assert [i["disconnections_count"] for i in before] == [2]
    assert [i["disconnections_count"] for i in after] == [1]
    assert [i["disconnections_count"] for i in anywhere] == [1]


@pytest.mark.parametrize("condition", [None, "incorrect", "problematic", "disabled"])
async def test_the_unfiltered_total_counts_every_listed_stream(
    client: httpx.AsyncClient, condition: str | None
) -> None:
    params = {"per_page": 100} | ({"condition": condition} if condition else {})
    body = (await _get(client, **params)).json()

    # Unfiltered, the total comes from the counters the worker keeps beside the rows.
    assert body["meta"]["total"] == len(body["data"]) > 0


async def _metric(client: httpx.AsyncClient, series: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {series} on /metrics")


async def _metric_is(client: httpx.AsyncClient, series: str, value: float) -> bool:
    return await _metric(client, series) >= value


async def _stream_on_its_own_server(fleet: Any, name: str, server_id: int) -> tuple[str, str]:
    """A new stream (uid) on a new server (domain) of its own: a list filter no other test's
    rows pass. The camera is `server_id + 1`, the stream `server_id + 2`."""
    uid = str(uuid.uuid4())
    domain = f"{name}-{uid[:8]}.vms.local"
    await fleet.apply([fleet.snapshot("servers", server_id, server_doc(server_id, domain))])
    stream = stream_doc(server_id + 2, uid, camera_id=server_id + 1, server_id=server_id)
    await fleet.apply([fleet.snapshot("streams", server_id + 2, stream)])
    return uid, domain


@asynccontextmanager
async def _listening_client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an api with `settings`, once its list cache listens for changes."""
    async with api_client(settings) as client:
        listening = "stream_health_api_list_cache_listening"
        await until(lambda: _metric_is(client, listening, 1), 5, "the api listening")
        yield client


async def test_with_the_page_cache_on_a_page_is_kept_until_its_data_changes(
    stack: tuple[Any, ...],
) -> None:
    _, _, fleet = stack
    settings = fleet.settings.model_copy(update={"list_cache_ttl": timedelta(seconds=60)})
    uid, domain = await _stream_on_its_own_server(fleet, "cached", 920)
    async with _listening_client(settings) as cached:
        before = await _get(cached, domain=domain, sort="id")
        again = await _get(cached, domain=domain, sort="id")
        reordered = await cached.get(f"{PATH}?sort=id&domain={domain}", headers=bearer())
        refused = await cached.get(f"{PATH}?domain={domain}&sort=id")
        changes = await _metric(cached, "stream_health_api_list_changes_total")
        await fleet.apply([fleet.event("stream:reconnect", uid, server=domain)])
        heard = "stream_health_api_list_changes_total"
        await until(lambda: _metric_is(cached, heard, changes + 1), 5, "the commit heard")
        after = await _get(cached, domain=domain, sort="id")
        outcomes = {
            outcome: await _metric(
                cached, f'stream_health_api_list_cache_requests_total{{outcome="{outcome}"}}'
            )
            for outcome in ("hit", "miss")
        }

    # While nothing changes, the page is the one rendered first; other parameters (here their
    # order, which the links repeat) are another page; no token, no page. Once the stream's
    # reconnection is committed, the page is read afresh.
    assert before.json()["data"] == [] == reordered.json()["data"]
    assert again.content == before.content
    assert refused.status_code == 401
    assert [i["uuid"] for i in after.json()["data"]] == [uid]
    assert outcomes == {"hit": 1, "miss": 3}


async def test_with_a_max_lag_a_page_outlives_a_change_until_the_lag_has_passed(
    stack: tuple[Any, ...],
) -> None:
    _, _, fleet = stack
    lag_s = 4.0
    settings = fleet.settings.model_copy(
        update={
            "list_cache_ttl": timedelta(seconds=60),
            "list_cache_max_lag": timedelta(seconds=lag_s),
        }
    )
    uid, domain = await _stream_on_its_own_server(fleet, "lagged", 930)
    heard = "stream_health_api_list_changes_total"
    async with _listening_client(settings) as cached:
        asked = time.monotonic()  # the page's query starts after this
        before = await _get(cached, domain=domain, sort="id")
        changes = await _metric(cached, heard)
        await fleet.apply([fleet.event("stream:reconnect", uid, server=domain)])
        await until(lambda: _metric_is(cached, heard, changes + 1), 5, "the commit heard")
        within = await _get(cached, domain=domain, sort="id")
        within_s = time.monotonic() - asked

        async def shows_the_stream() -> bool:
            page = await _get(cached, domain=domain, sort="id")
            return bool(page.json()["data"])

        await until(shows_the_stream, lag_s + 5, "the page read afresh", every_s=0.1)
        fresh_s = time.monotonic() - asked

    # The commit is heard, yet the page rendered before it is served until the lag has
    # passed since its query, then read afresh.
    assert before.json()["data"] == []
    assert within_s < lag_s  # (else this machine was too slow to tell)
    assert within.content == before.content
    assert fresh_s >= lag_s - 0.5  # the query began within the half second after `asked`
