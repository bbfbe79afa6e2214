//! `StreamWindow`'s storage: what the owner keeps per stream, in one compact object.
//!
//! The Python class `stream_health.domain.stream.StreamWindow` subclasses this one (with no
//! instance dict) for its defaults; the domain reads and writes the same attributes it did
//! when the window was a slotted dataclass. Here the integers live in the object itself: no
//! separate int objects for the instants, counters and 128-bit versions. (The Python
//! subclass, as every class statement makes it, is still tracked by the collector.)

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFrozenSet, PyString};

/// An optional 64-bit integer stored in 8 bytes: `i64::MIN` stands for None (and is refused
/// as a value).
const NONE: i64 = i64::MIN;

pub(crate) fn pack(value: Option<i64>) -> PyResult<i64> {
    match value {
        None => Ok(NONE),
        Some(NONE) => Err(PyValueError::new_err("an integer above -2**63 or None")),
        Some(value) => Ok(value),
    }
}

fn unpack(value: i64) -> Option<i64> {
    (value != NONE).then_some(value)
}

#[pyclass(module = "stream_health_core", subclass)]
pub struct WindowState {
    #[pyo3(get, set)]
    pub(crate) uid: Py<PyString>,
    #[pyo3(get, set)]
    pub(crate) stamps: Py<PyBytes>,
    pub(crate) last_reconnect_ms: i64,
    #[pyo3(get, set)]
    pub(crate) server_state: Option<Py<PyString>>,
    #[pyo3(get, set)]
    pub(crate) server_state_version: i128,
    #[pyo3(get, set)]
    pub(crate) presence_version: i128,
    #[pyo3(get, set)]
    pub(crate) counters_version: i128,
    #[pyo3(get, set)]
    pub(crate) deleted_ms: i64,
    pub(crate) reconnect_attempt: i64,
    pub(crate) reconnect_total: i64,
    #[pyo3(get, set)]
    pub(crate) seq: i64,
    #[pyo3(get, set)]
    pub(crate) facts: Py<PyAny>,
    #[pyo3(get, set)]
    pub(crate) conditions: Py<PyFrozenSet>,
    #[pyo3(get, set)]
    pub(crate) present: bool,
}

impl WindowState {
    pub(crate) fn last_reconnect(&self) -> Option<i64> {
        unpack(self.last_reconnect_ms)
    }

    pub(crate) fn attempt(&self) -> Option<i64> {
        unpack(self.reconnect_attempt)
    }

    pub(crate) fn total(&self) -> Option<i64> {
        unpack(self.reconnect_total)
    }
}

#[pymethods]
impl WindowState {
    /// Every field, in the order the dataclass declared them (the subclass gives defaults).
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (uid, stamps, last_reconnect_ms, server_state, server_state_version,
        present, presence_version, deleted_ms, reconnect_attempt, reconnect_total,
        counters_version, facts, conditions, seq))]
    fn new(
        uid: Py<PyString>,
        stamps: Py<PyBytes>,
        last_reconnect_ms: Option<i64>,
        server_state: Option<Py<PyString>>,
        server_state_version: i128,
        present: bool,
        presence_version: i128,
        deleted_ms: i64,
        reconnect_attempt: Option<i64>,
        reconnect_total: Option<i64>,
        counters_version: i128,
        facts: Py<PyAny>,
        conditions: Py<PyFrozenSet>,
        seq: i64,
    ) -> PyResult<Self> {
        Ok(Self {
            uid,
            stamps,
            last_reconnect_ms: pack(last_reconnect_ms)?,
            server_state,
            server_state_version,
            presence_version,
            counters_version,
            deleted_ms,
            reconnect_attempt: pack(reconnect_attempt)?,
            reconnect_total: pack(reconnect_total)?,
            seq,
            facts,
            conditions,
            present,
        })
    }

    #[getter]
    fn last_reconnect_ms(&self) -> Option<i64> {
        unpack(self.last_reconnect_ms)
    }

    #[setter]
    fn set_last_reconnect_ms(&mut self, value: Option<i64>) -> PyResult<()> {
        self.last_reconnect_ms = pack(value)?;
        Ok(())
    }

    #[getter]
    fn reconnect_attempt(&self) -> Option<i64> {
        unpack(self.reconnect_attempt)
    }

    #[setter]
    fn set_reconnect_attempt(&mut self, value: Option<i64>) -> PyResult<()> {
        self.reconnect_attempt = pack(value)?;
        Ok(())
    }

    #[getter]
    fn reconnect_total(&self) -> Option<i64> {
        unpack(self.reconnect_total)
    }

    #[setter]
    fn set_reconnect_total(&mut self, value: Option<i64>) -> PyResult<()> {
        self.reconnect_total = pack(value)?;
        Ok(())
    }

    /// Whether every field equals `other`'s (a window of another type: NotImplemented).
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(other) = other.cast::<WindowState>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.borrow();
        let same = self.last_reconnect_ms == other.last_reconnect_ms
            && self.server_state_version == other.server_state_version
            && self.presence_version == other.presence_version
            && self.counters_version == other.counters_version
            && self.deleted_ms == other.deleted_ms
            && self.reconnect_attempt == other.reconnect_attempt
            && self.reconnect_total == other.reconnect_total
            && self.seq == other.seq
            && self.present == other.present
            && self.uid.bind(py).as_any().eq(other.uid.bind(py))?
            && self.stamps.bind(py).as_any().eq(other.stamps.bind(py))?
            && match (&self.server_state, &other.server_state) {
                (None, None) => true,
                (Some(one), Some(two)) => one.bind(py).as_any().eq(two.bind(py))?,
                _ => false,
            }
            && self.facts.bind(py).as_any().eq(other.facts.bind(py))?
            && self
                .conditions
                .bind(py)
                .as_any()
                .eq(other.conditions.bind(py))?;
        Ok(pyo3::types::PyBool::new(py, same)
            .to_owned()
            .into_any()
            .unbind())
    }
}
