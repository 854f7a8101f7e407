//! Slurm job states, and what they mean for a trainyard attempt.

/// A Slurm job state as `squeue %T`, `sacct State` or the JSON outputs write it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for resources (`PENDING`).
    Pending,
    /// Allocated and running (`RUNNING`, also `CONFIGURING`, `COMPLETING`).
    Running,
    /// Ended with exit code 0.
    Completed,
    /// Ended with a non-zero exit code or signal.
    Failed,
    /// `scancel`ed (sacct writes `CANCELLED by <uid>`).
    Cancelled,
    /// Killed at its time limit.
    Timeout,
    /// Killed because a node it ran on failed.
    NodeFail,
    /// Preempted by a job with higher priority.
    Preempted,
    /// Killed for exceeding its memory limit.
    OutOfMemory,
    /// Requeued or suspended, or any other state (kept verbatim).
    Other(String),
}

impl JobState {
    /// Reads a state word; tolerant of sacct's `CANCELLED by 0` and of case.
    pub fn parse(word: &str) -> JobState {
        let word = word.trim();
        let head = word
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match head.as_str() {
            "PENDING" | "PD" => JobState::Pending,
            "RUNNING" | "R" | "CONFIGURING" | "CF" | "COMPLETING" | "CG" => JobState::Running,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            _ => JobState::Other(word.to_string()),
        }
    }

    /// True when the job will not run again by itself.
    pub fn is_finished(&self) -> bool {
        !matches!(
            self,
            JobState::Pending | JobState::Running | JobState::Other(_)
        )
    }

    /// Who ended the job, when it was not the job's own processes; `None` for states where
    /// the job ran to its own end (completed, failed) or is not finished.
    pub fn end_cause(&self) -> Option<EndCause> {
        match self {
            JobState::Cancelled => Some(EndCause::Cancelled),
            JobState::Timeout => Some(EndCause::TimeLimit),
            JobState::NodeFail => Some(EndCause::NodeFailure),
            JobState::Preempted => Some(EndCause::Preempted),
            JobState::OutOfMemory => Some(EndCause::OutOfMemory),
            _ => None,
        }
    }
}

/// Slurm itself ended the job: the supervisor reports this instead of blaming a rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// Someone (possibly trainyard) ran `scancel`.
    Cancelled,
    /// The job's time limit ran out.
    TimeLimit,
    /// A node of the allocation failed.
    NodeFailure,
    /// A higher-priority job preempted it.
    Preempted,
    /// The memory limit was exceeded.
    OutOfMemory,
}

impl EndCause {
    /// A short phrase for reasons and `trainyard show`.
    pub fn describe(self) -> &'static str {
        match self {
            EndCause::Cancelled => "cancelled in Slurm",
            EndCause::TimeLimit => "Slurm time limit reached",
            EndCause::NodeFailure => "Slurm node failure",
            EndCause::Preempted => "preempted by Slurm",
            EndCause::OutOfMemory => "Slurm memory limit exceeded",
        }
    }
}
