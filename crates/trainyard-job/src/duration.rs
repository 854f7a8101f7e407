//! Human durations: `"500ms"`, `"30s"`, `"10m"`, `"1h30m"`, `"2d"`.
//!
//! Written by hand rather than pulled from a crate: the grammar is tiny and the error has to say
//! exactly what a job spec author should type instead.

use std::time::Duration;

/// What durations look like; used in every error about one.
pub const DURATION_HINT: &str = "durations look like \"500ms\", \"30s\", \"10m\" or \"1h30m\"";

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration")]
    Empty,
    /// A number was not followed by a unit (`"30"`).
    #[error("`{0}` has no unit")]
    MissingUnit(String),
    /// A unit was not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("unknown unit `{unit}` in `{input}` (units: ms, s, m, h, d)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// Something other than digits where a number should be.
    #[error("`{0}` is not a duration")]
    Invalid(String),
    /// Too large to represent.
    #[error("`{0}` is too long")]
    Overflow(String),
}

/// Parses `"500ms"`, `"30s"`, `"10m"`, `"1h30m"`, `"1d"`: one or more `<integer><unit>` parts.
///
/// # Errors
/// [`DurationError`] naming what is wrong; callers add [`DURATION_HINT`].
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::Invalid(input.to_owned()));
        }
        let (num, after) = rest.split_at(digits);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let n: u64 = num
            .parse()
            .map_err(|_| DurationError::Overflow(input.to_owned()))?;
        let per_ms: u64 = match unit {
            "" if after.is_empty() => return Err(DurationError::MissingUnit(input.to_owned())),
            "" => return Err(DurationError::Invalid(input.to_owned())),
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                    input: input.to_owned(),
                })
            }
        };
        let part = n
            .checked_mul(per_ms)
            .ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
        total_ms = total_ms
            .checked_add(part)
            .ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it: `"1h30m"`, `"5s"`, `"1500ms"`,
/// `"0s"`. Sub-millisecond parts are dropped (the spec never has them).
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = crate::time::duration_ms(d);
    if ms == 0 {
        return "0s".to_owned();
    }
    // Milliseconds only survive as a unit when they are not whole seconds; "1s500ms" would read
    // oddly, so such values print as plain milliseconds.
    if ms % 1_000 != 0 {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1_000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("0s", 0),
            (" 2h ", 7_200_000),
            ("1m30s250ms", 90_250),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert!(matches!(
            parse_duration("5 s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("5sec"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("1.5s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_round_trip() {
        for ms in [
            0, 1, 500, 1_000, 1_500, 59_000, 60_000, 90_000, 5_400_000, 86_400_000, 90_061_000,
        ] {
            let d = Duration::from_millis(ms);
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_millis(5_400_000)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
    }
}
