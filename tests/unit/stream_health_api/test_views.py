from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from stream_health.credentials import mask_password
from stream_health_api.views import (
    COMPUTED,
    STREAM_FIELDS,
    BuiltServers,
    Documents,
    Presentation,
    _stream_fields,
    vms_time,
)

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


# The item's stream fields and times as first written (dict comprehension, strftime): the
# model the faster versions must match, key order included.
def _model_fields(uid: str, sent: dict[str, Any], show: Presentation) -> dict[str, Any]:
    fields = {name: sent.get(name) for name in STREAM_FIELDS}
    fields.update((k, v) for k, v in sent.items() if k not in ("server_id", "sub_server_ids"))
    fields["uuid"] = uid
    url = fields.get("url")
    if isinstance(url, str) and not show.expose_credentials:
        fields["url"] = mask_password(url)
    for name in COMPUTED:
        fields.pop(name, None)
    return fields


def _model_time(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


_KEYS = st.sampled_from([*STREAM_FIELDS, *COMPUTED, "server_id", "sub_server_ids"]) | st.text(
    max_size=8
)
_URLS = st.sampled_from(
    [
        "rtsp://admin:cam3ra-Pa55@10.0.0.7:554/live",
        "rtsp://10.0.0.7/live",
        "http://user:p@ss:w@rd@host/x?a=b@c",
        "rtsp://user@host/live",
        "not a url @ all",
    ]
) | st.text(alphabet="ab:/@?#.", max_size=20)
_VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=6) | _URLS


@given(
    sent=st.dictionaries(_KEYS, _VALUES, max_size=30),
    url=st.none() | _URLS,
    expose=st.booleans(),
)
def test_the_stream_fields_are_the_models_in_the_same_order(
    sent: dict[str, Any], url: str | None, expose: bool
) -> None:
    if url is not None:
        sent["url"] = url
    show = Presentation(("incorrect",), expose, 0)

    fields = _stream_fields("uid-1", sent, show)

    assert list(fields.items()) == list(_model_fields("uid-1", sent, show).items())


@given(st.integers(min_value=-(10**12), max_value=253_402_300_799_999))
def test_a_time_is_shown_as_the_model_shows_it(at_ms: int) -> None:
    assert vms_time(at_ms) == _model_time(at_ms)
