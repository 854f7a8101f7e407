//! Exponential restart backoff with a cap.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long to wait before each restart: `initial`, then `initial * factor`, ... never more
/// than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the first restart.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
    /// Growth per restart; 1.0 keeps the delay fixed. Always finite and at least 1.0 when it
    /// comes from a spec.
    pub factor: f64,
}

impl Default for Backoff {
    /// 5 s, doubling, capped at 5 min.
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(300),
            factor: 2.0,
        }
    }
}

impl Backoff {
    /// The delay before restart number `restart` (1 for the first restart). Restart 0 (the
    /// first launch) has no delay.
    #[must_use]
    pub fn delay(&self, restart: u32) -> Duration {
        if restart == 0 || self.initial.is_zero() {
            return Duration::ZERO;
        }
        let cap = self.max.max(self.initial);
        // A factor below 1 or NaN (only possible when built by hand) behaves as fixed delay;
        // the exponent is capped because anything past ~64 doublings is the cap anyway.
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let exp = i32::try_from(restart - 1).unwrap_or(i32::MAX).min(1_024);
        let scaled = self.initial.as_secs_f64() * factor.powi(exp);
        if !scaled.is_finite() || scaled >= cap.as_secs_f64() {
            cap
        } else {
            Duration::from_secs_f64(scaled)
        }
    }

    /// The delays before restarts 1, 2, 3, ... (endless; `take` what you need).
    pub fn iter(&self) -> impl Iterator<Item = Duration> + '_ {
        (1..=u32::MAX).map(|n| self.delay(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(initial: u64, max: u64, factor: f64) -> Backoff {
        Backoff {
            initial: Duration::from_secs(initial),
            max: Duration::from_secs(max),
            factor,
        }
    }

    #[test]
    fn grows_then_caps() {
        let got: Vec<u64> = b(5, 60, 2.0).iter().take(6).map(|d| d.as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 60, 60]);
    }

    #[test]
    fn table() {
        let cases = [
            (b(5, 60, 2.0), 0, 0),
            (b(5, 60, 1.0), 7, 5),
            (b(0, 60, 2.0), 3, 0),
            (b(5, 1, 2.0), 1, 5), // a cap below initial never shortens the first delay
            (b(1, 300, 3.0), 3, 9),
            (b(1, 300, 2.0), u32::MAX, 300),
            (b(1, 300, f64::NAN), 4, 1),
            (b(1, 300, 0.5), 4, 1),
            (b(1, 300, f64::INFINITY), 2, 1),
        ];
        for (backoff, n, secs) in cases {
            assert_eq!(
                backoff.delay(n),
                Duration::from_secs(secs),
                "{backoff:?} restart {n}"
            );
        }
    }
}
