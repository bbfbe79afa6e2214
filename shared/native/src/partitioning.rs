//! Kafka's default partitioning of keyed records: murmur2 of the key, as Java clients do it.
//!
//! The reference model is `stream_health.kafka.partitioning.murmur2` (itself checked against
//! aiokafka's); the relay calls this once per outbox row it publishes.

use pyo3::prelude::*;

const SEED: u32 = 0x9747_B28C;
const M: u32 = 0x5BD1_E995;

/// MurmurHash2 of `data` (org.apache.kafka.common.utils.Utils.murmur2), unsigned.
pub fn murmur2_of(data: &[u8]) -> u32 {
    // Kafka hashes the length as a signed int: keys are far below 2 GiB.
    let mut h = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]).wrapping_mul(M);
        k ^= k >> 24;
        h = h.wrapping_mul(M) ^ k.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        if tail.len() >= 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h = (h ^ u32::from(tail[0])).wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// MurmurHash2 of `data`, unsigned (the model's `murmur2`).
#[pyfunction]
pub fn murmur2(data: &[u8]) -> u32 {
    murmur2_of(data)
}

/// Which of `count` partitions (by position) the default partitioner picks for `key`.
#[pyfunction]
pub fn partition_index(key: &[u8], count: u32) -> PyResult<u32> {
    if count == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err("no partitions"));
    }
    Ok((murmur2_of(key) & 0x7FFF_FFFF) % count)
}
