//! Command-line types of the job commands (`launch`, `ps`, `show`, `logs`, `cancel` and the
//! hidden `__supervise`); clap derive types only, like [`crate::args`].

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `trainyard launch`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// The job spec (see docs/job-spec.md).
    #[arg(value_name = "JOB.TOML")]
    pub spec: PathBuf,

    /// Print the job id and keep supervising in the background.
    #[arg(long, short = 'd')]
    pub detach: bool,

    /// Where ranks run; overrides the spec's `backend`.
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Option<BackendArg>,

    /// Print the outcome as JSON (with --detach: the new job's id); the ranks' output is
    /// then not printed (`trainyard logs` has it).
    #[arg(long)]
    pub json: bool,

    /// Do not print the ranks' output (the status line and the supervisor's events remain).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Backends `launch --backend` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Processes on this machine; every "node" a group of local processes.
    Local,
    /// One Slurm allocation per attempt (`sbatch`), one `trainyard agent` per node.
    Slurm,
}

/// `trainyard agent` (hidden): started by `srun` once per node of a Slurm attempt.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The supervisor's `host:port`.
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: String,

    /// The trainyard job id.
    #[arg(long, value_name = "JOB_ID")]
    pub job_id: String,

    /// The attempt this agent runs.
    #[arg(long, value_name = "K")]
    pub attempt: u32,
}

/// `trainyard ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Also list finished jobs (succeeded, failed, cancelled).
    #[arg(long, short = 'a')]
    pub all: bool,

    /// Print the jobs as JSON (see docs/jobs.md).
    #[arg(long)]
    pub json: bool,
}

/// `trainyard show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Job id, or name (the latest job of that name).
    #[arg(value_name = "JOB")]
    pub job: String,

    /// Print the timeline as JSON (see docs/jobs.md).
    #[arg(long)]
    pub json: bool,
}

/// `trainyard logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Job id, or name (the latest job of that name).
    #[arg(value_name = "JOB")]
    pub job: String,

    /// Keep printing new output until the job ends.
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Only this global rank.
    #[arg(long, value_name = "N")]
    pub rank: Option<u32>,

    /// Only this attempt (1 is the first launch); default: every attempt.
    #[arg(long, value_name = "K")]
    pub attempt: Option<u32>,

    /// Print lines as JSON objects, one per line (`{"attempt","node","rank","text"}`).
    #[arg(long)]
    pub json: bool,
}

/// `trainyard cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Job id, or name (the latest job of that name).
    #[arg(value_name = "JOB")]
    pub job: String,

    /// How long to wait for the job to stop, in seconds (its `stop_grace` plus this).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub wait: u64,

    /// Print the job's final state as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trainyard __supervise JOB_ID` (hidden): the detached supervisor `launch --detach` starts.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The job, already created in the store by `launch`.
    #[arg(value_name = "JOB_ID")]
    pub job: String,
}
