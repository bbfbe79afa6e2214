"""The windows of the stream partitions this worker owns: cached, fenced, timed to drain.

A stream's partition (of the media-events topic and of the co-partitioned signals topic)
has one owner at a time. The owner keeps the windows it has touched in memory; the offsets
row of the partition, locked in each transaction, is the fence: if someone else moved its
position (its offset, or its epoch, which a drain or a reclassification moves) since this
worker last did, the cache of that partition is stale and is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_health.db.inventory import load_facts
from stream_health.db.repository import Key, Position
from stream_health.db.windows import (
    WindowItem,
    list_dirty_uids,
    load_partition_rules,
    load_windows,
    pending_drains,
)
from stream_health.domain.conditions import conditions_to_data
from stream_health.domain.stream import UNKNOWN, Cause, Rules, StateChange, StreamWindow
from stream_health_core import CompiledRules, Timer, add_own_uids
from stream_health_core import missing as absent

log = logging.getLogger(__name__)

# The timer is rebuilt once stale entries outnumber 1/STALE_SHARE of the live ones (past a
# floor, so a small timer is not rebuilt every batch): a window's wake-up moves with most
# events, and entries are never updated in place.
STALE_SHARE = 4
STALE_FLOOR = 4096


@dataclass(slots=True)
class ListDirty:
    """The windows a list flush took: per partition, their uids; and whose facts to rewrite."""

    windows: dict[int, set[str]] = field(default_factory=dict)
    facts: set[str] = field(default_factory=set)

    @property
    def uids(self) -> list[str]:
        """Every uid taken."""
        return [uid for uids in self.windows.values() for uid in uids]


class WindowOwner:
    """Per owned partition: uid -> window; plus the timer of their wake-ups."""

    def __init__(self, *, rules: Rules, owned_topics: Collection[str]) -> None:
        self.rules = rules
        # The rules read once for the compiled domain steps (shared/native/src/rules.rs): the
        # reconnections and state reports nothing drains before (apply.Work), the windows'
        # next wake-ups.
        self.compiled = CompiledRules(rules, StateChange, Cause)
        self._owned_topics = frozenset(owned_topics)
        self._cache: dict[int, dict[str, StreamWindow]] = {}
        self._positions: dict[Key, Position] = {}
        # When to look at each stream again (shared/native/src/timer.rs): a min-heap with lazy
        # deletion and per partition each stream's current wake-up. A partition whose windows
        # were dropped from the cache (a rollback, another owner) is in doubt: what PostgreSQL
        # schedules may differ from the current wake-ups, so all its entries fire.
        self._timer = Timer(STALE_SHARE, STALE_FLOOR)
        # Windows stored since their list rows were last written, per partition; and the
        # partitions where only PostgreSQL knows them all (just taken over, or cache dropped).
        self._list_dirty: dict[int, set[str]] = {}
        self._list_unknown: set[int] = set()
        # Streams whose inventory changed since their list rows were written: a flush rewrites
        # their facts rows too (the others' facts rows change only with their membership).
        self._facts_stale: set[str] = set()
        # The condition names the list tables number already (ingest._number_conditions).
        self.numbered: set[str] = set()
        self.owned: set[int] = set()
        # Partitions whose streams were judged by other conditions: partition -> those (or None).
        self.reconfigure: dict[int, Any] = {}

    @property
    def held(self) -> int:
        """How many windows are in memory."""
        return sum(len(windows) for windows in self._cache.values())

    async def assigned(self, conn: Any, partitions: Collection[int]) -> None:
        """Take partitions over: their stored drain instants join the timer."""
        fresh = set(partitions) - self.owned
        self.owned |= fresh
        self._list_unknown |= fresh
        for partition in fresh:
            self._timer.reset(partition)
        for instant, uid, partition in await pending_drains(conn, partitions=fresh):
            self._timer.schedule(partition, uid, instant)
        judged_by = await load_partition_rules(conn, partitions=fresh)
        current = conditions_to_data(self.rules.conditions)
        for partition in fresh:
            if judged_by.get(partition) != current:
                self.reconfigure[partition] = judged_by.get(partition)

    def revoked(self, partitions: Iterable[int]) -> None:
        """Let partitions go: forget their windows and positions."""
        for partition in partitions:
            self.owned.discard(partition)
            self.reconfigure.pop(partition, None)
            self.forget(partition)
            self._timer.drop_partition(partition)
            # The next owner finds them above the partition's list mark in PostgreSQL.
            self._facts_stale -= self._list_dirty.pop(partition, set())
            self._list_unknown.discard(partition)

    def forget(self, partition: int) -> None:
        """Drop what is cached for a partition (it may have changed elsewhere)."""
        self._cache.pop(partition, None)
        for key in [k for k in self._positions if k[1] == partition]:
            del self._positions[key]
        if partition in self.owned:  # someone else may have stored windows list-dirty
            self._list_unknown.add(partition)
            self._timer.doubt(partition)  # and other wake-ups

    def fence(self, stored: Mapping[Key, Position]) -> None:
        """Compare locked positions with ours: a partition another owner wrote is stale."""
        for (topic, partition), position in stored.items():
            if topic not in self._owned_topics:
                continue
            if self._positions.get((topic, partition)) != position and partition in self._cache:
                log.info("worker.window_cache_dropped", extra={"partition": partition})
                self.forget(partition)

    def positions(self, keys: Collection[Key]) -> dict[Key, Position]:
        """Where this owner left those of `keys` it knows (topic, partition): the positions its
        last transaction on them stored, or the last prepared batch will store."""
        known = self._positions
        return {key: known[key] for key in keys if key in known}

    def advanced(self, positions: Mapping[Key, Position]) -> None:
        """Remember where our transaction (committed, or prepared and on its way) left the
        owned partitions."""
        for (topic, partition), position in positions.items():
            if topic in self._owned_topics:
                self._positions[(topic, partition)] = position

    @property
    def windows(self) -> dict[int, dict[str, StreamWindow]]:
        """The windows in memory: partition -> uid -> window (for the compiled apply run)."""
        return self._cache

    def window(self, partition: int, uid: str) -> StreamWindow:
        """A window loaded by `load` (KeyError otherwise)."""
        return self._cache[partition][uid]

    async def load(self, conn: Any, wanted: Mapping[int, Collection[str]]) -> None:
        """Bring the windows of `wanted` (partition -> uids) into memory."""
        missing = absent(wanted, self._cache)  # compiled: one pass, no Python loop per uid
        if not missing:
            return
        stored = await load_windows(conn, uids=[uid for _, uid in missing])
        unknown = {uid for _, uid in missing if uid not in stored}
        facts = await load_facts(conn, uuids=unknown) if unknown else {}
        for partition, uid in missing:
            window = stored.get(uid) or StreamWindow(uid, facts=facts.get(uid, UNKNOWN))
            self._cache.setdefault(partition, {})[uid] = window

    def rows(self, dirty: dict[int, set[str]], *, now_ms: int) -> list[WindowItem]:
        """What to save for the dirty windows (`save_windows`); their next wake-ups join the
        timer.

        Compiled (`CompiledRules.rows`): per window, `classify.next_wake_ms` after `now_ms`,
        scheduled under the window's own uid (not the event's equal copy: the timer's entries
        share one string per stream instead of holding one per batch), and the row
        (partition, window, wake-up); then the timer compacts.
        """
        return self.compiled.rows(dirty, self._cache, self._timer, now_ms)

    def stored(
        self, dirty: Mapping[int, Collection[str]], *, refreshed: Collection[str] = ()
    ) -> None:
        """Windows committed list-dirty (after their transaction): the next flush lists them;
        `refreshed`: those of them whose inventory changed."""
        for partition, uids in dirty.items():
            if partition in self.owned:
                # The windows' own uids (compiled): an event's equal copy would be held until
                # the flush, a second string per stream (a set keeps the element it has).
                add_own_uids(
                    self._list_dirty.setdefault(partition, set()),
                    uids,
                    self._cache.get(partition, {}),
                )
                if refreshed:
                    self._facts_stale.update(uid for uid in uids if uid in refreshed)

    @property
    def list_pending(self) -> bool:
        """Whether a list flush has anything to write (or to look for)."""
        return bool(self.list_partitions)

    @property
    def list_partitions(self) -> set[int]:
        """The owned partitions a list flush looks at."""
        dirty = {partition for partition, uids in self._list_dirty.items() if uids}
        return (dirty | self._list_unknown) & self.owned

    async def take_list_dirty(self, conn: Any, partitions: Collection[int]) -> ListDirty:
        """Take the list-dirty windows of `partitions` (looked up where unknown), loaded, for a
        flush: windows stored from now on are dirty again. `untake` if the flush fails."""
        found = await list_dirty_uids(conn, partitions=self._list_unknown & set(partitions))
        taken = self.take(partitions, found=found)
        try:
            await self.load(conn, taken.windows)
        except BaseException:
            self.untake(taken)
            raise
        return taken

    def take(self, partitions: Collection[int], *, found: Mapping[int, set[str]]) -> ListDirty:
        """Take the list-dirty windows of `partitions`: those known here and `found` stored
        behind their rows there (the whole set for the partitions where only PostgreSQL knew
        them)."""
        taken = ListDirty()
        for partition in sorted(set(partitions) & self.owned):
            uids = self._list_dirty.pop(partition, set()) | found.get(partition, set())
            taken.windows[partition] = uids
            # Found in PostgreSQL: whoever stored them may have seen inventory change.
            taken.facts |= found.get(partition, set())
            taken.facts |= uids & self._facts_stale
            self._facts_stale -= uids
            self._list_unknown.discard(partition)
        return taken

    def untake(self, taken: ListDirty) -> None:
        """A flush of `taken` failed: its windows are list-dirty again, as PostgreSQL says."""
        for partition, uids in taken.windows.items():
            if partition in self.owned:
                self._list_dirty.setdefault(partition, set()).update(uids)
                self._list_unknown.add(partition)  # PostgreSQL may know of more
        self._facts_stale |= taken.facts

    def owns_as_stored(self, stored: Mapping[Key, Position], partitions: Collection[int]) -> bool:
        """Whether this worker still owns `partitions` and was the last to write them: what it
        took for a flush is then what PostgreSQL holds (nobody else wrote those windows)."""
        for (topic, partition), position in stored.items():
            if partition not in partitions or topic not in self._owned_topics:
                continue
            if partition not in self.owned or self._positions.get((topic, partition)) != position:
                return False
        return True

    def due(self, now_ms: int) -> dict[int, set[str]]:
        """The owned streams to look at by `now_ms` (a drain or a shown count), by partition."""
        return self._timer.due(now_ms, self.owned)
