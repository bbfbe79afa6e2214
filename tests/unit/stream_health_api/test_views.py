import orjson

from stream_health_api.views import BuiltServers, Documents

SERVER = '{"id": 7, "domain": "ms7.vms.local", "extra": null, "is_management": true}'
PULSE = '{"cpu": 12.5, "streams": 40}'


def _json(fragment: orjson.Fragment | None) -> object:
    return orjson.loads(orjson.dumps(fragment))


def test_a_server_shows_its_latest_pulse_as_extra_in_the_documents_order() -> None:
    built = BuiltServers()

    served = _json(built.build(SERVER, PULSE))

    assert served == {
        "id": 7,
        "domain": "ms7.vms.local",
        "extra": {"cpu": 12.5, "streams": 40},
        "is_management": True,
    }
    assert list(served) == ["id", "domain", "extra", "is_management"]
    assert _json(built.build(SERVER, None)) == orjson.loads(SERVER)  # no pulse: as stored


def test_a_server_is_built_once_for_the_same_texts_and_again_for_a_new_pulse() -> None:
    built = BuiltServers()
    first = built.build(SERVER, PULSE)

    assert built.build(SERVER, PULSE) is first
    later = _json(built.build(SERVER, '{"cpu": 99.0, "streams": 41}'))
    assert later["extra"] == {"cpu": 99.0, "streams": 41}  # type: ignore[index]


def test_the_kept_servers_are_bounded_and_the_oldest_go_first() -> None:
    built = BuiltServers(kept=3)
    pulses = [f'{{"seq": {n}}}' for n in range(5)]
    fragments = [built.build(SERVER, pulse) for pulse in pulses]

    assert len(built) == 3
    assert built.build(SERVER, pulses[4]) is fragments[4]  # still kept
    assert built.build(SERVER, pulses[0]) is not fragments[0]  # dropped, built again
    assert _json(built.build(SERVER, pulses[0]))["extra"] == {"seq": 0}  # type: ignore[index]


def test_a_page_shows_only_the_servers_inventory_knows() -> None:
    documents = Documents({7: (SERVER, PULSE)}, BuiltServers())

    assert documents.server(None) is None
    assert documents.server(8) is None
    assert [_json(s)["id"] for s in documents.sub_servers([8, 7])] == [7]  # type: ignore[index]
