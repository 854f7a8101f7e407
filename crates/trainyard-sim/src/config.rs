//! Everything a simulation run is parameterized by.

use std::time::Duration;

use trainyard_job::{Backoff, Policy};

use crate::cluster::Layout;
use crate::failure::{FailureModel, Interarrival};

/// A simulated job on a simulated cluster. [`Config::default`] is `trainyard sim`'s defaults:
/// 100,000 GPUs, 54 days, Llama 3 failure rates (see `docs/sim.md` for every source).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// GPUs the job trains on.
    pub gpus: u64,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Simulated wall-clock time.
    pub horizon: Duration,
    /// Training time between checkpoints (must be positive).
    pub checkpoint_interval: Duration,
    /// Time to write one checkpoint.
    pub checkpoint_write: Duration,
    /// Asynchronous checkpoints: training goes on while the checkpoint is written; the work
    /// is safe once the write completes. Blocking (the default) pauses training for the write.
    pub checkpoint_async: bool,
    /// Attempt start-up: scheduling, process and NCCL init, checkpoint load (launch to first
    /// progress).
    pub restart: Duration,
    /// Stop request to every rank gone (SIGTERM, grace, SIGKILL).
    pub teardown: Duration,
    /// Spare nodes beyond those the job needs.
    pub spares: u32,
    /// Time for a node marked bad to be repaired (or cleared) and return to the pool.
    pub repair: Duration,
    /// A node health check (DCGM, XID watch) reports persistent hardware faults as bad node
    /// verdicts when they happen; without it only the supervisor's blame counting
    /// (`node_failure_limit`) takes a broken node out, after restarts that fail on it.
    pub health_check: bool,
    /// Where failures come from.
    pub failures: FailureModel,
    /// Time between failures of each cause stream.
    pub interarrival: Interarrival,
    /// The supervisor's rules; `nodes` and `procs_per_node` are set by the simulator from the
    /// cluster [`Layout`].
    pub policy: Policy,
    /// Most supervisor units (see [`Layout`]): bounds the cost of the supervisor's per-rank
    /// scans.
    pub max_units: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            gpus: 100_000,
            gpus_per_node: 8,
            horizon: Duration::from_secs(54 * 24 * 3600),
            checkpoint_interval: Duration::from_secs(30 * 60),
            checkpoint_write: Duration::from_secs(60),
            checkpoint_async: false,
            restart: Duration::from_secs(5 * 60),
            teardown: Duration::from_secs(10),
            spares: 64,
            repair: Duration::from_secs(2 * 3600),
            health_check: true,
            failures: FailureModel::default(),
            interarrival: Interarrival::Exponential,
            policy: default_policy(),
            max_units: 64,
        }
    }
}

/// The job spec's policy defaults, except that restarts are unlimited (a 54-day run restarts
/// hundreds of times; a finite budget only adds resubmissions) and the hang timeout is
/// PyTorch's NCCL collective timeout (10 min).
#[must_use]
pub fn default_policy() -> Policy {
    Policy {
        max_restarts: u32::MAX,
        hang_timeout: Some(Duration::from_secs(600)),
        backoff: Backoff::default(),
        ..Policy::default()
    }
}

impl Config {
    /// Nodes the job needs.
    #[must_use]
    pub fn nodes(&self) -> u64 {
        self.gpus
            .max(1)
            .div_ceil(u64::from(self.gpus_per_node.max(1)))
    }

    /// How nodes map onto supervisor units.
    #[must_use]
    pub fn layout(&self) -> Layout {
        Layout::new(self.nodes(), self.spares, self.max_units)
    }

    /// The policy the supervisor runs: [`Config::policy`] with one rank per unit.
    #[must_use]
    pub fn supervisor_policy(&self) -> Policy {
        Policy {
            nodes: self.layout().units,
            procs_per_node: 1,
            ..self.policy.clone()
        }
    }
}
