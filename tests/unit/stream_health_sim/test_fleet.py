from collections import Counter, defaultdict

from stream_health_sim.fleet import build_fleet, event_timeline, inventory_records

NOW_MS = 1_795_000_000_000
HOUR_MS = 3_600_000


def test_the_same_seed_builds_the_same_fleet_and_timeline() -> None:
    a = build_fleet(seed=3, cameras=50, servers=2, now_ms=NOW_MS)
    b = build_fleet(seed=3, cameras=50, servers=2, now_ms=NOW_MS)

    assert a == b
    assert list(event_timeline(a, seed=3, start_ms=NOW_MS - HOUR_MS, end_ms=NOW_MS)) == list(
        event_timeline(b, seed=3, start_ms=NOW_MS - HOUR_MS, end_ms=NOW_MS)
    )


def test_inventory_has_one_snapshot_per_object_keyed_by_id() -> None:
    fleet = build_fleet(seed=1, cameras=40, servers=4, now_ms=NOW_MS)

    records = inventory_records(fleet, at_ms=NOW_MS)

    assert Counter(r.role for r in records) == {
        "inventory_servers": 4,
        "inventory_cameras": 40,
        "inventory_streams": 40,
    }
    streams = [r for r in records if r.role == "inventory_streams"]
    assert all(r.key == str(r.value["id"]) for r in streams if r.value)
    assert len({r.value["uuid"] for r in streams if r.value}) == 40


def test_events_are_ordered_and_numbered_per_server() -> None:
    fleet = build_fleet(seed=2, cameras=200, servers=3, now_ms=NOW_MS, flapping_share=0.2)

    events = list(event_timeline(fleet, seed=2, start_ms=NOW_MS - HOUR_MS, end_ms=NOW_MS))

    times = [e.at_ms for e in events]
    assert times == sorted(times)
    seqs: dict[str, list[int]] = defaultdict(list)
    for e in events:
        assert e.value is not None
        seqs[e.value["server"]].append(e.value["seq"])
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values())  # no gap, no repeat


def test_flapping_streams_reconnect_far_more_than_steady_ones() -> None:
    fleet = build_fleet(seed=5, cameras=500, servers=4, now_ms=NOW_MS, flapping_share=0.1)

    events = list(event_timeline(fleet, seed=5, start_ms=NOW_MS - HOUR_MS, end_ms=NOW_MS))

    reconnects = Counter(
        e.key for e in events if e.value and e.value["event"] == "stream:reconnect"
    )
    flapping = [reconnects[uid] for uid in fleet.flapping]
    steady = [reconnects[s["uuid"]] for s in fleet.streams if s["uuid"] not in fleet.flapping]
    assert len(fleet.flapping) == 50
    assert sum(flapping) / len(flapping) >= 5  # problematic under the default 5 per hour
    assert sum(steady) / len(steady) < 0.2
    stream_events = [e for e in events if e.value and e.value["event"].startswith("stream:")]
    assert all(e.key == e.value["data"]["uid"] for e in stream_events if e.value)  # keyed by uid
