//! Goodput: the share of a job's wall time that moved training forward.

use serde::Serialize;

use crate::attempts::Attempt;
use crate::jobs::Job;
use crate::types::{AttemptState, Millis};

/// A job's goodput, as `trainyard show` reports it.
///
/// Definitions (all in milliseconds):
/// * **wall** = (`finished_at`, or `now` while the job is active) − `created_at`. It includes
///   launch time, backoff between attempts and teardown.
/// * an attempt's **duration** = (`ended_at`, or the job's end, or `now`) − `started_at`.
/// * an attempt's **productive** time:
///   * `succeeded`, or still `running`: its whole duration;
///   * any other end (failed, hung, stopped, cancelled, lost): the time from its start to its
///     newest checkpoint ([`Attempt::checkpoint_at`]), because the next attempt resumes from
///     there and everything after it is redone; 0 if it recorded no checkpoint.
/// * **lost** per attempt = duration − productive.
/// * **productive** = the sum over attempts, capped at wall; **ratio** = productive / wall
///   (`None` while wall is 0).
///
/// Simplifications, on purpose: time to load a checkpoint counts as productive, and a job that
/// checkpoints without the driver noticing is under-credited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goodput {
    /// Wall time of the job.
    pub wall_ms: u64,
    /// Productive time of the job.
    pub productive_ms: u64,
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
    /// Its duration.
    pub duration_ms: u64,
    /// The part of it that counts as productive.
    pub productive_ms: u64,
    /// The part of it that was lost (redone or wasted).
    pub lost_ms: u64,
}

/// Computes [`Goodput`] for `job` with its `attempts` at `now`.
pub fn goodput(job: &Job, attempts: &[Attempt], now: Millis) -> Goodput {
    let job_end = job.finished_at.unwrap_or(now);
    let wall_ms = job_end.saturating_since(job.created_at);
    let times: Vec<AttemptTime> = attempts
        .iter()
        .map(|a| {
            let end = a.ended_at.unwrap_or(job_end);
            let duration_ms = end.saturating_since(a.started_at);
            let productive_ms = match a.state {
                AttemptState::Succeeded | AttemptState::Running => duration_ms,
                _ => a
                    .checkpoint_at
                    .map_or(0, |c| c.saturating_since(a.started_at).min(duration_ms)),
            };
            AttemptTime {
                number: a.number,
                duration_ms,
                productive_ms,
                lost_ms: duration_ms - productive_ms,
            }
        })
        .collect();
    let productive_ms = times
        .iter()
        .map(|t| t.productive_ms)
        .sum::<u64>()
        .min(wall_ms);
    let ratio = (wall_ms > 0).then(|| productive_ms as f64 / wall_ms as f64);
    Goodput {
        wall_ms,
        productive_ms,
        ratio,
        attempts: times,
    }
}
