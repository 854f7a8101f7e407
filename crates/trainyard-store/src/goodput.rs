//! Goodput: the share of a job's wall time spent training.
//!
//! The definitions follow trainyard-job's `Summary` (`AttemptSummary::productive_time` and
//! `lost_time`), so `trainyard show` reports the same numbers from the database as the live
//! supervisor computes.

use serde::Serialize;

use crate::attempts::Attempt;
use crate::jobs::Job;
use crate::types::{ms_between, AttemptState, Millis};

/// A job's goodput, as `trainyard show` reports it.
///
/// Definitions (all in milliseconds; "progress" is any progress signal from any rank, see
/// [`crate::Writer::record_progress`]):
/// * **wall** = (`finished_at`, or `now` while the job is active) − `created_at`; it includes
///   launches, backoff between attempts and teardown.
/// * per attempt, **duration** = (`ended_at`, else the job's end, else `now`) − `started_at`;
/// * **startup** = first progress − `started_at` (launch, rendezvous, checkpoint load);
/// * **productive** = from first progress to `ended_at` for a succeeded attempt, to the last
///   progress for any other (what came after the last progress of a failed attempt is lost);
///   0 for an attempt that never made progress;
/// * **lost** = for a failed, cancelled or lost attempt, `ended_at` − last progress (or
///   `started_at`): hang timeout, detection and teardown; 0 otherwise.
/// * job **productive** = the sum over attempts, capped at wall; **ratio** = productive / wall
///   (`None` while wall is 0).
///
/// Simplification, on purpose: steps after the last checkpoint of a failed attempt count as
/// productive although the next attempt redoes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goodput {
    /// Wall time of the job.
    pub wall_ms: u64,
    /// Productive time of the job.
    pub productive_ms: u64,
    /// Lost time of the job (the sum of the attempts').
    pub lost_ms: u64,
    /// productive / wall, in 0..=1.
    pub ratio: Option<f64>,
    /// The split per attempt, in attempt order.
    pub attempts: Vec<AttemptTime>,
}

/// One attempt's share of [`Goodput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AttemptTime {
    /// The attempt's number.
    pub number: u32,
    /// Start to end.
    pub duration_ms: u64,
    /// Start to first progress; `None` if it never made progress.
    pub startup_ms: Option<u64>,
    /// Time spent training.
    pub productive_ms: u64,
    /// Time wasted after the last progress of an attempt that did not succeed.
    pub lost_ms: u64,
}

/// Computes [`Goodput`] for `job` with its `attempts` at `now`.
pub fn goodput(job: &Job, attempts: &[Attempt], now: Millis) -> Goodput {
    let job_end = job.finished_at.unwrap_or(now);
    let wall_ms = ms_between(job_end, job.created_at);
    let attempts: Vec<AttemptTime> = attempts.iter().map(|a| attempt_time(a, job_end)).collect();
    let productive_ms = attempts
        .iter()
        .map(|t| t.productive_ms)
        .sum::<u64>()
        .min(wall_ms);
    let lost_ms = attempts.iter().map(|t| t.lost_ms).sum();
    let ratio = (wall_ms > 0).then(|| productive_ms as f64 / wall_ms as f64);
    Goodput {
        wall_ms,
        productive_ms,
        lost_ms,
        ratio,
        attempts,
    }
}

fn attempt_time(a: &Attempt, job_end: Millis) -> AttemptTime {
    let duration_ms = ms_between(a.ended_at.unwrap_or(job_end), a.started_at);
    let startup_ms = a.first_progress_at.map(|p| ms_between(p, a.started_at));
    let productive_ms = match a.first_progress_at {
        None => 0,
        Some(first) => {
            let end = match (a.state, a.ended_at) {
                (AttemptState::Succeeded, Some(end)) => end,
                _ => a.last_progress_at.unwrap_or(first),
            };
            ms_between(end, first)
        }
    };
    let lost_ms = match (a.state, a.ended_at) {
        (AttemptState::Failed | AttemptState::Cancelled | AttemptState::Lost, Some(end)) => {
            ms_between(end, a.last_progress_at.unwrap_or(a.started_at))
        }
        _ => 0,
    };
    AttemptTime {
        number: a.number,
        duration_ms,
        startup_ms,
        productive_ms,
        lost_ms,
    }
}
