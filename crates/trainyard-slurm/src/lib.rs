//! # trainyard-slurm
//!
//! Everything trainyard needs to *read* from and *ask* Slurm, kept apart from the driver that
//! supervises jobs (`trainyard-exec`) so the parsers stay pure and testable on captured output:
//!
//! * [`hostlist`]: expanding and compressing Slurm host lists (`n[1-3,7]`, `gpu[001-004]`,
//!   `a1,b[2-3]`, `rack[1-2]-n[1-2]`);
//! * [`state`]: Slurm job states and how trainyard reads them (who ended the job and why);
//! * [`sacct`], [`squeue`], [`sinfo`]: parsers for the machine-readable outputs;
//! * [`submit`]: one attempt as one `sbatch` (`--exclude`d bad nodes, one agent per node);
//! * [`placement`]: where an agent sits in its allocation (`SLURM_JOB_NODELIST`, ...);
//! * [`protocol`]: agent ⇄ supervisor messages, newline-delimited JSON over TCP;
//! * [`cmd`]: running Slurm's commands with a bounded timeout and errors that say what is
//!   wrong (no `sbatch` on PATH, controller down) instead of hanging.
//!
//! ## Versions
//! Tested against Debian 12's Slurm **22.05.8** (fixtures under `tests/fixtures/slurm-22.05`,
//! captured on a 4-node cluster from `scripts/slurm-dev.sh`). The JSON readers also accept
//! the shapes of 23.02+/23.11 where they differ (`job_state` and `state.current` as lists,
//! `exit_code.return_code` as `{set, infinite, number}`); those are checked on fixtures written
//! from the 23.11 OpenAPI schema (`tests/fixtures/slurm-23.11`), not captured from a live
//! cluster.
#![deny(missing_docs)]

pub mod cmd;
pub mod hostlist;
pub mod placement;
pub mod protocol;
pub mod sacct;
pub mod sinfo;
pub mod squeue;
pub mod state;
pub mod submit;

pub use cmd::{SlurmCmd, SlurmError};
pub use hostlist::{compress, expand, HostlistError};
pub use state::{EndCause, JobState};
