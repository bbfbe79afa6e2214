//! The compiled parts of stream-health's worker.
//!
//! Each one is a faster path to a result the Python code also computes: the Python stays
//! the reference model, the property tests check that both agree, and wherever this code is
//! unsure of an input it hands it back (returns `None`) rather than guess.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PySet};

mod batches;
mod changes;
mod events;
mod instants;
mod partitioning;
mod rows;
mod rules;
mod timer;
mod window;

/// `mapping[key]`, a set, made empty and stored there first if missing (Python's
/// `mapping.setdefault(key, set())`).
pub(crate) fn set_at<'py>(
    mapping: &Bound<'py, PyDict>,
    key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PySet>> {
    if let Some(found) = mapping.get_item(key)? {
        return Ok(found.cast_into::<PySet>()?);
    }
    let made = PySet::empty(mapping.py())?;
    mapping.set_item(key, &made)?;
    Ok(made)
}

#[pymodule]
fn stream_health_core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<events::EventReader>()?;
    module.add_class::<timer::Timer>()?;
    module.add_class::<rules::CompiledRules>()?;
    module.add_class::<window::WindowState>()?;
    module.add_function(wrap_pyfunction!(batches::first_offsets, module)?)?;
    module.add_function(wrap_pyfunction!(batches::fresh, module)?)?;
    module.add_function(wrap_pyfunction!(batches::missing, module)?)?;
    module.add_function(wrap_pyfunction!(batches::add_own_uids, module)?)?;
    module.add_function(wrap_pyfunction!(changes::state_change_value, module)?)?;
    module.add_function(wrap_pyfunction!(rows::window_copy, module)?)?;
    module.add_function(wrap_pyfunction!(events::event_id, module)?)?;
    module.add_function(wrap_pyfunction!(instants::utc_millis, module)?)?;
    module.add_function(wrap_pyfunction!(partitioning::murmur2, module)?)?;
    module.add_function(wrap_pyfunction!(partitioning::partition_index, module)?)?;
    Ok(())
}
