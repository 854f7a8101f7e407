//! RFC 3339 timestamps for snapshots.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as RFC 3339 UTC with second precision (`2026-11-28T15:04:05Z`). Times before 1970
/// (a clock that was never set) print as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    // humantime refuses times before the epoch and after year 9999: clamp to its range.
    let latest = UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    humantime::format_rfc3339_seconds(t.clamp(UNIX_EPOCH, latest)).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> String {
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }
}
