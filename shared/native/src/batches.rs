//! A consumed batch's bookkeeping, one pass per batch instead of a Python loop per record:
//! where each partition starts (`runtime._starts`) and which records are not yet applied
//! (`ingest._fresh`). Records are read through their `topic`, `partition` and `offset`
//! attributes, so any object with those (aiokafka's records, the tests') will do.

use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet, PyTuple};

/// The (topic, partition) of a run of consecutive records: they share those objects.
struct Place<'py> {
    topic: Bound<'py, PyAny>,
    partition: Bound<'py, PyAny>,
    key: Bound<'py, PyTuple>,
}

impl<'py> Place<'py> {
    fn new(topic: Bound<'py, PyAny>, partition: Bound<'py, PyAny>) -> PyResult<Self> {
        let key = PyTuple::new(topic.py(), [topic.clone(), partition.clone()])?;
        Ok(Self {
            topic,
            partition,
            key,
        })
    }

    fn holds(&self, topic: &Bound<'py, PyAny>, partition: &Bound<'py, PyAny>) -> PyResult<bool> {
        Ok((self.topic.is(topic) || self.topic.eq(topic)?)
            && (self.partition.is(partition) || self.partition.eq(partition)?))
    }
}

/// A record's topic, partition and offset.
fn read<'py>(record: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, i64)> {
    let py = record.py();
    Ok((
        record.getattr(intern!(py, "topic"))?,
        record.getattr(intern!(py, "partition"))?,
        record.getattr(intern!(py, "offset"))?.extract()?,
    ))
}

/// Each (topic, partition) of `records` and its first (lowest) offset there.
#[pyfunction]
pub fn first_offsets<'py>(records: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let starts = PyDict::new(records.py());
    let mut run: Option<(Place<'py>, i64)> = None;
    for record in records.try_iter()? {
        let (topic, partition, offset) = read(&record?)?;
        if let Some((place, lowest)) = run.as_mut() {
            if place.holds(&topic, &partition)? {
                *lowest = (*lowest).min(offset);
                continue;
            }
        }
        if let Some((place, lowest)) = run.take() {
            lower(&starts, &place, lowest)?;
        }
        run = Some((Place::new(topic, partition)?, offset));
    }
    if let Some((place, lowest)) = run {
        lower(&starts, &place, lowest)?;
    }
    Ok(starts)
}

fn lower(starts: &Bound<'_, PyDict>, place: &Place<'_>, offset: i64) -> PyResult<()> {
    let lowest = match starts.get_item(&place.key)? {
        Some(found) => found.extract::<i64>()?.min(offset),
        None => offset,
    };
    starts.set_item(&place.key, lowest)
}

/// Where a run of one partition's records stands: applied below `from`; the offset past its
/// last fresh record (if any); how many it skipped.
struct Fresh<'py> {
    place: Place<'py>,
    from: i64,
    moved: Option<i64>,
    skipped: usize,
}

/// The records of `records` at or past where their partition's work stands, in order, as
/// `ingest._fresh` picks them: a record below `max(stored[(topic, partition)][0],
/// next_offsets.get((topic, partition), 0))` was applied before and counts in
/// `skipped[topic]`; a fresh one moves `next_offsets[(topic, partition)]` past it.
#[pyfunction]
pub fn fresh<'py>(
    records: &Bound<'py, PyAny>,
    stored: &Bound<'py, PyDict>,
    next_offsets: &Bound<'py, PyDict>,
    skipped: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyList>> {
    let kept = PyList::empty(records.py());
    let mut run: Option<Fresh<'py>> = None;
    for record in records.try_iter()? {
        let record = record?;
        let (topic, partition, offset) = read(&record)?;
        let known = match run.as_ref() {
            Some(run) => run.place.holds(&topic, &partition)?,
            None => false,
        };
        if !known {
            if let Some(done) = run.take() {
                settle(next_offsets, skipped, done)?;
            }
            let place = Place::new(topic, partition)?;
            let stored_at: i64 = stored
                .get_item(&place.key)?
                .ok_or_else(|| PyKeyError::new_err((place.key.clone().unbind(),)))?
                .get_item(0)?
                .extract()?;
            let next: i64 = match next_offsets.get_item(&place.key)? {
                Some(next) => next.extract()?,
                None => 0,
            };
            run = Some(Fresh {
                place,
                from: stored_at.max(next),
                moved: None,
                skipped: 0,
            });
        }
        let run = run.as_mut().expect("set above");
        if offset < run.from {
            run.skipped += 1;
            continue;
        }
        kept.append(&record)?;
        run.from = offset + 1;
        run.moved = Some(offset + 1);
    }
    if let Some(done) = run {
        settle(next_offsets, skipped, done)?;
    }
    Ok(kept)
}

fn settle(
    next_offsets: &Bound<'_, PyDict>,
    skipped: &Bound<'_, PyDict>,
    run: Fresh<'_>,
) -> PyResult<()> {
    if let Some(next) = run.moved {
        next_offsets.set_item(&run.place.key, next)?;
    }
    if run.skipped > 0 {
        let topic = &run.place.topic;
        let before: usize = match skipped.get_item(topic)? {
            Some(before) => before.extract()?,
            None => 0,
        };
        skipped.set_item(topic, before + run.skipped)?;
    }
    Ok(())
}

/// The (partition, uid) pairs of `wanted` (partition -> uids) that `windows` (partition ->
/// uid -> window) does not hold, in `wanted`'s order: what `WindowOwner.load` must read.
#[pyfunction]
pub fn missing<'py>(
    wanted: &Bound<'py, PyDict>,
    windows: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyList>> {
    let absent = PyList::empty(wanted.py());
    for (partition, uids) in wanted.iter() {
        let cache = windows.get_item(&partition)?;
        for uid in uids.try_iter()? {
            let uid = uid?;
            let held = match &cache {
                Some(cache) => cache.contains(&uid)?,
                None => false,
            };
            if !held {
                absent.append((partition.clone(), uid))?;
            }
        }
    }
    Ok(absent)
}

/// Add each uid of `uids` to `into`, as the window of `windows` (uid -> window) holds it
/// where it holds one (its `uid`, one string per stream), else as given.
#[pyfunction]
pub fn add_own_uids<'py>(
    into: &Bound<'py, PySet>,
    uids: &Bound<'py, PyAny>,
    windows: &Bound<'py, PyDict>,
) -> PyResult<()> {
    let py = into.py();
    for uid in uids.try_iter()? {
        let uid = uid?;
        match windows.get_item(&uid)? {
            Some(window) => into.add(window.getattr(intern!(py, "uid"))?)?,
            None => into.add(uid)?,
        }
    }
    Ok(())
}
