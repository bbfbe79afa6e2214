//! The domain's per-window steps that run for most events, on the rules read once.
//!
//! `CompiledRules.reconnect` does what `transitions.on_counters` then
//! `transitions.on_reconnect` do to a `StreamWindow` in the common cases, where nothing drains
//! before the event: it stores the reconnection (or recognises a repeat) and the counters,
//! says whether it was a repeat, and when the event enters conditions judges the stream again
//! and returns the `StateChange` the domain would. `CompiledRules.server_state` does the same
//! for `transitions.on_server_state`. In every other case (a drain first, a held
//! condition no longer configured) it changes nothing and returns None, and the Python domain
//! applies the event. `CompiledRules.next_wake_ms` is `classify.next_wake_ms`. The Python
//! functions are the reference model: the property tests replay the domain's scripts
//! through both.

use std::cmp::Ordering;

use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple};

use crate::set_at;
use crate::timer::Timer;
use crate::window::{pack, WindowState};

const ENTRY: usize = 16;
const STAMP: usize = 8;

#[derive(Clone, Copy)]
struct Threshold {
    reconnects: usize,
    period_ms: i128,
    clear_below: usize,
}

impl Threshold {
    fn read(threshold: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = threshold.py();
        Ok(Self {
            reconnects: threshold.getattr(intern!(py, "reconnects"))?.extract()?,
            period_ms: threshold.getattr(intern!(py, "period_ms"))?.extract()?,
            clear_below: threshold.getattr(intern!(py, "clear_below"))?.extract()?,
        })
    }
}

/// One condition as a stream is judged by it: a stream state, or reconnect thresholds.
struct Judge {
    name: Py<PyString>,
    state: Option<String>,
    threshold: Option<Threshold>,
}

/// The rules a `Rules` object holds, read once, per kind of camera (normal, increased); and
/// what a state change is made of (its class, the cause of a reconnection's).
#[pyclass(module = "stream_health_core")]
pub struct CompiledRules {
    rules: Py<PyAny>,
    change: Py<PyAny>,
    reconnected: Py<PyAny>,
    stream_state: Py<PyAny>,
    capacity: usize,
    judges: [Vec<Judge>; 2],
    effective: [Vec<(Py<PyString>, Threshold)>; 2],
    longest_ms: [i128; 2],
    reconnect_names: Vec<Py<PyString>>,
}

fn stamp_ms(stamps: &[u8], index: usize) -> i128 {
    let at = index * ENTRY;
    i128::from(u64::from_be_bytes(
        stamps[at..at + STAMP].try_into().expect("8 bytes"),
    ))
}

/// The window with `item` added (or None when it or its id is already there), as
/// `window.insert` does; an item older than `capacity` newer entries is not kept.
fn insert(stamps: &[u8], item: &[u8; ENTRY], capacity: usize) -> Option<Vec<u8>> {
    let size = stamps.len() / ENTRY;
    let (mut lo, mut hi) = (0, size);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match stamps[mid * ENTRY..(mid + 1) * ENTRY].cmp(&item[..]) {
            Ordering::Equal => return None,
            Ordering::Greater => lo = mid + 1,
            Ordering::Less => hi = mid,
        }
    }
    if stamps
        .chunks_exact(ENTRY)
        .any(|entry| entry[STAMP..] == item[STAMP..])
    {
        return None;
    }
    if lo >= capacity {
        return Some(stamps.to_vec());
    }
    let mut grown = Vec::with_capacity(stamps.len() + ENTRY);
    grown.extend_from_slice(&stamps[..lo * ENTRY]);
    grown.extend_from_slice(item);
    grown.extend_from_slice(&stamps[lo * ENTRY..]);
    grown.truncate(capacity * ENTRY);
    Some(grown)
}

#[pymethods]
impl CompiledRules {
    /// Read from a `stream_health.domain.stream.Rules`; `change` makes a `StateChange` (by
    /// keyword), `cause` is the `Cause` enum (its RECONNECT and STREAM_STATE members).
    #[new]
    fn new(
        rules: &Bound<'_, PyAny>,
        change: &Bound<'_, PyAny>,
        cause: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let py = rules.py();
        let mut judges: [Vec<Judge>; 2] = [Vec::new(), Vec::new()];
        let mut effective: [Vec<(Py<PyString>, Threshold)>; 2] = [Vec::new(), Vec::new()];
        let all_judges = rules.getattr(intern!(py, "judges"))?;
        let all_effective = rules.getattr(intern!(py, "effective"))?;
        for kind in 0..2 {
            for judge in all_judges.get_item(kind)?.try_iter()? {
                let judge = judge?.cast_into::<PyTuple>()?;
                let threshold = judge.get_item(2)?;
                judges[kind].push(Judge {
                    name: judge.get_item(0)?.cast_into::<PyString>()?.unbind(),
                    state: judge.get_item(1)?.extract()?,
                    threshold: if threshold.is_none() {
                        None
                    } else {
                        Some(Threshold::read(&threshold)?)
                    },
                });
            }
            for pair in all_effective.get_item(kind)?.try_iter()? {
                let pair = pair?.cast_into::<PyTuple>()?;
                let name = pair.get_item(0)?.cast_into::<PyString>()?.unbind();
                effective[kind].push((name, Threshold::read(&pair.get_item(1)?)?));
            }
        }
        let reconnect_names = rules
            .getattr(intern!(py, "reconnect_names"))?
            .try_iter()?
            .map(|name| Ok(name?.cast_into::<PyString>()?.unbind()))
            .collect::<PyResult<_>>()?;
        let longest_ms: (i128, i128) = rules.getattr(intern!(py, "longest_ms"))?.extract()?;
        Ok(Self {
            rules: rules.clone().unbind(),
            change: change.clone().unbind(),
            reconnected: cause.getattr(intern!(py, "RECONNECT"))?.unbind(),
            stream_state: cause.getattr(intern!(py, "STREAM_STATE"))?.unbind(),
            capacity: rules.getattr(intern!(py, "capacity"))?.extract()?,
            judges,
            effective,
            longest_ms: [longest_ms.0, longest_ms.1],
            reconnect_names,
        })
    }

    /// Apply a reconnection at `at_ms` (clamped) with its counters (None: none), processed
    /// at `now_ms`: True for a repeat; False when applied and no condition changed; the
    /// `StateChange` when applied and the stream entered conditions (`seq` moved); None (the
    /// window untouched) when the Python domain must apply it.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (window, at_ms, event_id, now_ms, attempt, total))]
    fn reconnect(
        &self,
        window: &Bound<'_, PyAny>,
        at_ms: i64,
        event_id: u64,
        now_ms: i64,
        attempt: Option<i64>,
        total: Option<i64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let py = window.py();
        let window = window.cast::<WindowState>()?;
        let (now, at) = (i128::from(now_ms), i128::from(at_ms));
        let Some(seen) = self.undrained(window, now)? else {
            return Ok(None);
        };
        let (facts, held, stamps) = (&seen.facts, &seen.held, seen.stamps.as_bytes());

        // The media server's counters: kept when this event is the latest to report them.
        let version = (at << 64) | i128::from(event_id);
        let counters = Counters::read(window, version, attempt, total)?;

        // Ignored while switched off or for what a delete cancelled.
        let enabled: bool = facts.getattr(intern!(py, "enabled"))?.extract()?;
        let deleted_ms = window.borrow().deleted_ms;
        if !(enabled && at_ms > deleted_ms) {
            counters.store(window)?;
            return Ok(verdict(py, false));
        }
        let mut item = [0u8; ENTRY];
        item[..STAMP].copy_from_slice(&(at_ms as u64).to_be_bytes());
        item[STAMP..].copy_from_slice(&event_id.to_be_bytes());
        let Some(grown) = insert(stamps, &item, self.capacity) else {
            counters.store(window)?;
            return Ok(verdict(py, true)); // a repeat
        };
        let last = window.borrow().last_reconnect();
        let newest = last.map_or(at_ms, |last| last.max(at_ms));

        // A reconnection only raises counts: unless it can enter a condition, nothing changes.
        let mut can_enter = false;
        for name in &self.reconnect_names {
            if !held.contains(name)? {
                can_enter = true;
                break;
            }
        }
        let judged = if can_enter {
            // None: a held condition is no longer configured (the domain lists it as left).
            let state = window
                .borrow()
                .server_state
                .as_ref()
                .map(|s| s.bind(py).clone());
            let Some(judged) = self.judge(window, &seen, &grown, now, state)? else {
                return Ok(None);
            };
            self.changed(&seen, judged)?
        } else {
            None
        };
        let grown = PyBytes::new(py, &grown);
        {
            let mut stored = window.borrow_mut();
            stored.stamps = grown.clone().unbind();
            stored.last_reconnect_ms = pack(Some(newest))?;
        }
        counters.store(window)?;
        match judged {
            None => Ok(verdict(py, false)),
            Some(judged) => Ok(Some(self.entered(
                window,
                &seen,
                &judged,
                grown.as_bytes(),
                now,
                at_ms,
                self.reconnected.bind(py),
            )?)),
        }
    }

    /// Apply the media server's report of the stream's state, at `at_ms` with its counters
    /// (None: none), processed at `now_ms`, as `transitions.on_counters` then
    /// `transitions.on_server_state` do, when nothing drains before it: True for a repeat;
    /// False when applied (or older than the state held) and no condition changed; the
    /// `StateChange` when conditions changed; None (the window untouched) for the domain.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (window, at_ms, event_id, now_ms, state, attempt, total))]
    fn server_state(
        &self,
        window: &Bound<'_, PyAny>,
        at_ms: i64,
        event_id: u64,
        now_ms: i64,
        state: &Bound<'_, PyString>,
        attempt: Option<i64>,
        total: Option<i64>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let py = window.py();
        let window = window.cast::<WindowState>()?;
        let now = i128::from(now_ms);
        let Some(seen) = self.undrained(window, now)? else {
            return Ok(None);
        };
        let stamps = seen.stamps.as_bytes();
        let version = (i128::from(at_ms) << 64) | i128::from(event_id);
        let counters = Counters::read(window, version, attempt, total)?;
        // The latest report wins; an older one changes nothing, the same one is a repeat.
        let stored = window.borrow().server_state_version;
        if version <= stored {
            counters.store(window)?;
            return Ok(verdict(py, version == stored));
        }
        // One string per distinct state, shared by every window (as sys.intern).
        let state = PyString::intern(py, state.to_str()?);
        let Some(judged) = self.judge(window, &seen, stamps, now, Some(state.clone()))? else {
            return Ok(None); // a held condition no longer configured: the domain's
        };
        counters.store(window)?;
        {
            let mut stored = window.borrow_mut();
            stored.server_state = Some(state.clone().unbind());
            stored.server_state_version = version;
        }
        match self.changed(&seen, judged)? {
            None => Ok(verdict(py, false)),
            Some(judged) => Ok(Some(self.entered(
                window,
                &seen,
                &judged,
                stamps,
                now,
                at_ms,
                self.stream_state.bind(py),
            )?)),
        }
    }

    /// Apply `ops[start..]` in order, as `Work.apply` does, while each is a reconnection or a
    /// state report (an `event_type` tuple whose kind is `reconnect` or `state`) that the
    /// compiled steps above take. An op is `(partition, uid, event)`; its window is
    /// `windows[partition][uid]`. A window an event changed (not a repeat) joins
    /// `dirty[partition]` (a set, made if missing), a `StateChange` joins `changes`. Returns
    /// the index of the first op left to Python (`len(ops)`: none) and how many repeats the run
    /// met. One call per run of ops instead of one per op: the interpreter's loop around the
    /// compiled steps had cost about as much as the steps.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (ops, start, windows, now_ms, dirty, changes, event_type, reconnect, state))]
    fn apply_run(
        &self,
        ops: &Bound<'_, PyList>,
        start: usize,
        windows: &Bound<'_, PyDict>,
        now_ms: i64,
        dirty: &Bound<'_, PyDict>,
        changes: &Bound<'_, PyList>,
        event_type: &Bound<'_, PyAny>,
        reconnect: &Bound<'_, PyAny>,
        state: &Bound<'_, PyAny>,
    ) -> PyResult<(usize, usize)> {
        let py = ops.py();
        let mut repeats = 0;
        let mut index = start;
        // Consecutive ops mostly share a partition: its windows and dirty set are kept.
        let mut current: Option<(Bound<'_, PyAny>, Bound<'_, PyDict>)> = None;
        let mut marked: Option<Bound<'_, PySet>> = None;
        while index < ops.len() {
            let op = ops.get_item(index)?.cast_into::<PyTuple>()?;
            let event = op.get_item(2)?;
            if !event.get_type().is(event_type) {
                break;
            }
            let event = event.cast_into::<PyTuple>()?;
            let kind = event.get_item(0)?;
            let (is_reconnect, is_state) = (kind.is(reconnect), kind.is(state));
            if !(is_reconnect || is_state) {
                break;
            }
            let partition = op.get_item(0)?;
            let same = match &current {
                Some((held, _)) => held.eq(&partition)?,
                None => false,
            };
            if !same {
                let held = windows
                    .get_item(&partition)?
                    .ok_or_else(|| PyKeyError::new_err(partition.clone().unbind()))?
                    .cast_into::<PyDict>()?;
                current = Some((partition, held));
                marked = None;
            }
            let (partition, held) = current.as_ref().expect("set above");
            let uid = op.get_item(1)?;
            let window = held
                .get_item(&uid)?
                .ok_or_else(|| PyKeyError::new_err(uid.clone().unbind()))?;
            let at_ms: i64 = event.get_item(2)?.extract()?;
            let event_id: u64 = event.get_item(3)?.extract()?;
            let attempt: Option<i64> = event.get_item(6)?.extract()?;
            let total: Option<i64> = event.get_item(7)?.extract()?;
            let applied = if is_reconnect {
                self.reconnect(&window, at_ms, event_id, now_ms, attempt, total)?
            } else {
                let reported = event.get_item(5)?;
                let reported = if reported.is_none() {
                    PyString::new(py, "")
                } else {
                    reported.cast_into::<PyString>()?
                };
                self.server_state(&window, at_ms, event_id, now_ms, &reported, attempt, total)?
            };
            let Some(applied) = applied else {
                break; // the window untouched: the domain applies this one
            };
            let applied = applied.into_bound(py);
            if applied.is_instance_of::<PyBool>() {
                if applied.is_truthy()? {
                    repeats += 1;
                    index += 1;
                    continue;
                }
            } else {
                changes.append(&applied)?;
            }
            if marked.is_none() {
                marked = Some(set_at(dirty, partition)?);
            }
            marked.as_ref().expect("set above").add(&uid)?;
            index += 1;
        }
        Ok((index, repeats))
    }

    /// When the owner must next look at the window after `after_ms`: a held condition
    /// drains or a count the admin list shows falls (None: never without an event).
    fn next_wake_ms(&self, window: &Bound<'_, PyAny>, after_ms: i64) -> PyResult<Option<i64>> {
        let py = window.py();
        let (held, facts, stamps_object) = {
            let stored = window.cast::<WindowState>()?.borrow();
            (
                stored.conditions.bind(py).clone(),
                stored.facts.bind(py).clone(),
                stored.stamps.bind(py).clone(),
            )
        };
        let kind = usize::from(facts.getattr(intern!(py, "increased"))?.extract::<bool>()?);
        if held.is_empty() || self.effective[kind].is_empty() {
            return Ok(None);
        }
        let stamps = stamps_object.as_bytes();
        let after = i128::from(after_ms);
        // The shown counts: each held reconnect condition's own period, and the longest.
        let mut earliest = first_leave(stamps, self.longest_ms[kind], after);
        for (name, threshold) in &self.effective[kind] {
            if held.contains(name)? {
                earliest = earlier(earliest, first_leave(stamps, threshold.period_ms, after));
            }
        }
        earliest = earlier(earliest, self.next_drain(&held, stamps, kind)?);
        earliest.map(i64::try_from).transpose().map_err(|_| {
            pyo3::exceptions::PyOverflowError::new_err("a wake-up instant beyond 64 bits")
        })
    }

    /// `WindowOwner.rows` in one call: for each window of `dirty` (partition -> uids, the
    /// windows in `windows`: partition -> uid -> window), its next wake-up after `now_ms`
    /// (`next_wake_ms`), scheduled on `timer` under the window's own uid, and its row
    /// (partition, window, wake-up), in `dirty`'s order; then the timer compacts.
    fn rows<'py>(
        &self,
        dirty: &Bound<'py, PyDict>,
        windows: &Bound<'py, PyDict>,
        timer: &Bound<'py, Timer>,
        now_ms: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = dirty.py();
        let rows = PyList::empty(py);
        let mut timer = timer.borrow_mut();
        for (partition, uids) in dirty.iter() {
            let cache = windows
                .get_item(&partition)?
                .ok_or_else(|| PyKeyError::new_err((partition.clone().unbind(),)))?
                .cast_into::<PyDict>()?;
            let number: i32 = partition.extract()?;
            for uid in uids.try_iter()? {
                let uid = uid?;
                let window = cache
                    .get_item(&uid)?
                    .ok_or_else(|| PyKeyError::new_err((uid.unbind(),)))?;
                let instant = self.next_wake_ms(&window, now_ms)?;
                let own = window.cast::<WindowState>()?.borrow().uid.bind(py).clone();
                timer.schedule(number, own, instant);
                rows.append((partition.clone(), window, instant))?;
            }
        }
        timer.compact(py);
        Ok(rows)
    }
}

/// What a step reads of a window first.
struct Seen<'py> {
    facts: Bound<'py, PyAny>,
    kind: usize, // the camera's is_increased_reconnect, as an index
    held: Bound<'py, PyFrozenSet>,
    stamps: Bound<'py, PyBytes>,
}

/// A step's verdict on an event that changed no condition: whether it was a repeat.
fn verdict(py: Python<'_>, repeat: bool) -> Option<Py<PyAny>> {
    Some(PyBool::new(py, repeat).to_owned().into_any().unbind())
}

/// The media server's counters an event reports, if it is the latest to report them
/// (`transitions.on_counters`), to store once the event is applied.
struct Counters(Option<(i64, i64, i128)>);

impl Counters {
    fn read(
        window: &Bound<'_, WindowState>,
        version: i128,
        attempt: Option<i64>,
        total: Option<i64>,
    ) -> PyResult<Self> {
        let (Some(attempt), Some(total)) = (attempt, total) else {
            return Ok(Self(None));
        };
        let stored = window.borrow().counters_version;
        Ok(Self(
            (version > stored).then_some((attempt, total, version)),
        ))
    }

    fn store(&self, window: &Bound<'_, WindowState>) -> PyResult<()> {
        if let Some((attempt, total, version)) = self.0 {
            let mut stored = window.borrow_mut();
            stored.reconnect_attempt = pack(Some(attempt))?;
            stored.reconnect_total = pack(Some(total))?;
            stored.counters_version = version;
        }
        Ok(())
    }
}

fn earlier(one: Option<i128>, other: Option<i128>) -> Option<i128> {
    match (one, other) {
        (Some(one), Some(other)) => Some(one.min(other)),
        (one, None) => one,
        (None, other) => other,
    }
}

/// When the oldest reconnection counted in `period_ms` (stamped after `after - period_ms`)
/// leaves it; None when none is counted.
fn first_leave(stamps: &[u8], period_ms: i128, after: i128) -> Option<i128> {
    let since = after - period_ms;
    let counted = (0..stamps.len() / ENTRY)
        .take_while(|&i| stamp_ms(stamps, i) > since)
        .count();
    (counted > 0).then(|| stamp_ms(stamps, counted - 1) + period_ms)
}

impl CompiledRules {
    /// The window as a step reads it; None when a held condition drains by `now` (the drain
    /// changes the stream before the event does, and the domain applies both).
    fn undrained<'py>(
        &self,
        window: &Bound<'py, WindowState>,
        now: i128,
    ) -> PyResult<Option<Seen<'py>>> {
        let py = window.py();
        let (facts, held, stamps) = {
            let stored = window.borrow();
            (
                stored.facts.bind(py).clone(),
                stored.conditions.bind(py).clone(),
                stored.stamps.bind(py).clone(),
            )
        };
        let kind = usize::from(facts.getattr(intern!(py, "increased"))?.extract::<bool>()?);
        let drains = self.next_drain(&held, stamps.as_bytes(), kind)?;
        if drains.is_some_and(|drains| drains <= now) {
            return Ok(None);
        }
        Ok(Some(Seen {
            facts,
            kind,
            held,
            stamps,
        }))
    }

    /// The first instant at which a held reconnect condition stops holding
    /// (`classify.next_drain_ms`).
    fn next_drain(
        &self,
        held: &Bound<'_, PyFrozenSet>,
        stamps: &[u8],
        kind: usize,
    ) -> PyResult<Option<i128>> {
        let mut earliest = None;
        if held.is_empty() {
            return Ok(earliest);
        }
        for (name, threshold) in &self.effective[kind] {
            if stamps.len() / ENTRY >= threshold.clear_below && held.contains(name)? {
                let drains = stamp_ms(stamps, threshold.clear_below - 1) + threshold.period_ms;
                earliest = earlier(earliest, Some(drains));
            }
        }
        Ok(earliest)
    }

    /// The judges (indices, in configured order) whose conditions `classify` finds held at
    /// `now` with the window's stamps as `stamps` and its state as `state`; None when a held
    /// condition is not configured (any more).
    fn judge(
        &self,
        window: &Bound<'_, WindowState>,
        seen: &Seen<'_>,
        stamps: &[u8],
        now: i128,
        state: Option<Bound<'_, PyString>>,
    ) -> PyResult<Option<Vec<usize>>> {
        let py = window.py();
        let (facts, held, kind) = (&seen.facts, &seen.held, seen.kind);
        let mut configured = 0;
        for judge in &self.judges[kind] {
            configured += usize::from(held.contains(&judge.name)?);
        }
        if configured != held.len() {
            return Ok(None);
        }
        let eligible = window.borrow().present
            && facts.getattr(intern!(py, "enabled"))?.extract::<bool>()?
            && facts.getattr(intern!(py, "managed"))?.extract::<bool>()?;
        if !eligible {
            return Ok(Some(Vec::new()));
        }
        let state = match &state {
            None => None,
            Some(state) => Some(state.to_str()?),
        };
        let size = stamps.len() / ENTRY;
        let mut judged = Vec::new();
        for (index, judge) in self.judges[kind].iter().enumerate() {
            let holds = match judge.threshold {
                None => state.is_some() && state == judge.state.as_deref(),
                Some(threshold) => {
                    let needed = if held.contains(&judge.name)? {
                        threshold.clear_below
                    } else {
                        threshold.reconnects
                    };
                    size >= needed && stamp_ms(stamps, needed - 1) > now - threshold.period_ms
                }
            };
            if holds {
                judged.push(index);
            }
        }
        Ok(Some(judged))
    }

    /// `judged` when it is not the set `held` (None: the same conditions).
    fn changed(&self, seen: &Seen<'_>, judged: Vec<usize>) -> PyResult<Option<Vec<usize>>> {
        let (held, kind) = (&seen.held, seen.kind);
        if judged.len() != held.len() {
            return Ok(Some(judged));
        }
        for &j in &judged {
            if !held.contains(&self.judges[kind][j].name)? {
                return Ok(Some(judged));
            }
        }
        Ok(None)
    }

    /// The window judged in `judged` (from `held`) at `now`: its conditions and `seq` moved,
    /// and the `StateChange` for `cause` stamped `at_ms`, as `transitions.reclassify` makes it.
    #[allow(clippy::too_many_arguments)]
    fn entered(
        &self,
        window: &Bound<'_, WindowState>,
        seen: &Seen<'_>,
        judged: &[usize],
        stamps: &[u8],
        now: i128,
        at_ms: i64,
        cause: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let py = window.py();
        let (facts, held, kind) = (&seen.facts, &seen.held, seen.kind);
        let judges = &self.judges[kind];
        let names =
            |indices: &[usize]| PyTuple::new(py, indices.iter().map(|&j| judges[j].name.bind(py)));
        let conditions = names(judged)?;
        let mut entered = Vec::new();
        for &j in judged {
            if !held.contains(&judges[j].name)? {
                entered.push(j);
            }
        }
        let mut left = Vec::new();
        for (j, judge) in judges.iter().enumerate() {
            if !judged.contains(&j) && held.contains(&judge.name)? {
                left.push(j);
            }
        }
        let interned = self.rules.bind(py).call_method1(
            intern!(py, "interned"),
            (PyList::new(py, conditions.iter())?,),
        )?;
        let (uid, seq) = {
            let mut stored = window.borrow_mut();
            stored.conditions = interned.cast_into::<PyFrozenSet>()?.unbind();
            stored.seq += 1;
            (stored.uid.clone_ref(py), stored.seq)
        };
        let reconnects = PyDict::new(py);
        for (name, threshold) in &self.effective[kind] {
            let since = now - threshold.period_ms;
            let counted = (0..stamps.len() / ENTRY)
                .take_while(|&i| stamp_ms(stamps, i) > since)
                .count();
            reconnects.set_item(name.bind(py), counted)?;
        }
        let fields = PyDict::new(py);
        fields.set_item(intern!(py, "uid"), uid)?;
        fields.set_item(intern!(py, "seq"), seq)?;
        fields.set_item(intern!(py, "conditions"), conditions)?;
        fields.set_item(intern!(py, "entered"), names(&entered)?)?;
        fields.set_item(intern!(py, "left"), names(&left)?)?;
        fields.set_item(intern!(py, "reconnects"), reconnects)?;
        fields.set_item(intern!(py, "cause"), cause)?;
        fields.set_item(intern!(py, "at_ms"), at_ms)?;
        fields.set_item(intern!(py, "facts"), facts)?;
        Ok(self.change.bind(py).call((), Some(&fields))?.unbind())
    }
}
