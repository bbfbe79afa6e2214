//! Media-server stream events: the common, plainly valid ones, read without the interpreter.
//!
//! `EventReader.read` is a subset of `stream_health_worker.schemas.events._plain`: for a
//! stream event (`stream:reconnect`, `stream:state`, `stream:create`, `stream:delete`) whose
//! strings are ASCII without escapes and whose timestamp is epoch seconds or the
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` form, it returns the same `MediaEvent`; for anything else
//! (pulses, unknown types, escapes, other timestamp forms, any doubt) it returns None and
//! the Python path decides, errors and their reasons included.

use std::collections::HashMap;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::instants::{iso_millis, number_millis};
use crate::set_at;

// The fields of the event tuple (`MediaEvent`).
const EVENT_FIELDS: usize = 9;
const MAX_UID: usize = 64;
const MAX_STATE: usize = 64;
const MAX_SERVER: usize = 253;
// Caches of per-server and per-state values: bounded, cleared when full (as the Python's).
const MAX_SERVERS: usize = 65_536;
const MAX_STATES: usize = 256;

#[derive(Deserialize)]
struct Envelope<'a> {
    event: Option<&'a str>,
    server: Option<&'a str>,
    pid: Option<u64>,
    seq: Option<u64>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<StreamData<'a>>,
}

#[derive(Deserialize)]
struct StreamData<'a> {
    uid: Option<&'a str>,
    state: Option<&'a str>,
    reconnects: Option<Counters>,
}

#[derive(Deserialize)]
struct Counters {
    attempt: Option<u64>,
    total: Option<u64>,
}

/// The 64-bit identity of (server, pid, seq), as `schemas.events.event_id` computes it.
#[pyfunction]
pub fn event_id(server: &str, pid: u64, seq: u64) -> u64 {
    mix(server_hash(server), pid, seq)
}

fn server_hash(server: &str) -> u64 {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b output size");
    hasher.update(server.as_bytes());
    let mut digest = [0u8; 8];
    hasher
        .finalize_variable(&mut digest)
        .expect("the buffer is the output size");
    u64::from_be_bytes(digest)
}

fn mix(hashed: u64, pid: u64, seq: u64) -> u64 {
    hashed ^ pid.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
}

struct Server {
    lowered: Py<PyString>,
    hashed: u64,
}

/// Reads media-server events into the worker's `MediaEvent` tuples (see the module's doc).
#[pyclass(module = "stream_health_core")]
pub struct EventReader {
    tuple_new: Py<PyAny>,
    event_type: Py<PyAny>,
    kinds: HashMap<String, Py<PyAny>>,
    needs_state: String,
    reconnect_name: String,
    max_int: u64,
    earliest_ms: i64,
    latest_ms: i64,
    servers: HashMap<String, Server>,
    states: HashMap<String, Py<PyString>>,
}

#[pymethods]
impl EventReader {
    /// `event_type` is a named tuple of (kind, server, at_ms, event_id, uid, state, attempt,
    /// total, extra), made as `tuple.__new__` makes it (its own `__new__`, Python code, would
    /// cost more than the rest of a read); `kinds` maps the event names read here to their
    /// `kind`; an event named `needs_state` must carry `data.state`; `reconnect_name` names
    /// the reconnections (a routed one carries its clamped time). Integers above `max_int`
    /// and instants outside [earliest_ms, latest_ms) are left to Python.
    #[new]
    #[pyo3(signature = (event_type, kinds, needs_state, max_int, earliest_ms, latest_ms, *,
        reconnect_name = String::from("stream:reconnect")))]
    fn new(
        event_type: Py<PyAny>,
        kinds: &Bound<'_, PyDict>,
        needs_state: String,
        max_int: u64,
        earliest_ms: i64,
        latest_ms: i64,
        reconnect_name: String,
    ) -> PyResult<Self> {
        let py = kinds.py();
        let fields: usize = event_type.bind(py).getattr(intern!(py, "_fields"))?.len()?;
        if fields != EVENT_FIELDS
            || !event_type
                .bind(py)
                .cast::<PyType>()?
                .is_subclass_of::<PyTuple>()?
        {
            return Err(PyTypeError::new_err(
                "event_type: a named tuple of 9 fields",
            ));
        }
        Ok(Self {
            tuple_new: py
                .get_type::<PyTuple>()
                .getattr(intern!(py, "__new__"))?
                .unbind(),
            event_type,
            kinds: kinds.extract()?,
            needs_state,
            reconnect_name,
            max_int,
            earliest_ms,
            latest_ms,
            servers: HashMap::new(),
            states: HashMap::new(),
        })
    }

    /// The `MediaEvent` of `value`, or None to let Python decide.
    fn read(&mut self, py: Python<'_>, value: &[u8]) -> PyResult<Option<Py<PyAny>>> {
        match self.decode(py, value) {
            Some(read) => Ok(Some(self.event(py, &read, read.at_ms)?)),
            None => Ok(None),
        }
    }

    /// Route `records[start..]` while each is a record of `topic` whose value `read` takes,
    /// as `Work.media_event` does: its time clamped to `now_ms` when more than `max_skew_ms`
    /// ahead (a reconnection then carries the clamped time); `latest[server]` becomes
    /// (time, kind) unless it holds a later time; `(partition, uid, event)` joins `ops` and
    /// the uid `wanted[partition]` (a set, made if missing); `applied[(topic, event type)]`
    /// counts it. Returns the index of the first record left to Python (`len(records)`: none)
    /// and how many times were clamped.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (records, start, topic, now_ms, max_skew_ms, ops, wanted, latest, applied))]
    fn route_run(
        &mut self,
        records: &Bound<'_, PyList>,
        start: usize,
        topic: &Bound<'_, PyString>,
        now_ms: i64,
        max_skew_ms: i64,
        ops: &Bound<'_, PyList>,
        wanted: &Bound<'_, PyDict>,
        latest: &Bound<'_, PyDict>,
        applied: &Bound<'_, PyDict>,
    ) -> PyResult<(usize, usize)> {
        let py = records.py();
        let mut skewed = 0;
        let mut counted: HashMap<String, usize> = HashMap::new();
        let mut index = start;
        while index < records.len() {
            let record = records.get_item(index)?;
            let from = record.getattr(intern!(py, "topic"))?;
            if !(from.is(topic) || from.eq(topic)?) {
                break;
            }
            let value = record.getattr(intern!(py, "value"))?;
            let Ok(value) = value.cast::<PyBytes>() else {
                break;
            };
            let Some(read) = self.decode(py, value.as_bytes()) else {
                break;
            };
            // `Rules.clamp`: only counting is clamped; state, presence and counters keep
            // the event's own time (newest wins on it).
            let (at_ms, clamped) = if read.at_ms > now_ms.saturating_add(max_skew_ms) {
                (now_ms, true)
            } else {
                (read.at_ms.max(0), false)
            };
            skewed += usize::from(clamped);
            let newer = match latest.get_item(&read.server)? {
                None => true,
                Some(held) => at_ms >= held.get_item(0)?.extract::<i64>()?,
            };
            if newer {
                let seen = PyTuple::new(
                    py,
                    [
                        at_ms.into_pyobject(py)?.into_any(),
                        read.kind.bind(py).clone(),
                    ],
                )?;
                latest.set_item(&read.server, seen)?;
            }
            let event_at = if clamped && read.name == self.reconnect_name {
                at_ms
            } else {
                read.at_ms
            };
            let event = self.event(py, &read, event_at)?;
            let partition = record.getattr(intern!(py, "partition"))?;
            let uids = set_at(wanted, &partition)?;
            uids.add(&read.uid)?;
            ops.append(PyTuple::new(
                py,
                [
                    partition,
                    read.uid.bind(py).clone().into_any(),
                    event.into_bound(py),
                ],
            )?)?;
            // Counted by name: a String made once per event type, not once per event.
            match counted.get_mut(read.name) {
                Some(count) => *count += 1,
                None => {
                    counted.insert(read.name.to_owned(), 1);
                }
            }
            index += 1;
        }
        for (name, count) in counted {
            let key = PyTuple::new(
                py,
                [
                    topic.clone().into_any(),
                    PyString::new(py, &name).into_any(),
                ],
            )?;
            let before: usize = match applied.get_item(&key)? {
                Some(before) => before.extract()?,
                None => 0,
            };
            applied.set_item(key, before + count)?;
        }
        Ok((index, skewed))
    }
}

/// A plainly valid stream event, decoded.
struct Read<'e> {
    kind: Py<PyAny>,
    name: &'e str,
    server: Py<PyString>,
    at_ms: i64,
    identity: u64,
    uid: Py<PyString>,
    state: Option<Py<PyString>>,
    attempt: Option<u64>,
    total: Option<u64>,
}

/// The checked fields of a plainly valid stream event.
struct Plain<'e> {
    kind: Py<PyAny>,
    name: &'e str,
    server: &'e str,
    pid: u64,
    seq: u64,
    at_ms: i64,
    uid: &'e str,
    state: Option<&'e str>,
    attempt: Option<u64>,
    total: Option<u64>,
}

impl EventReader {
    /// The event of `value` if it is plainly valid (see the module's doc), else None.
    fn decode<'v>(&mut self, py: Python<'_>, value: &'v [u8]) -> Option<Read<'v>> {
        // Escapes are rare in events and are where JSON parsers differ most (a NUL, a lone
        // surrogate): anything with a backslash goes to Python. Checking UTF-8 here means
        // fields this reader skips are checked too, as orjson checks them.
        if value.contains(&b'\\') {
            return None;
        }
        let text = std::str::from_utf8(value).ok()?;
        let envelope = serde_json::from_str::<Envelope<'_>>(text).ok()?;
        let plain = self.plain(py, &envelope)?;
        let server = self.server(py, plain.server);
        let identity = mix(server.hashed, plain.pid, plain.seq);
        let server = server.lowered.clone_ref(py);
        let uid = PyString::new(py, &plain.uid.to_ascii_lowercase()).unbind();
        let state = plain.state.map(|state| self.state(py, state));
        Some(Read {
            kind: plain.kind,
            name: plain.name,
            server,
            at_ms: plain.at_ms,
            identity,
            uid,
            state,
            attempt: plain.attempt,
            total: plain.total,
        })
    }

    /// The `MediaEvent` of `read`, stamped `at_ms`.
    fn event(&self, py: Python<'_>, read: &Read<'_>, at_ms: i64) -> PyResult<Py<PyAny>> {
        let fields = PyTuple::new(
            py,
            [
                read.kind.clone_ref(py).into_bound(py),
                read.server.clone_ref(py).into_bound(py).into_any(),
                at_ms.into_pyobject(py)?.into_any(),
                read.identity.into_pyobject(py)?.into_any(),
                read.uid.clone_ref(py).into_bound(py).into_any(),
                read.state
                    .as_ref()
                    .map(|state| state.clone_ref(py))
                    .into_pyobject(py)?
                    .into_any(),
                read.attempt.into_pyobject(py)?.into_any(),
                read.total.into_pyobject(py)?.into_any(),
                py.None().into_bound(py),
            ],
        )?;
        self.tuple_new
            .call1(py, (self.event_type.clone_ref(py), fields))
    }

    fn plain<'e>(&self, py: Python<'_>, envelope: &Envelope<'e>) -> Option<Plain<'e>> {
        let (event, kind) = self.kinds.get_key_value(envelope.event?)?;
        let server = envelope.server?;
        if server.is_empty() || server.len() > MAX_SERVER || !server.is_ascii() {
            return None;
        }
        let pid = envelope.pid.filter(|&pid| pid <= self.max_int)?;
        let seq = envelope.seq.filter(|&seq| seq <= self.max_int)?;
        let at_ms = self.instant(envelope.timestamp?)?;
        let data = envelope.data.as_ref()?;
        let uid = data.uid?;
        // Of what `str.strip()` removes, an unescaped ASCII JSON string can hold only the
        // space (control characters are escaped, and escapes are left to Python).
        if uid.is_empty()
            || uid.len() > MAX_UID
            || !uid.is_ascii()
            || uid.starts_with(' ')
            || uid.ends_with(' ')
        {
            return None;
        }
        let state = data.state;
        match state {
            None if *event == self.needs_state => return None,
            Some(state) if state.is_empty() || state.chars().count() > MAX_STATE => return None,
            _ => {}
        }
        let (attempt, total) = match &data.reconnects {
            Some(counters) => (counters.attempt, counters.total),
            None => (None, None),
        };
        if attempt.is_some_and(|n| n > self.max_int) || total.is_some_and(|n| n > self.max_int) {
            return None;
        }
        Some(Plain {
            kind: kind.clone_ref(py),
            name: envelope.event?,
            server,
            pid,
            seq,
            at_ms,
            uid,
            state,
            attempt,
            total,
        })
    }

    fn instant(&self, raw: &RawValue) -> Option<i64> {
        let text = raw.get();
        let at_ms = match text.as_bytes().first()? {
            b'"' => iso_millis(&text.as_bytes()[1..text.len() - 1])?,
            b'-' | b'0'..=b'9' => {
                number_millis(text, self.earliest_ms / 1000, self.latest_ms / 1000)?
            }
            _ => return None,
        };
        (self.earliest_ms <= at_ms && at_ms < self.latest_ms).then_some(at_ms)
    }

    fn server(&mut self, py: Python<'_>, name: &str) -> &Server {
        if !self.servers.contains_key(name) {
            if self.servers.len() >= MAX_SERVERS {
                self.servers.clear();
            }
            let server = Server {
                lowered: PyString::new(py, &name.to_ascii_lowercase()).unbind(),
                hashed: server_hash(name),
            };
            self.servers.insert(name.to_owned(), server);
        }
        &self.servers[name]
    }

    fn state(&mut self, py: Python<'_>, state: &str) -> Py<PyString> {
        if let Some(found) = self.states.get(state) {
            return found.clone_ref(py);
        }
        let made = PyString::new(py, state).unbind();
        if self.states.len() < MAX_STATES {
            self.states.insert(state.to_owned(), made.clone_ref(py));
        }
        made
    }
}
