//! What the driver tells the supervisor ([`Event`]) and what the supervisor asks of the driver
//! ([`Action`]), plus the [`JobEvent`] records it writes for the store and the live view.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::state::FinalState;
use crate::time::Millis;

/// A node's name: `local-0` on the local backend, a host name under Slurm.
pub type NodeName = String;

/// An attempt's number: 1 for the first launch, 2 for the first restart, ...
pub type AttemptNumber = u32;

/// A rank's global number, `0..nodes * procs_per_node` (torchrun's `RANK`).
pub type Rank = u32;

/// How a rank's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    #[must_use]
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// The exit code, if it exited rather than being killed.
    #[must_use]
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Code(c) => Some(c),
            ExitStatus::Signal(_) => None,
        }
    }

    /// The signal, if it was killed.
    #[must_use]
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Code(_) => None,
            ExitStatus::Signal(s) => Some(s),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exited with code {c}"),
            ExitStatus::Signal(s) => match signal_name(*s) {
                Some(name) => write!(f, "was killed by signal {s} ({name})"),
                None => write!(f, "was killed by signal {s}"),
            },
        }
    }
}

/// Names of the signals a rank is commonly killed by (Linux numbering).
fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// Something the driver observed, handed to [`crate::Supervisor::handle`].
///
/// Events for an attempt that is not the current one, for ranks outside the world, duplicates
/// and anything after the job finished are ignored: drivers race (a rank can exit while its
/// attempt is being stopped), so the machine must tolerate them rather than trust them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Begin the job: the supervisor answers with the first [`Action::StartAttempt`].
    Start,
    /// A rank's process is running.
    RankStarted {
        /// The attempt it belongs to.
        attempt: AttemptNumber,
        /// Its global rank.
        rank: Rank,
        /// The node it runs on.
        node: NodeName,
        /// Its process id, where the driver knows it (Slurm ranks on other hosts may not).
        pid: Option<u32>,
    },
    /// The driver could not launch (part of) an attempt: a missing command, no free port, an
    /// `srun` that was refused. Counts as a failed attempt.
    LaunchFailed {
        /// The attempt that failed to launch.
        attempt: AttemptNumber,
        /// What went wrong, for the user.
        error: String,
    },
    /// The backend ended the attempt for a reason outside its ranks: a Slurm time limit, node
    /// failure or preemption, a cancel from outside trainyard, or a request the scheduler says
    /// it can never satisfy (more nodes than the partition has). Nobody is blamed; the
    /// attempt is stopped and, when `retry`, restarted like any failed attempt, else the job
    /// fails at once with `reason`.
    AttemptLost {
        /// The attempt that was lost.
        attempt: AttemptNumber,
        /// What the backend said, for the user ("Slurm time limit reached (Slurm job 57 TIMEOUT)").
        reason: String,
        /// Whether another attempt may succeed (false: the request itself can never run).
        retry: bool,
    },
    /// The attempt's resources are running: a batch scheduler (Slurm) allocated its nodes and
    /// started it, after it waited in the queue. Only meaningful to a supervisor built with
    /// [`crate::Supervisor::hang_clock_from_running`], whose hang clock for ranks not heard
    /// from starts here rather than at [`Action::StartAttempt`]; any rank report also starts
    /// it. Ignored otherwise, and when repeated.
    AttemptRunning {
        /// The attempt that is running.
        attempt: AttemptNumber,
    },
    /// A rank made progress: an output line, a `progress_regex` match or a progress-file write.
    Progress {
        /// The attempt it belongs to.
        attempt: AttemptNumber,
        /// Its global rank.
        rank: Rank,
        /// The training step, when the progress source carries one.
        step: Option<u64>,
    },
    /// A rank's process ended.
    RankExited {
        /// The attempt it belongs to.
        attempt: AttemptNumber,
        /// Its global rank.
        rank: Rank,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stderr (for the failure report), oldest first.
        stderr_tail: Vec<String>,
    },
    /// Every rank of the attempt is gone (the driver's answer to [`Action::StopAttempt`], or its
    /// report that all ranks ended on their own).
    AttemptStopped {
        /// The attempt that is gone.
        attempt: AttemptNumber,
    },
    /// Time passed; sent at or after [`crate::Supervisor::poll_timeout`].
    Tick,
    /// Outside news about a node (a health check, an operator, Slurm draining it).
    NodeVerdict {
        /// The node.
        node: NodeName,
        /// `false` marks it bad; `true` clears an earlier bad verdict and its failure count.
        healthy: bool,
        /// Why, for the user.
        reason: String,
    },
    /// The user asked to stop the job.
    Cancel {
        /// Why (e.g. "cancelled by user", "SIGINT").
        reason: String,
    },
}

/// What the supervisor asks the driver to do. Drivers carry these out in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Launch attempt `attempt`: `nodes[i]` gets `NODE_RANK = i` and ranks
    /// `i * procs_per_node .. (i + 1) * procs_per_node`.
    StartAttempt {
        /// The new attempt's number.
        attempt: AttemptNumber,
        /// The nodes to run on, in `NODE_RANK` order.
        nodes: Vec<NodeName>,
        /// Restarts so far (torchrun's `TORCHELASTIC_RESTART_COUNT`): 0 for the first attempt.
        restart_count: u32,
    },
    /// Stop every rank of the attempt (SIGTERM, `grace`, SIGKILL), then send
    /// [`Event::AttemptStopped`].
    StopAttempt {
        /// The attempt to stop.
        attempt: AttemptNumber,
        /// Why, for logs.
        reason: String,
        /// How long ranks get between SIGTERM and SIGKILL.
        grace: Duration,
    },
    /// The node is not to be used again by this job (store the verdict; Slurm may drain it).
    MarkNodeBad {
        /// The node.
        node: NodeName,
        /// Why, for the user.
        reason: String,
    },
    /// Write this to the job's event log.
    Record(JobEvent),
    /// The job is over. Always the last action.
    Finish {
        /// How it ended.
        state: FinalState,
        /// One line for the user.
        reason: String,
    },
}

/// One entry of a job's history: what happened and a human message saying so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    /// When the supervisor decided it.
    pub at: Millis,
    /// What kind of entry this is.
    pub kind: JobEventKind,
    /// The attempt concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<AttemptNumber>,
    /// The rank concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<Rank>,
    /// The node concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeName>,
    /// The rank's process id ([`JobEventKind::RankStarted`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How a rank ended ([`JobEventKind::RankExited`], [`JobEventKind::AttemptFailed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
    /// The last step seen, where it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// The blamed rank's last stderr lines ([`JobEventKind::AttemptFailed`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// One line for humans, e.g. "attempt 2 failed: rank 3 on local-1 exited with code 1 at step
    /// 57; restarting in 5s (restart 1 of 3)".
    pub message: String,
}

impl JobEvent {
    /// An entry with only a kind and a message; fill in the rest with struct update syntax.
    #[must_use]
    pub fn new(at: Millis, kind: JobEventKind, message: impl Into<String>) -> JobEvent {
        JobEvent {
            at,
            kind,
            attempt: None,
            rank: None,
            node: None,
            pid: None,
            exit: None,
            step: None,
            stderr_tail: Vec::new(),
            message: message.into(),
        }
    }
}

/// The kinds of [`JobEvent`]. The snake_case names ([`JobEventKind::as_str`]) are stored in the
/// database and printed by `--json`; they are only ever added to, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEventKind {
    /// The job began.
    JobStarted,
    /// An attempt was launched.
    AttemptStarted,
    /// An attempt that started in a scheduler's queue got its resources: its ranks run. Only
    /// with [`crate::Supervisor::hang_clock_from_running`]; its time minus the attempt's
    /// start is the queue wait.
    AttemptRunning,
    /// A rank's process is running.
    RankStarted,
    /// A rank's process ended.
    RankExited,
    /// The driver could not launch an attempt.
    LaunchFailed,
    /// The first failure of an attempt was attributed; the other ranks are being stopped.
    AttemptFailed,
    /// A rank made no progress for `hang_timeout`; the attempt is being stopped.
    HangDetected,
    /// Every rank of the attempt is gone.
    AttemptStopped,
    /// Every rank of the attempt exited 0.
    AttemptSucceeded,
    /// The next attempt will start after the backoff.
    RestartScheduled,
    /// A node was marked bad and will not be used again.
    NodeMarkedBad,
    /// Outside news about a node arrived.
    NodeVerdict,
    /// Cancellation was requested.
    CancelRequested,
    /// The job is over.
    JobFinished,
}

impl JobEventKind {
    /// The stable name (`"attempt_failed"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            JobEventKind::JobStarted => "job_started",
            JobEventKind::AttemptStarted => "attempt_started",
            JobEventKind::AttemptRunning => "attempt_running",
            JobEventKind::RankStarted => "rank_started",
            JobEventKind::RankExited => "rank_exited",
            JobEventKind::LaunchFailed => "launch_failed",
            JobEventKind::AttemptFailed => "attempt_failed",
            JobEventKind::HangDetected => "hang_detected",
            JobEventKind::AttemptStopped => "attempt_stopped",
            JobEventKind::AttemptSucceeded => "attempt_succeeded",
            JobEventKind::RestartScheduled => "restart_scheduled",
            JobEventKind::NodeMarkedBad => "node_marked_bad",
            JobEventKind::NodeVerdict => "node_verdict",
            JobEventKind::CancelRequested => "cancel_requested",
            JobEventKind::JobFinished => "job_finished",
        }
    }
}

impl fmt::Display for JobEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
