//! Time as the supervisor sees it: a number the driver hands in, never a clock it reads.

use std::fmt;
use std::ops::Add;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds since the UNIX epoch, as the driver saw them (the simulator passes virtual time).
///
/// The state machine never reads a clock; every [`crate::Supervisor::handle`] call carries one of
/// these. Arithmetic saturates, so nonsense input (time going backwards, `u64::MAX`) cannot panic.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// RFC 3339 in UTC with milliseconds (`2026-11-28T15:30:12.345Z`), for JSON and logs.
    pub fn rfc3339_millis(self) -> String {
        humantime::format_rfc3339_millis(self.to_system_time()).to_string()
    }

    /// RFC 3339 in UTC with seconds (`2026-11-28T15:30:12Z`).
    pub fn rfc3339_seconds(self) -> String {
        humantime::format_rfc3339_seconds(self.to_system_time()).to_string()
    }

    /// As a `SystemTime`, clamped to what RFC 3339 can write (years 1970 to 9999).
    fn to_system_time(self) -> std::time::SystemTime {
        const LAST_MS: u64 = 253_402_300_799_999;
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0.min(LAST_MS))
    }

    /// The instant `d` after `self`, saturating at `u64::MAX`.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Millis {
        Millis(self.0.saturating_add(duration_ms(d)))
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later (clocks are not trusted).
    #[must_use]
    pub fn saturating_since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Millis {
    type Output = Millis;

    fn add(self, d: Duration) -> Millis {
        self.saturating_add(d)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Whole milliseconds in `d`, saturating (a `Duration` can hold more than `u64` milliseconds).
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
