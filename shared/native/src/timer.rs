//! The window owner's timer: when it must next look at each stream (a condition drains, a
//! count the admin list shows falls).
//!
//! The same algorithm as `stream_health_worker.timer.Timer` (the reference model the
//! property tests compare it with): a min-heap of wake-ups with lazy deletion, per partition
//! each stream's current one, rebuilt once the stale entries outnumber a share of the
//! current ones. An entry here is 24 bytes (instant, partition, a reference to the uid the
//! window holds) where the model's is a tuple and an int (~100 bytes).

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PySet, PyString};

use crate::set_at;

/// A uid, hashed and compared as Python hashes and compares it (str hashes are cached).
struct Uid(Py<PyString>);

impl Hash for Uid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // SAFETY: the timer's methods run attached to the interpreter, and a str's hash
        // cannot fail.
        state.write_isize(unsafe { ffi::PyObject_Hash(self.0.as_ptr()) });
    }
}

impl PartialEq for Uid {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: as above; PyUnicode_Compare of two str objects cannot fail.
        self.0.as_ptr() == other.0.as_ptr()
            || unsafe { ffi::PyUnicode_Compare(self.0.as_ptr(), other.0.as_ptr()) == 0 }
    }
}

impl Eq for Uid {}

/// Python's str hash is already well mixed: used as it is.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_isize(&mut self, value: isize) {
        self.0 = value as u64;
    }
}

type Wakes = HashMap<Uid, i64, BuildHasherDefault<PassThrough>>;

/// One wake-up; ordered by instant (then partition) only, as nothing depends on the order
/// among equal instants.
struct Wake {
    instant: i64,
    partition: i32,
    uid: Py<PyString>,
}

impl PartialEq for Wake {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Wake {}

impl PartialOrd for Wake {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Wake {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.instant, self.partition).cmp(&(other.instant, other.partition))
    }
}

#[pyclass(module = "stream_health_core")]
pub struct Timer {
    heap: BinaryHeap<Reverse<Wake>>,
    wakes: HashMap<i32, Wakes>,
    unsure: HashSet<i32>,
    stale_share: usize,
    stale_floor: usize,
}

#[pymethods]
impl Timer {
    /// Rebuilt once the entries exceed the current wake-ups by more than 1/`stale_share` of
    /// them plus `stale_floor`.
    #[new]
    fn new(stale_share: usize, stale_floor: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            wakes: HashMap::new(),
            unsure: HashSet::new(),
            stale_share,
            stale_floor,
        }
    }

    /// A partition taken over: no current wake-ups yet, and sure of them.
    fn reset(&mut self, partition: i32) {
        self.wakes.insert(partition, Wakes::default());
        self.unsure.remove(&partition);
    }

    /// A partition let go: its current wake-ups forgotten (its entries fire nothing).
    fn drop_partition(&mut self, partition: i32) {
        self.wakes.remove(&partition);
        self.unsure.remove(&partition);
    }

    /// What PostgreSQL schedules for `partition` may differ from its current wake-ups: all
    /// its entries fire.
    fn doubt(&mut self, partition: i32) {
        self.unsure.insert(partition);
    }

    /// Make `instant` the stream's next wake-up (None: none).
    pub(crate) fn schedule(
        &mut self,
        partition: i32,
        uid: Bound<'_, PyString>,
        instant: Option<i64>,
    ) {
        let wakes = self.wakes.entry(partition).or_default();
        let Some(instant) = instant else {
            wakes.remove(&Uid(uid.unbind()));
            return;
        };
        match wakes.entry(Uid(uid.clone().unbind())) {
            MapEntry::Occupied(mut found) => {
                if *found.get() == instant {
                    return;
                }
                found.insert(instant);
            }
            MapEntry::Vacant(slot) => {
                slot.insert(instant);
            }
        }
        self.heap.push(Reverse(Wake {
            instant,
            partition,
            uid: uid.unbind(),
        }));
    }

    /// The streams of `owned` partitions to look at by `now_ms`: partition -> uids.
    fn due<'py>(
        &mut self,
        py: Python<'py>,
        now_ms: i64,
        owned: &Bound<'py, PySet>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let due = PyDict::new(py);
        while self.heap.peek().is_some_and(|top| top.0.instant <= now_ms) {
            let Reverse(wake) = self.heap.pop().expect("peeked");
            if !owned.contains(wake.partition)? {
                continue;
            }
            let wakes = self.wakes.entry(wake.partition).or_default();
            let key = Uid(wake.uid);
            let current = wakes.get(&key) == Some(&wake.instant);
            if current {
                wakes.remove(&key);
            }
            if current || self.unsure.contains(&wake.partition) {
                let partition = wake.partition.into_pyobject(py)?;
                set_at(&due, partition.as_any())?.add(key.0)?;
            }
        }
        Ok(due)
    }

    /// Rebuild the heap from the current wake-ups (and every entry of the unsure
    /// partitions) once stale entries outnumber the bound.
    pub(crate) fn compact(&mut self, py: Python<'_>) {
        let current = self.current();
        if self.heap.len() <= current + current / self.stale_share + self.stale_floor {
            return;
        }
        let unsure = &self.unsure;
        let mut kept: Vec<Reverse<Wake>> = std::mem::take(&mut self.heap)
            .into_vec()
            .into_iter()
            .filter(|entry| unsure.contains(&entry.0.partition))
            .collect();
        for (&partition, wakes) in &self.wakes {
            if unsure.contains(&partition) {
                continue;
            }
            kept.extend(wakes.iter().map(|(uid, &instant)| {
                Reverse(Wake {
                    instant,
                    partition,
                    uid: uid.0.clone_ref(py),
                })
            }));
        }
        self.heap = BinaryHeap::from(kept);
    }

    /// How many current wake-ups there are.
    #[getter]
    fn current(&self) -> usize {
        self.wakes.values().map(HashMap::len).sum()
    }

    /// How many entries the heap holds, stale ones included.
    fn __len__(&self) -> usize {
        self.heap.len()
    }
}
