//! The Slurm backend: [`SlurmDriver`] supervises a job whose attempts are Slurm allocations,
//! and [`run_agent`] is the per-node `trainyard agent` that runs a node's ranks for it.
//!
//! The wire between them, the `sbatch` plan and Slurm's outputs live in `trainyard-slurm`;
//! the ranks themselves are started and watched by the same code as the local backend's.

mod agent;
mod driver;

pub use agent::{run_agent, AgentArgs, AgentError};
pub use driver::{check_slurm, SlurmDriver};
