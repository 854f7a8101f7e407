//! Job id generation: `j-YYYYMMDD-HHMMSS-xxxx`.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::{JobId, Millis};

/// A new id for a job created at `at` (UTC).
///
/// The 4 hex digits are random enough to tell apart jobs launched in the same second; the
/// caller retries with a fresh suffix on the (rare) primary-key collision.
pub(crate) fn new_job_id(at: Millis) -> JobId {
    let secs = at.0 / 1000;
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    JobId(format!(
        "j-{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}-{:04x}",
        random_u16()
    ))
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

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days`, exact for every `i64` day count we can meet.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m as u32, d as u32)
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

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
