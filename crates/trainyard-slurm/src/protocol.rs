//! The wire between the per-node agent (`trainyard agent`, one per node under `srun`) and
//! the supervisor: newline-delimited JSON over one TCP connection per agent.
//!
//! The agent reports facts only (a rank started, exited, made progress); the supervisor
//! turns them into `trainyard-job` events and decides. One JSON object per line keeps the
//! stream readable with `nc` while debugging and lets either side resync after a bad line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Agent → supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMsg {
    /// First line after connecting: who this agent is.
    Hello {
        /// trainyard job id.
        job_id: String,
        /// Attempt number the agent was started for (a late agent of an old attempt is
        /// told to stop).
        attempt: u32,
        /// Slurm node name (`SLURMD_NODENAME`).
        node: String,
        /// Index of the node in the allocation (`SLURM_NODEID`).
        node_rank: u32,
        /// Slurm job id.
        slurm_job_id: u64,
        /// Node 0's agent only: a port it found free on its own host, the rendezvous
        /// (`MASTER_PORT`) of every rank. The supervisor holds every node's `Launch` until it
        /// has this. Absent from other nodes and from older agents (the supervisor then uses
        /// a port it found free on its own host).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        master_port: Option<u16>,
    },
    /// A rank's process is running.
    RankStarted {
        /// Global rank.
        rank: u32,
        /// Its pid on the node.
        pid: u32,
    },
    /// One line of a rank's output, for the supervisor's merged log and console (the rank's
    /// own `.out`/`.err` files are written by the agent).
    Output {
        /// Global rank.
        rank: u32,
        /// `true` for stderr.
        stderr: bool,
        /// The line, without its line ending.
        text: String,
    },
    /// A rank made progress (an output line or a step).
    Progress {
        /// Global rank.
        rank: u32,
        /// The step, when the line or progress file told one.
        step: Option<u64>,
    },
    /// A rank's process ended.
    RankExited {
        /// Global rank.
        rank: u32,
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal, when one killed it.
        signal: Option<i32>,
        /// Last lines of its stderr, for blame and `trainyard show`.
        stderr_tail: Vec<String>,
        /// When it began to fail (its last words or its death), milliseconds since the UNIX
        /// epoch: the supervisor hands failed exits of all nodes to the state machine in this
        /// order, so the rank that failed first is blamed.
        #[serde(default)]
        failed_at_ms: Option<u64>,
    },
    /// Slurm sent the agent a signal (time limit, `scancel`, preemption, node shutdown): it is
    /// tearing its ranks down. The supervisor asks Slurm why.
    Signalled {
        /// The signal's name (`SIGTERM`).
        signal: String,
    },
    /// Every rank of this node has ended and the agent is leaving.
    Bye,
}

/// What an agent needs to start its node's ranks: the job's command and the attempt's
/// rendezvous, sent in answer to [`AgentMsg::Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// Extra environment for every rank (the spec's `env` plus trainyard's own).
    pub env: BTreeMap<String, String>,
    /// Working directory of the ranks.
    pub workdir: Option<String>,
    /// Ranks per node.
    pub procs_per_node: u32,
    /// Rendezvous port of rank 0 (`MASTER_PORT`).
    pub master_port: u16,
    /// Restarts before this attempt (`TORCHELASTIC_RESTART_COUNT`).
    pub restart_count: u32,
    /// The restart budget.
    pub max_restarts: u32,
    /// The attempt's log directory (`<job dir>/attempt-<k>`), on a file system every node sees.
    pub log_dir: String,
    /// The spec's `progress_regex`.
    pub progress_regex: Option<String>,
    /// SIGTERM → SIGKILL grace, milliseconds.
    pub stop_grace_ms: u64,
}

/// Supervisor → agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SupervisorMsg {
    /// Start this node's ranks.
    Launch(Launch),
    /// Stop every rank (TERM, grace, KILL) and leave.
    Stop {
        /// Why, for the agent's log.
        reason: String,
    },
}

/// One message as one line (with its `\n`).
pub fn encode<T: Serialize>(msg: &T) -> String {
    // Serializing these plain enums cannot fail (no maps with non-string keys, no floats).
    let mut line = serde_json::to_string(msg).unwrap_or_else(|_| "{}".to_string());
    line.push('\n');
    line
}

/// Reads one line; a bad line is an error the caller logs and skips, not a reason to drop
/// the connection.
pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end())
}
