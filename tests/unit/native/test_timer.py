"""The compiled timer (shared/native/src/timer.rs) against its model: the heap of tuples the
window owner used before, kept here as the reference."""

import heapq

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from stream_health_core import Timer


class ModelTimer:
    """The owner's timer in Python: a min-heap of (instant, uid, partition) with lazy
    deletion, per partition each stream's current wake-up, rebuilt past a stale share."""

    def __init__(self, stale_share: int, stale_floor: int) -> None:
        self.heap: list[tuple[int, str, int]] = []
        self.wakes: dict[int, dict[str, int]] = {}
        self.unsure: set[int] = set()
        self.stale_share, self.stale_floor = stale_share, stale_floor

    def reset(self, partition: int) -> None:
        self.wakes[partition] = {}
        self.unsure.discard(partition)

    def drop_partition(self, partition: int) -> None:
        self.wakes.pop(partition, None)
        self.unsure.discard(partition)

    def doubt(self, partition: int) -> None:
        self.unsure.add(partition)

    def schedule(self, partition: int, uid: str, instant: int | None) -> None:
        wakes = self.wakes.setdefault(partition, {})
        if instant is None:
            wakes.pop(uid, None)
        elif wakes.get(uid) != instant:
            wakes[uid] = instant
            heapq.heappush(self.heap, (instant, uid, partition))

    def due(self, now_ms: int, owned: set[int]) -> dict[int, set[str]]:
        due: dict[int, set[str]] = {}
        while self.heap and self.heap[0][0] <= now_ms:
            instant, uid, partition = heapq.heappop(self.heap)
            if partition not in owned:
                continue
            wakes = self.wakes.setdefault(partition, {})
            current = wakes.get(uid) == instant
            if current:
                del wakes[uid]
            if current or partition in self.unsure:
                due.setdefault(partition, set()).add(uid)
        return due

    def compact(self) -> None:
        current = self.current
        if len(self.heap) <= current + current // self.stale_share + self.stale_floor:
            return
        self.heap = [entry for entry in self.heap if entry[2] in self.unsure] + [
            (instant, uid, partition)
            for partition, wakes in self.wakes.items()
            if partition not in self.unsure
            for uid, instant in wakes.items()
        ]
        heapq.heapify(self.heap)

    @property
    def current(self) -> int:
        return sum(len(wakes) for wakes in self.wakes.values())


_partitions = st.integers(0, 3)


class TimerMachine(RuleBasedStateMachine):
    """Random timers driven through both; every answer and size must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.native = Timer(4, 3)  # a small floor: rebuilds happen within a few steps
        self.model = ModelTimer(4, 3)
        self.owned: set[int] = set()

    @rule(partition=_partitions)
    def take_over(self, partition: int) -> None:
        self.owned.add(partition)
        self.native.reset(partition)
        self.model.reset(partition)

    @rule(partition=_partitions)
    def let_go(self, partition: int) -> None:
        self.owned.discard(partition)
        self.native.drop_partition(partition)
        self.model.drop_partition(partition)

    @rule(partition=_partitions)
    def doubt(self, partition: int) -> None:
        self.native.doubt(partition)
        self.model.doubt(partition)

    @rule(
        partition=_partitions,
        uid=st.integers(0, 6),
        instant=st.one_of(st.none(), st.integers(0, 40)),
    )
    def schedule(self, partition: int, uid: int, instant: int | None) -> None:
        # A fresh str object each time: equal uids are found by value, not by identity.
        self.native.schedule(partition, f"u{uid}", instant)
        self.model.schedule(partition, f"u{uid}", instant)

    @rule(now_ms=st.integers(0, 45))
    def due(self, now_ms: int) -> None:
        assert self.native.due(now_ms, self.owned) == self.model.due(now_ms, self.owned)

    @rule()
    def compact(self) -> None:
        self.native.compact()
        self.model.compact()

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.native) == len(self.model.heap)
        assert self.native.current == self.model.current


TimerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60)
test_the_compiled_timer_answers_as_the_model = TimerMachine.TestCase


def test_an_empty_timer_has_nothing_due() -> None:
    timer = Timer(4, 4096)

    assert timer.due(10**15, {0}) == {}
    assert len(timer) == 0
