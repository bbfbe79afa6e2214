//! Event times: the JSON forms the fast path reads, in milliseconds since the epoch.
//!
//! Each function returns `None` for anything it does not read exactly as the Python does
//! (`stream_health_worker.schemas.events._plain_ms`); the caller then defers to Python.

use pyo3::prelude::*;

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian (year, month, day) `days` after 1970-01-01 (`civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = if days >= 0 { days } else { days - 146_096 } / 146_097;
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |total, &byte| {
        byte.is_ascii_digit()
            .then(|| total * 10 + i64::from(byte - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form media servers send, read as Python reads it:
/// `int(datetime.fromisoformat(text).timestamp() * 1000)`, float steps included.
pub fn iso_millis(text: &[u8]) -> Option<i64> {
    if text.len() != 24
        || text[4] != b'-'
        || text[7] != b'-'
        || text[10] != b'T'
        || text[13] != b':'
        || text[16] != b':'
        || text[19] != b'.'
        || text[23] != b'Z'
    {
        return None;
    }
    let year = digits(&text[0..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    let millis = digits(&text[20..23])?;
    if year < 1
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    // Python: (seconds * 10**6 + micros) / 10**6 * 1000, a true division then a product,
    // both rounded once as IEEE doubles do; exact here while the microseconds fit in 53 bits.
    let micros = seconds * 1_000_000 + millis * 1_000;
    if micros.unsigned_abs() >= 1 << 53 {
        return None;
    }
    Some((micros as f64 / 1_000_000.0 * 1_000.0) as i64)
}

/// A JSON number of epoch seconds within `[earliest_s, latest_s)`, in milliseconds: an
/// integer exactly, a float as `int(seconds * 1000)`.
pub fn number_millis(text: &str, earliest_s: i64, latest_s: i64) -> Option<i64> {
    if text.contains(['.', 'e', 'E']) {
        let seconds: f64 = text.parse().ok()?;
        // Bounds of a few billion are exact doubles: these compare as Python's float < int.
        if !(earliest_s as f64 <= seconds && seconds < latest_s as f64) {
            return None;
        }
        return Some((seconds * 1_000.0) as i64);
    }
    let seconds: i64 = text.parse().ok()?;
    (earliest_s <= seconds && seconds < latest_s).then(|| seconds * 1_000)
}

/// The milliseconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp, or None when it is not one
/// (exposed for the property tests).
#[pyfunction]
pub fn utc_millis(text: &str) -> Option<i64> {
    iso_millis(text.as_bytes())
}
