from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.db.repository import Position
from stream_health.domain import window
from stream_health.domain.stream import Rules, StreamWindow
from stream_health_worker.owner import STALE_FLOOR, WindowOwner

TOPICS = TopicNames()


def _owner(*partitions: int) -> WindowOwner:
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=TOPICS.owned_by_stream)
    owner.owned = set(partitions)
    return owner


def test_a_flush_takes_the_flagged_windows_and_those_stored_meanwhile_stay_behind() -> None:
    owner = _owner(0, 1)
    owner.stored({0: {"a", "b"}, 1: {"c"}})

    taken = owner.take({0, 1}, found={})
    owner.stored({0: {"b", "d"}})  # a batch commits while the flush writes

    assert taken.windows == {0: {"a", "b"}, 1: {"c"}}
    assert owner.list_partitions == {0}
    assert owner.take({0, 1}, found={}).windows == {0: {"b", "d"}, 1: set()}


def test_windows_stored_after_a_flush_are_held_by_their_own_uid_not_the_events_copy() -> None:
    owner = _owner(0)
    own = "".join(["u", "1"])  # the window's string
    owner.windows[0] = {own: StreamWindow(own)}
    owner.stored({0: {own}})
    owner.take({0}, found={})

    copy = "".join(["u", "1"])  # an equal string from a later batch's event
    owner.stored({0: {copy}})

    [held] = owner.take({0}, found={}).windows[0]
    assert held is own


def test_facts_rows_are_rewritten_for_rechecked_streams_and_those_found_flagged() -> None:
    owner = _owner(0, 1)
    owner.stored({0: {"a", "b"}}, refreshed={"b", "elsewhere"})

    taken = owner.take({0, 1}, found={1: {"c"}})  # partition 1: only PostgreSQL knew

    assert taken.windows == {0: {"a", "b"}, 1: {"c"}}
    assert taken.facts == {"b", "c"}
    owner.stored({0: {"a"}})
    assert owner.take({0}, found={}).facts == set()  # rewritten once, not again


def test_a_failed_flush_gives_its_windows_back_and_looks_in_postgresql_again() -> None:
    owner = _owner(0, 1)
    owner.stored({0: {"a"}, 1: {"c"}}, refreshed={"a"})
    taken = owner.take({0, 1}, found={})

    owner.revoked([1])  # meanwhile: partition 1 went to another worker
    owner.untake(taken)

    again = owner.take({0, 1}, found={0: {"x"}})
    assert again.windows == {0: {"a", "x"}}
    assert again.facts == {"a", "x"}
    assert owner.list_partitions == set()


def test_a_flush_commits_only_while_nobody_else_wrote_its_partitions() -> None:
    owner = _owner(0, 1)
    ours = {
        (TOPICS.media_events, 0): Position(10, 2),
        (TOPICS.signals, 0): Position(3, 2),
        (TOPICS.media_events, 1): Position(7, 0),
    }
    owner.advanced(ours)

    assert owner.owns_as_stored(ours, {0, 1})
    moved_1 = {**ours, (TOPICS.media_events, 1): Position(9, 0)}
    assert owner.owns_as_stored(moved_1, {0})  # 1 not flushed
    assert not owner.owns_as_stored({**ours, (TOPICS.signals, 0): Position(4, 2)}, {0})
    # Another owner's drain: no offset moved, the epoch did.
    assert not owner.owns_as_stored({**ours, (TOPICS.signals, 0): Position(3, 3)}, {0})
    owner.revoked([1])
    assert not owner.owns_as_stored(ours, {1})


def test_the_timer_keeps_stale_wake_ups_within_a_quarter_of_the_live_ones() -> None:
    owner = _owner(0)
    uids = [f"u-{i}" for i in range(5_000)]
    owner._cache[0] = {uid: StreamWindow(uid, conditions=frozenset({"incorrect"})) for uid in uids}
    bound = len(uids) + len(uids) // 4 + STALE_FLOOR  # stale: at most a quarter, past a floor
    stored: list[int] = []
    for batch in range(1, 11):  # each batch moves every wake-up: a newer reconnection
        for uid in uids:
            stream = owner.window(0, uid)
            stream.stamps, _ = window.insert(
                stream.stamps, window.entry(batch * 1_000, batch), capacity=5
            )
        for first in range(0, len(uids), 500):  # stored in parts, as batches of fewer events
            owner.rows({0: set(uids[first : first + 500])}, now_ms=batch * 1_000)
            stored.append(len(owner._timer))

    assert max(stored) <= bound
    assert min(stored) < max(stored)  # rebuilt along the way
    # The window keeps the 5 newest (6,000 to 10,000): the oldest leaves the 24 h count first.
    # Every earlier wake-up is stale and fires nothing.
    day = 24 * 3600 * 1000
    assert owner.due(6_000 + day - 1) == {}
    assert owner.due(6_000 + day) == {0: set(uids)}
    assert len(owner._timer) == 0
