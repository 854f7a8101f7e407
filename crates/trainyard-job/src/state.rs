//! The job's and attempts' states, with the stable names the store and `--json` use.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where the job is, as [`crate::Supervisor::state`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Created, waiting for [`crate::Event::Start`].
    Pending,
    /// An attempt is running.
    Running,
    /// An attempt is being stopped (after a failure, a hang or a cancel).
    Stopping,
    /// Waiting out the restart backoff before the next attempt.
    Backoff,
    /// Finished: an attempt had every rank exit 0.
    Succeeded,
    /// Finished: out of restarts or healthy nodes.
    Failed,
    /// Finished: cancelled.
    Cancelled,
}

impl JobState {
    /// The stable name (`"running"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Stopping => "stopping",
            JobState::Backoff => "backoff",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled.
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a job ended ([`crate::Action::Finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalState {
    /// An attempt had every rank exit 0.
    Succeeded,
    /// Out of restarts or healthy nodes.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl FinalState {
    /// The stable name (`"succeeded"`), the same as the matching [`JobState`]'s.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        JobState::from(self).as_str()
    }
}

impl From<FinalState> for JobState {
    fn from(s: FinalState) -> JobState {
        match s {
            FinalState::Succeeded => JobState::Succeeded,
            FinalState::Failed => JobState::Failed,
            FinalState::Cancelled => JobState::Cancelled,
        }
    }
}

impl fmt::Display for FinalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Launched; ranks running (or starting).
    Running,
    /// Being stopped; the final state is decided when the driver confirms.
    Stopping,
    /// Every rank exited 0.
    Succeeded,
    /// A rank failed, hung, or the launch failed.
    Failed,
    /// Stopped because the job was cancelled.
    Cancelled,
}

impl AttemptState {
    /// The stable name (`"failed"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Running => "running",
            AttemptState::Stopping => "stopping",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for AttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
