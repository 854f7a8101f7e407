//! Times and durations for people and for JSON: RFC 3339 (UTC, milliseconds) in `--json`,
//! `2026-11-28 15:30:12` and `1m 05s` in text. One place, so every job command agrees.

use std::time::Duration;

use trainyard_store::Millis;

/// `2026-11-28T15:30:12.345Z`: RFC 3339 in UTC with milliseconds, for `--json`.
pub fn rfc3339(at: Millis) -> String {
    at.rfc3339_millis()
}

/// [`rfc3339`] of an optional time; `None` stays `None` (JSON `null`).
pub fn rfc3339_opt(at: Option<Millis>) -> Option<String> {
    at.map(rfc3339)
}

/// `2026-11-28 15:30:12 UTC`: a moment for people.
pub fn human(at: Millis) -> String {
    let (date, (hh, mm, ss)) = split(at);
    format!("{date} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// `15:30:12.3`: the time of day only, for lines inside one job's timeline.
pub fn clock(at: Millis) -> String {
    let (_, (hh, mm, ss)) = split(at);
    format!("{hh:02}:{mm:02}:{ss:02}.{}", at.0 % 1000 / 100)
}

/// A duration for people: `850ms`, `4.2s`, `1m 05s`, `2h 03m`, `3d 04h`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600)
    }
}

/// [`duration`] of a millisecond count.
pub fn duration_ms(ms: u64) -> String {
    duration(Duration::from_millis(ms))
}

/// The time from `earlier` to `later` (0 if the clock stepped back).
pub fn between(later: Millis, earlier: Millis) -> Duration {
    later.saturating_since(earlier)
}

/// `3m 05s ago`: how long ago `at` was, seen at `now`.
pub fn ago(at: Millis, now: Millis) -> String {
    format!("{} ago", duration(between(now, at)))
}

/// `(YYYY-MM-DD, (h, m, s))` of a UTC time.
fn split(at: Millis) -> (String, (u64, u64, u64)) {
    let stamp = at.rfc3339_seconds();
    let date = stamp.get(..10).unwrap_or("1970-01-01").to_string();
    let secs = at.0 / 1000 % 86_400;
    (date, (secs / 3600, secs % 3600 / 60, secs % 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        let at = Millis(1_795_879_812_345);
        assert_eq!(rfc3339(at), "2026-11-28T15:30:12.345Z");
        assert_eq!(human(at), "2026-11-28 15:30:12 UTC");
        assert_eq!(clock(at), "15:30:12.3");
        assert_eq!(rfc3339(Millis(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Millis(951_782_400_000)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn formats_durations() {
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(4_240), "4.2s");
        assert_eq!(duration_ms(65_000), "1m 05s");
        assert_eq!(duration_ms(7_380_000), "2h 03m");
        assert_eq!(duration_ms(273_600_000), "3d 04h");
        assert_eq!(ago(Millis(1_000), Millis(3_500)), "2.5s ago");
        assert_eq!(between(Millis(1), Millis(5)), Duration::ZERO);
    }
}
