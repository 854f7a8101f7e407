//! What happened to a job, attempt by attempt, and the goodput computed from it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::{AttemptNumber, NodeName, Rank};
use crate::state::{AttemptState, JobState};
use crate::time::Millis;

/// One attempt as `trainyard show` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptSummary {
    /// 1 for the first launch.
    pub number: AttemptNumber,
    /// Where it is or how it ended.
    pub state: AttemptState,
    /// Why it ended (failure, hang, launch error, cancel); `None` while running or on success.
    pub reason: Option<String>,
    /// The nodes it ran on, in `NODE_RANK` order.
    pub nodes: Vec<NodeName>,
    /// Restarts before it (`TORCHELASTIC_RESTART_COUNT`).
    pub restart_count: u32,
    /// The node blamed for its failure.
    pub blamed_node: Option<NodeName>,
    /// The rank blamed for its failure.
    pub blamed_rank: Option<Rank>,
    /// The blamed rank's exit code.
    pub exit_code: Option<i32>,
    /// The signal that killed the blamed rank.
    pub signal: Option<i32>,
    /// When it was started.
    pub started_at: Millis,
    /// When its last rank was confirmed gone (or the last rank exited 0).
    pub ended_at: Option<Millis>,
    /// First progress from any rank.
    pub first_progress_at: Option<Millis>,
    /// Latest progress from any rank while the attempt was healthy.
    pub last_progress_at: Option<Millis>,
    /// Highest step reported.
    pub last_step: Option<u64>,
}

impl AttemptSummary {
    /// Start to first progress (launch, rendezvous, checkpoint load); `None` if it never
    /// made progress.
    #[must_use]
    pub fn startup_time(&self) -> Option<Duration> {
        self.first_progress_at
            .map(|p| p.saturating_since(self.started_at))
    }

    /// Time spent training: first progress to the end for a success, to the last progress
    /// otherwise (what came after the last progress of a failed attempt is lost).
    #[must_use]
    pub fn productive_time(&self) -> Duration {
        let Some(first) = self.first_progress_at else {
            return Duration::ZERO;
        };
        let end = match (self.state, self.ended_at) {
            (AttemptState::Succeeded, Some(end)) => end,
            _ => self.last_progress_at.unwrap_or(first),
        };
        end.saturating_since(first)
    }

    /// For an attempt that did not succeed: from its last progress (or its start) to its end
    /// (hang timeout, detection, teardown). Zero for running and successful attempts.
    #[must_use]
    pub fn lost_time(&self) -> Duration {
        match (self.state, self.ended_at) {
            (AttemptState::Failed | AttemptState::Cancelled, Some(end)) => {
                end.saturating_since(self.last_progress_at.unwrap_or(self.started_at))
            }
            _ => Duration::ZERO,
        }
    }

    /// Start to end (or to `now` while running).
    #[must_use]
    pub fn wall_time(&self, now: Millis) -> Duration {
        self.ended_at
            .unwrap_or(now)
            .saturating_since(self.started_at)
    }
}

/// The whole job so far ([`crate::Supervisor::summary`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Where the job is.
    pub state: JobState,
    /// Why it finished, once it has.
    pub reason: Option<String>,
    /// When [`crate::Event::Start`] arrived.
    pub started_at: Option<Millis>,
    /// When it finished.
    pub ended_at: Option<Millis>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptSummary>,
    /// Nodes marked bad, with the reason.
    pub bad_nodes: Vec<(NodeName, String)>,
}

impl Summary {
    /// Start of the job to its end (or to `now` while it runs).
    #[must_use]
    pub fn wall_time(&self, now: Millis) -> Duration {
        match self.started_at {
            Some(start) => self.ended_at.unwrap_or(now).saturating_since(start),
            None => Duration::ZERO,
        }
    }

    /// Sum of the attempts' productive time.
    #[must_use]
    pub fn productive_time(&self) -> Duration {
        self.attempts
            .iter()
            .map(AttemptSummary::productive_time)
            .sum()
    }

    /// Sum of the attempts' lost time.
    #[must_use]
    pub fn lost_time(&self) -> Duration {
        self.attempts.iter().map(AttemptSummary::lost_time).sum()
    }

    /// Productive time / wall time, in `0.0..=1.0`; `None` before any time has passed.
    #[must_use]
    pub fn goodput(&self, now: Millis) -> Option<f64> {
        let wall = self.wall_time(now).as_secs_f64();
        (wall > 0.0).then(|| (self.productive_time().as_secs_f64() / wall).clamp(0.0, 1.0))
    }
}
