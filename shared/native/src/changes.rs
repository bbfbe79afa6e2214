//! State-change records (SPEC 2.5) as the bytes the worker publishes.
//!
//! `state_change_value` writes exactly what `orjson.dumps` writes for the document
//! `stream_health_worker.outputs.state_change_document` builds (the reference model, which
//! the property tests compare it with): same keys in the same order, same escapes, no spaces.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use sha1::{Digest, Sha1};

use crate::instants::civil_from_days;

fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

fn number<N: serde::Serialize>(out: &mut Vec<u8>, value: N) {
    serde_json::to_writer(&mut *out, &value).expect("writing to a Vec cannot fail");
}

fn optional(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        Some(value) => number(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

fn names(out: &mut Vec<u8>, names: &Bound<'_, PyTuple>) -> PyResult<()> {
    out.push(b'[');
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        string(out, name.cast::<PyString>()?.to_str()?);
    }
    out.push(b']');
    Ok(())
}

/// uuid5 of "uid/seq" in `namespace`, as `uuid.uuid5` computes it.
fn change_id(out: &mut Vec<u8>, namespace: &[u8], uid: &str, seq: u64) {
    let mut hasher = Sha1::new();
    hasher.update(namespace);
    hasher.update(uid.as_bytes());
    hasher.update(format!("/{seq}").as_bytes());
    let mut id: [u8; 16] = hasher.finalize()[..16]
        .try_into()
        .expect("SHA-1 has 20 bytes");
    id[6] = (id[6] & 0x0F) | 0x50; // version 5
    id[8] = (id[8] & 0x3F) | 0x80; // RFC 4122 variant
    out.push(b'"');
    for (index, byte) in id.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.extend_from_slice(format!("{byte:02x}").as_bytes());
    }
    out.push(b'"');
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for epoch milliseconds, as `outputs.iso_ms` writes it.
fn instant(out: &mut Vec<u8>, at_ms: i64) -> PyResult<()> {
    let (seconds, millis) = (at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return Err(PyValueError::new_err(format!(
            "{at_ms} ms is out of datetime's range"
        )));
    }
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let text =
        format!("\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z\"");
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// The JSON value of one state change: `conditions`, `entered` and `left` are tuples of
/// names, `reconnects` a dict of name to count, `cause` a str.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn state_change_value<'py>(
    py: Python<'py>,
    namespace: &[u8],
    uid: &str,
    seq: u64,
    stream_id: Option<i64>,
    camera_id: Option<i64>,
    server_id: Option<i64>,
    conditions: &Bound<'py, PyTuple>,
    entered: &Bound<'py, PyTuple>,
    left: &Bound<'py, PyTuple>,
    reconnects: &Bound<'py, PyDict>,
    cause: &Bound<'py, PyString>,
    at_ms: i64,
    emitted_ms: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(384);
    out.extend_from_slice(b"{\"event_id\":");
    change_id(&mut out, namespace, uid, seq);
    out.extend_from_slice(b",\"stream_id\":");
    optional(&mut out, stream_id);
    out.extend_from_slice(b",\"stream_uid\":");
    string(&mut out, uid);
    out.extend_from_slice(b",\"camera_id\":");
    optional(&mut out, camera_id);
    out.extend_from_slice(b",\"server_id\":");
    optional(&mut out, server_id);
    out.extend_from_slice(b",\"seq\":");
    number(&mut out, seq);
    out.extend_from_slice(b",\"conditions\":");
    names(&mut out, conditions)?;
    out.extend_from_slice(b",\"entered\":");
    names(&mut out, entered)?;
    out.extend_from_slice(b",\"left\":");
    names(&mut out, left)?;
    out.extend_from_slice(b",\"reconnects\":{");
    for (index, (name, count)) in reconnects.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        string(&mut out, name.cast::<PyString>()?.to_str()?);
        out.push(b':');
        number(&mut out, count.extract::<i64>()?);
    }
    out.extend_from_slice(b"},\"cause\":");
    string(&mut out, cause.to_str()?);
    out.extend_from_slice(b",\"at\":");
    instant(&mut out, at_ms)?;
    out.extend_from_slice(b",\"emitted_at\":");
    instant(&mut out, emitted_ms)?;
    out.push(b'}');
    Ok(PyBytes::new(py, &out))
}
