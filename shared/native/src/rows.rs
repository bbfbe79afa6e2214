//! Stream windows as PostgreSQL's binary COPY data, for `stream_windows_batch`.
//!
//! `window_copy` writes, for each (partition, window, drain instant), the row that
//! `stream_health.db.windows.to_row` builds (the reference model: the integration test loads
//! both into PostgreSQL and compares what it stores), in `COLUMNS` order, straight from the
//! window's storage (`WindowState`): no tuple per row, no per-field encoding in the driver.

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::window::WindowState;

const COLUMNS: i16 = 19;
const TEXT_OID: i32 = 25;
const VERSION_BYTES: usize = 16;

struct Copy(Vec<u8>);

impl Copy {
    fn field(&mut self, data: &[u8]) {
        self.0.extend_from_slice(&(data.len() as i32).to_be_bytes());
        self.0.extend_from_slice(data);
    }

    fn null(&mut self) {
        self.0.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn int8(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.field(&value.to_be_bytes()),
            None => self.null(),
        }
    }

    fn boolean(&mut self, value: bool) {
        self.field(&[u8::from(value)]);
    }

    fn text_array(&mut self, names: &[&str]) {
        let mut array = Vec::with_capacity(20 + names.iter().map(|n| 4 + n.len()).sum::<usize>());
        array.extend_from_slice(&i32::from(!names.is_empty()).to_be_bytes()); // dimensions
        array.extend_from_slice(&0i32.to_be_bytes()); // no nulls
        array.extend_from_slice(&TEXT_OID.to_be_bytes());
        if !names.is_empty() {
            array.extend_from_slice(&(names.len() as i32).to_be_bytes());
            array.extend_from_slice(&1i32.to_be_bytes()); // lower bound
            for name in names {
                array.extend_from_slice(&(name.len() as i32).to_be_bytes());
                array.extend_from_slice(name.as_bytes());
            }
        }
        self.field(&array);
    }
}

/// A version (-1: never written) as stored: version + 1, 16 bytes big-endian.
fn version(value: i128) -> PyResult<[u8; VERSION_BYTES]> {
    let stored = value
        .checked_add(1)
        .filter(|&stored| stored >= 0)
        .ok_or_else(|| PyValueError::new_err(format!("version {value} cannot be stored")))?;
    Ok((stored as u128).to_be_bytes())
}

/// The binary COPY data (header, rows, trailer) of `items`: (partition, window, drain
/// instant or None) each.
#[pyfunction]
pub fn window_copy<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut copy = Copy(Vec::with_capacity(64 + items.len() * 320));
    copy.0.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    copy.0.extend_from_slice(&0i32.to_be_bytes()); // flags
    copy.0.extend_from_slice(&0i32.to_be_bytes()); // header extension
    for item in items.iter() {
        let item = item.cast_into::<PyTuple>()?;
        let partition: i32 = item.get_item(0)?.extract()?;
        let window = item.get_item(1)?.cast_into::<WindowState>()?;
        let drain_at_ms: Option<i64> = item.get_item(2)?.extract()?;
        let window = window.borrow();
        let facts = window.facts.bind(py);

        copy.0.extend_from_slice(&COLUMNS.to_be_bytes());
        copy.field(window.uid.bind(py).to_str()?.as_bytes());
        copy.field(&partition.to_be_bytes());
        copy.field(window.stamps.bind(py).as_bytes());
        let held: Vec<Bound<'py, PyString>> = window
            .conditions
            .bind(py)
            .iter()
            .map(|name| name.cast_into::<PyString>().map_err(PyErr::from))
            .collect::<PyResult<_>>()?;
        let mut names = held
            .iter()
            .map(|n| n.to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        names.sort_unstable(); // UTF-8 byte order is code point order: Python's sorted()
        copy.text_array(&names);
        copy.int8(Some(window.seq));
        copy.int8(drain_at_ms);
        copy.int8(window.last_reconnect());
        match &window.server_state {
            None => copy.null(),
            Some(state) => copy.field(state.bind(py).to_str()?.as_bytes()),
        }
        copy.boolean(window.present);
        copy.int8(Some(window.deleted_ms));
        copy.int8(window.attempt());
        copy.int8(window.total());
        let mut versions = [0u8; 3 * VERSION_BYTES];
        versions[..VERSION_BYTES].copy_from_slice(&version(window.server_state_version)?);
        versions[VERSION_BYTES..2 * VERSION_BYTES]
            .copy_from_slice(&version(window.presence_version)?);
        versions[2 * VERSION_BYTES..].copy_from_slice(&version(window.counters_version)?);
        copy.field(&versions);
        copy.int8(facts.getattr(intern!(py, "stream_id"))?.extract()?);
        copy.int8(facts.getattr(intern!(py, "camera_id"))?.extract()?);
        copy.int8(facts.getattr(intern!(py, "server_id"))?.extract()?);
        copy.boolean(facts.getattr(intern!(py, "enabled"))?.extract()?);
        copy.boolean(facts.getattr(intern!(py, "increased"))?.extract()?);
        copy.boolean(facts.getattr(intern!(py, "managed"))?.extract()?);
    }
    copy.0.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(PyBytes::new(py, &copy.0))
}
