import pytest

from stream_health.config.settings import TopicNames
from stream_health_worker.records import TopicRole, record_type, topic_roles


@pytest.mark.parametrize(
    ("role", "value", "expected"),
    [
        (TopicRole.MEDIA_EVENTS, b'{"event": "stream:reconnect", "data": {}}', "stream:reconnect"),
        (TopicRole.MEDIA_EVENTS, b'{"event": "service:pulse"}', "service:pulse"),
        (TopicRole.MEDIA_EVENTS, b'{"event": 7}', "unparseable"),  # event must be a name
        (TopicRole.MEDIA_EVENTS, b'{"event": ""}', "unparseable"),
        (
            TopicRole.MEDIA_EVENTS,
            b'{"event": "' + b"x" * 65 + b'"}',
            "unparseable",
        ),  # no label blow-up
        (TopicRole.MEDIA_EVENTS, b"[1, 2]", "unparseable"),
        (TopicRole.MEDIA_EVENTS, b"\xff\xfe", "unparseable"),  # not UTF-8
        (TopicRole.MEDIA_EVENTS, None, "unparseable"),
        (TopicRole.SNAPSHOTS, b'{"id": 1}', "snapshot"),
        (TopicRole.SNAPSHOTS, None, "tombstone"),  # null deletes
        (TopicRole.CALLBACKS, b'{"streamUid": "j", "status": 7}', "callback"),
        (TopicRole.CALLBACKS, b'"DOWN"', "unparseable"),
    ],
)
def test_records_are_named_without_trusting_their_content(
    role: TopicRole, value: bytes | None, expected: str
) -> None:
    assert record_type(role, value) == expected


def test_every_input_topic_has_a_role() -> None:
    topics = TopicNames()

    roles = topic_roles(topics)

    assert set(roles) == set(topics.inputs)
    assert roles[topics.media_events] is TopicRole.MEDIA_EVENTS
    assert roles[topics.orchestrator_callbacks] is TopicRole.CALLBACKS
    assert roles[topics.inventory_streams] is TopicRole.SNAPSHOTS
