//! # trainyard-exec
//!
//! Drivers that carry out the decisions of `trainyard-job`'s pure [`trainyard_job::Supervisor`]
//! with real processes. This crate decides nothing about a job (that is the machine's); it
//! starts, watches and stops processes, and turns what it sees into events.
//!
//! The local backend, [`LocalDriver`], runs one job on this machine:
//!
//! * every rank gets torchrun's environment ([`RankEnv`]) and runs behind a rank guard
//!   ([`guard`]) that leads its own process group, so one signal reaches the rank and all its
//!   descendants, and nothing survives the supervisor, even a SIGKILLed one;
//! * stdout and stderr of every rank are drained concurrently into
//!   `<log_dir>/attempt-<k>/rank-<r>.out|.err` and into a live merged view ([`LiveView`]);
//! * progress (output lines, `progress_regex` matches, `TRAINYARD_PROGRESS_FILE`) feeds hang
//!   detection;
//! * stopping is SIGTERM to every rank's group, `stop_grace`, SIGKILL;
//! * the history goes to an [`EventSink`] (the CLI's store).
//!
//! The Slurm backend, [`SlurmDriver`] ([`slurm`]), runs every attempt as one `sbatch`
//! allocation with one `trainyard agent` per node; the agents run their node's ranks with the
//! same code as the local driver and report to the supervisor over TCP (`docs/slurm.md`).
//!
//! The contract with the other crates is `docs/supervisor.md`.
#![deny(missing_docs)]

mod driver;
mod env;
pub mod guard;
mod interrupts;
mod output;
mod progress;
mod rank;
mod sink;
pub mod slurm;
mod spawn;
mod teardown;

pub use driver::{CancelHandle, JobOutcome, LocalDriver};
pub use env::{free_port, RankEnv};
pub use output::{LiveView, OutputLine, Stream, TAIL_LINES};
pub use progress::{read_step_file, Coalescer, ProgressRule, MIN_INTERVAL};
pub use sink::{EventSink, NullSink, RankStart, SinkError};
pub use slurm::SlurmDriver;
pub use spawn::{resolve_program, GuardCommand};
pub use teardown::group_exists;

/// Why a driver could not run a job at all (failures of the job's processes are part of its
/// [`JobOutcome`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The async runtime (or the executable path for the guard) is not available.
    #[error("cannot start the driver: {0}")]
    Runtime(#[source] std::io::Error),
    /// The job's log directory cannot be created.
    #[error("cannot create the job's log directory {path}: {source}")]
    LogDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Slurm cannot be used (not installed, controller down, no nodes).
    #[error(transparent)]
    Slurm(#[from] trainyard_slurm::SlurmError),
    /// SIGINT/SIGTERM cannot be listened for.
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
}
