//! Job id generation: `j-YYYYMMDD-HHMMSS-xxxx`.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::{JobId, Millis};

/// A new id for a job created at `at` (UTC).
///
/// The 4 hex digits are random enough to tell apart jobs launched in the same second; the
/// caller retries with a fresh suffix on the (rare) primary-key collision.
pub(crate) fn new_job_id(at: Millis) -> JobId {
    // `2026-11-28T15:30:12Z` → `20261128` and `153012`.
    let stamp = at.rfc3339_seconds();
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(digits.len().min(8));
    JobId(format!("j-{date}-{time}-{:04x}", random_u16()))
}

/// A random-ish u16 from std's per-process random hash keys, the time and a counter; no
/// `rand` dependency for four hex digits.
fn random_u16() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    (h.finish() & 0xffff) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_time() {
        // 2026-11-28T15:30:12Z
        let id = new_job_id(Millis(1_795_879_812_000));
        assert!(id.0.starts_with("j-20261128-153012-"), "{id}");
        assert_eq!(id.0.len(), "j-20261128-153012-ab12".len());
    }
}
