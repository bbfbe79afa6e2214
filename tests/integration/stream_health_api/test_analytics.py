"""Analytics streams (SPEC 2.3, 2.4, 4.2; seed 003) through the worker's batch code and the api."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stream_health_api.analytics import iso_micros
from tests.conftest import fresh_database
from tests.integration.stream_health_api.harness import (
    Fleet,
    api_client,
    bearer,
    list_settings,
    now_ms,
    server_doc,
    stream_doc,
)
from tests.seeds import seed_003


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Any, Fleet]]:
    async with fresh_database("analytics") as url:
        settings = list_settings(url, tmp_path_factory.mktemp("analytics"))
        fleet = Fleet(settings)
        try:
            async with api_client(settings) as client:
                yield client, fleet
        finally:
            await fleet.close()


def _job(job_uid: str, stream_uid: str, *, updated_at: str, status: int = 1) -> dict[str, Any]:
    return seed_003() | {
        "job_uid": job_uid,
        "stream_uid": stream_uid,
        "status": status,
        "updated_at": updated_at,
    }


async def _check(client: httpx.AsyncClient, job_uid: str) -> httpx.Response:
    return await client.get(f"/api/streams/{job_uid}/", params={"format": "json"}, headers=bearer())


async def test_the_seed_object_round_trips_field_for_field(stack: tuple[Any, Fleet]) -> None:
    client, fleet = stack
    seed = seed_003()
    await fleet.apply([fleet.job(seed["job_uid"], seed)])

    with_slash = await _check(client, seed["job_uid"])
    without = await client.get(f"/api/streams/{seed['job_uid']}", headers=bearer())
    by_post = await client.post(
        f"/api/streams/{seed['job_uid']}/?format=json", json=[], headers=bearer()
    )

    assert with_slash.status_code == 200
    served = with_slash.json()
    assert list(served) == list(seed)
    for name, value in seed.items():
        assert served[name] == value, name
        assert type(served[name]) is type(value), name
    assert isinstance(served["platform_json"], str)  # a string holding JSON, as the seed's
    assert without.json() == served
    assert by_post.json() == served


async def test_an_unknown_job_is_404_and_a_missing_token_401(stack: tuple[Any, Fleet]) -> None:
    client, _ = stack

    missing = await _check(client, "no-such-job")
    odd = await _check(client, "%20%3B")
    anonymous = await client.get(f"/api/streams/{seed_003()['job_uid']}/")

    assert (missing.status_code, missing.json()) == (404, {"detail": "Stream not found"})
    assert odd.status_code == 404
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Unauthenticated."})


async def test_status_and_updated_at_follow_the_newest_report(stack: tuple[Any, Fleet]) -> None:
    client, fleet = stack
    job_uid, at = str(uuid.uuid4()), now_ms()
    snapshot_at = iso_micros(at - 60_000)
    await fleet.apply(
        [fleet.job(job_uid, _job(job_uid, str(uuid.uuid4()), updated_at=snapshot_at))]
    )

    await fleet.apply([fleet.callback(job_uid, "PAUSE", at - 120_000)])  # older than the snapshot
    older = (await _check(client, job_uid)).json()
    await fleet.apply([fleet.callback(job_uid, "WAITING IMAGES", at - 1_000)])
    newer = (await _check(client, job_uid)).json()
    await fleet.apply([fleet.callback(job_uid, 12, at - 5_000)])  # arrives later, older
    still = (await _check(client, job_uid)).json()

    assert (older["status"], older["updated_at"]) == (1, snapshot_at)
    assert (newer["status"], newer["updated_at"]) == (6, iso_micros(at - 1_000))
    assert (still["status"], still["updated_at"]) == (6, iso_micros(at - 1_000))


async def _camera_stream(fleet: Fleet) -> str:
    uid = str(uuid.uuid4())
    n = int(uid[:6], 16)
    await fleet.apply(
        [
            fleet.snapshot("servers", 5000 + n, server_doc(5000 + n, f"a{n}.vms.local")),
            fleet.snapshot(
                "streams", 5000 + n, stream_doc(5000 + n, uid, camera_id=1, server_id=5000 + n)
            ),
        ]
    )
    return uid


async def test_down_callbacks_count_as_reconnections_of_the_camera_stream(
    stack: tuple[Any, Fleet],
) -> None:
    _, fleet = stack
    stream_uid, job_uid, at = await _camera_stream(fleet), str(uuid.uuid4()), now_ms()
    job = _job(job_uid, stream_uid, updated_at=iso_micros(at - 600_000))
    await fleet.apply([fleet.job(job_uid, job)])

    await fleet.apply([fleet.callback(job_uid, "DOWN", at - 3_000)])
    await fleet.apply([fleet.callback(job_uid, "WORKING", at - 2_500)])  # does not count
    await fleet.apply(
        [fleet.callback(job_uid, 7, at - 2_000), fleet.callback(job_uid, "down", at - 1_000)]
    )

    changes = await fleet.changes(stream_uid)
    assert [(c["cause"], c["entered"], c["conditions"]) for c in changes] == [
        ("analytics", ["incorrect"], ["incorrect"]),
        ("analytics", ["problematic"], ["incorrect", "problematic"]),  # three DOWNs in the hour
    ]
    assert changes[1]["reconnects"]["problematic"] == 3


async def test_a_down_before_its_job_counts_once_the_job_arrives(stack: tuple[Any, Fleet]) -> None:
    client, fleet = stack
    stream_uid, job_uid, at = await _camera_stream(fleet), str(uuid.uuid4()), now_ms()

    await fleet.apply([fleet.callback(job_uid, "DOWN", at - 2_000)])
    before = await _check(client, job_uid)
    changes_before = await fleet.changes(stream_uid)
    job = _job(job_uid, stream_uid, updated_at=iso_micros(at - 600_000))
    await fleet.apply([fleet.job(job_uid, job)])
    after = await _check(client, job_uid)
    await fleet.apply([fleet.job(job_uid, job | {"ovms_client": 1})])  # a repeat snapshot
    changes = await fleet.changes(stream_uid)

    assert before.status_code == 404  # no job yet: the callback is kept, not served
    assert changes_before == []
    assert (after.json()["status"], after.json()["updated_at"]) == (7, iso_micros(at - 2_000))
    assert [(c["cause"], c["entered"]) for c in changes] == [("analytics", ["incorrect"])]


async def test_a_tombstone_removes_the_job(stack: tuple[Any, Fleet]) -> None:
    client, fleet = stack
    job_uid = str(uuid.uuid4())
    job = _job(job_uid, str(uuid.uuid4()), updated_at=iso_micros(now_ms()))
    await fleet.apply([fleet.job(job_uid, job)])

    await fleet.apply([fleet.job(job_uid, None)])

    assert (await _check(client, job_uid)).status_code == 404
