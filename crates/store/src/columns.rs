//! How both backends keep values in columns: instants as nanoseconds since the Unix epoch,
//! versions as signed 64-bit integers (neither database has an unsigned one).

use bars_fhir::Instant;

pub(crate) fn instant(ns: i64) -> Instant {
    Instant::from_unix_nanos_trimmed(ns)
}

pub(crate) fn version(v: i64) -> u64 {
    v.max(0) as u64
}
