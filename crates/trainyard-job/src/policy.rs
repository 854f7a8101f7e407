//! The part of a spec the supervisor decides with.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::Backoff;
use crate::event::NodeName;
use crate::spec::JobSpec;

/// The supervisor's rules, taken from a [`JobSpec`] ([`JobSpec::policy`]) or built by hand by
/// the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Nodes per attempt.
    pub nodes: u32,
    /// Ranks per node.
    pub procs_per_node: u32,
    /// Restarts allowed after the first attempt.
    pub max_restarts: u32,
    /// Delay before each restart.
    pub backoff: Backoff,
    /// No progress from a rank for this long is a hang; `None` disables hang detection.
    pub hang_timeout: Option<Duration>,
    /// SIGTERM → SIGKILL grace handed to [`crate::Action::StopAttempt`].
    pub stop_grace: Duration,
    /// Blamed failures on one node before it is marked bad (at least 1).
    pub node_failure_limit: u32,
}

impl Policy {
    /// Ranks per attempt (`WORLD_SIZE`), saturating.
    #[must_use]
    pub fn world_size(&self) -> u32 {
        self.nodes.saturating_mul(self.procs_per_node)
    }
}

impl Default for Policy {
    /// The spec defaults: 1 node × 1 rank, 3 restarts, default backoff, 30 min hang timeout,
    /// 10 s grace, 2 failures per node.
    fn default() -> Policy {
        JobSpec::default_for_command(vec!["true".to_owned()]).policy()
    }
}

/// The local backend's node names, `local-0 .. local-{n-1}`.
#[must_use]
pub fn local_nodes(n: u32) -> Vec<NodeName> {
    (0..n).map(|i| format!("local-{i}")).collect()
}
