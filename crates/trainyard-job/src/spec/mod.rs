//! The job spec: `job.toml` parsed into a [`JobSpec`], and written back for the store.
//!
//! Every key is documented in `docs/job-spec.md`. Parsing is strict (unknown keys and bad values
//! are errors with file, line, column and a hint) because a typo in `hang_timeout` silently
//! falling back to a default is exactly the kind of surprise that costs a night of training.

mod error;
mod parse;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::backoff::Backoff;
use crate::event::NodeName;
use crate::policy::{local_nodes, Policy};

pub use error::{SpecError, SpecErrorKind};

/// A parsed, validated `job.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSpec {
    /// The job's name (`[A-Za-z0-9._-]`, at most 64 characters); `trainyard show NAME` finds
    /// the latest job of that name.
    pub name: String,
    /// The program and its arguments, run for every rank (no shell).
    pub command: Vec<String>,
    /// Extra environment for every rank (on top of the inherited environment and the
    /// torchrun-style variables).
    pub env: BTreeMap<String, String>,
    /// Working directory of the ranks; relative to the spec file's directory (see
    /// [`JobSpec::resolve_paths`]). `None` is the spec file's directory.
    pub workdir: Option<PathBuf>,
    /// Nodes per attempt (`local` backend: groups of local processes).
    pub nodes: u32,
    /// Ranks per node (`LOCAL_WORLD_SIZE`).
    pub procs_per_node: u32,
    /// Restarts allowed after the first attempt.
    pub max_restarts: u32,
    /// Delay before each restart.
    pub restart_backoff: Backoff,
    /// No progress from a rank for this long is a hang; `None` (`"off"`) disables detection.
    #[serde(serialize_with = "ser_opt_duration")]
    pub hang_timeout: Option<Duration>,
    /// Lines matching this count as progress, the first capture group being the step; `None`
    /// means every output line is progress.
    pub progress_regex: Option<ProgressRegex>,
    /// SIGTERM → SIGKILL grace when stopping ranks.
    #[serde(serialize_with = "ser_duration")]
    pub stop_grace: Duration,
    /// Where the job writes checkpoints (informative: shown, and its newest step reported);
    /// relative to `workdir`.
    pub checkpoint_dir: Option<PathBuf>,
    /// Where ranks run.
    pub backend: Backend,
    /// Blamed failures on one node before it is marked bad.
    pub node_failure_limit: u32,
    /// Extra nodes kept to replace bad ones (`local`: extra logical nodes).
    pub spare_nodes: u32,
    /// Settings for the Slurm backend (accepted, and kept, whatever the backend).
    pub slurm: SlurmSpec,
}

/// Where ranks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Processes on this machine, grouped into logical nodes `local-0`, `local-1`, ...
    #[default]
    Local,
    /// A Slurm allocation (a later issue).
    Slurm,
}

impl Backend {
    /// The name used in `job.toml` (`"local"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Slurm => "slurm",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[slurm]` table. Every key is optional so a local job may carry one unused.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SlurmSpec {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`, in Slurm's own format (`"2-00:00:00"`), passed through unchecked.
    pub time_limit: Option<String>,
    /// Ask Slurm to drain nodes this job marks bad (needs operator rights).
    pub drain_bad_nodes: bool,
    /// Anything else for `sbatch`/`srun`, passed through verbatim.
    pub extra_args: Vec<String>,
}

/// A validated `progress_regex` (compiled once; compared by its text).
#[derive(Debug, Clone)]
pub struct ProgressRegex(regex::Regex);

impl ProgressRegex {
    /// Compiles `pattern`.
    ///
    /// # Errors
    /// The regex crate's message when `pattern` is not a valid regular expression.
    pub fn new(pattern: &str) -> Result<ProgressRegex, regex::Error> {
        regex::Regex::new(pattern).map(ProgressRegex)
    }

    /// The compiled expression.
    #[must_use]
    pub fn regex(&self) -> &regex::Regex {
        &self.0
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether `line` is progress and, if the first capture group holds a number, its step.
    /// `None` when the line does not match.
    #[must_use]
    pub fn match_line(&self, line: &str) -> Option<Option<u64>> {
        let caps = self.0.captures(line)?;
        Some(caps.get(1).and_then(|m| m.as_str().parse().ok()))
    }
}

impl PartialEq for ProgressRegex {
    fn eq(&self, other: &ProgressRegex) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for ProgressRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::duration::format_duration(*d))
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_str("off"),
    }
}

/// Defaults, in one place so the docs, the parser and [`Policy::default`] agree.
pub mod defaults {
    use std::time::Duration;

    /// `nodes`.
    pub const NODES: u32 = 1;
    /// `procs_per_node`.
    pub const PROCS_PER_NODE: u32 = 1;
    /// `max_restarts`.
    pub const MAX_RESTARTS: u32 = 3;
    /// `hang_timeout`: long enough for a slow first step or checkpoint load, short enough
    /// that a hung collective does not burn a night.
    pub const HANG_TIMEOUT: Duration = Duration::from_secs(30 * 60);
    /// `stop_grace`.
    pub const STOP_GRACE: Duration = Duration::from_secs(10);
    /// `node_failure_limit`.
    pub const NODE_FAILURE_LIMIT: u32 = 2;
    /// `spare_nodes`.
    pub const SPARE_NODES: u32 = 0;
}

impl JobSpec {
    /// Parses and validates `text`, the contents of the file at `path` (used only in errors,
    /// and for the default `name`, the file's stem).
    ///
    /// # Errors
    /// [`SpecError`] with path, line, column, message and hint for the first problem found.
    pub fn from_toml(text: &str, path: &std::path::Path) -> Result<JobSpec, SpecError> {
        parse::parse(text, path)
    }

    /// The spec as TOML, every key written out (defaults included) so the stored copy does not
    /// change meaning when a later trainyard changes a default. [`JobSpec::from_toml`] reads it
    /// back to an equal spec.
    #[must_use]
    pub fn to_toml(&self) -> String {
        write::write(self)
    }

    /// A spec with every default and this command; the name is `"job"`.
    #[must_use]
    pub fn default_for_command(command: Vec<String>) -> JobSpec {
        JobSpec {
            name: "job".to_owned(),
            command,
            env: BTreeMap::new(),
            workdir: None,
            nodes: defaults::NODES,
            procs_per_node: defaults::PROCS_PER_NODE,
            max_restarts: defaults::MAX_RESTARTS,
            restart_backoff: Backoff::default(),
            hang_timeout: Some(defaults::HANG_TIMEOUT),
            progress_regex: None,
            stop_grace: defaults::STOP_GRACE,
            checkpoint_dir: None,
            backend: Backend::Local,
            node_failure_limit: defaults::NODE_FAILURE_LIMIT,
            spare_nodes: defaults::SPARE_NODES,
            slurm: SlurmSpec::default(),
        }
    }

    /// Makes `workdir` absolute against `spec_dir` (the spec file's directory; `None` becomes
    /// `spec_dir` itself) and `checkpoint_dir` absolute against the resulting `workdir`.
    /// Pure path arithmetic: nothing is read, so `spec_dir` should itself be absolute.
    pub fn resolve_paths(&mut self, spec_dir: &std::path::Path) {
        let workdir = match &self.workdir {
            Some(w) => spec_dir.join(w),
            None => spec_dir.to_path_buf(),
        };
        if let Some(c) = &self.checkpoint_dir {
            self.checkpoint_dir = Some(workdir.join(c));
        }
        self.workdir = Some(workdir);
    }

    /// The supervisor's rules for this job.
    #[must_use]
    pub fn policy(&self) -> Policy {
        Policy {
            nodes: self.nodes,
            procs_per_node: self.procs_per_node,
            max_restarts: self.max_restarts,
            backoff: self.restart_backoff,
            hang_timeout: self.hang_timeout,
            stop_grace: self.stop_grace,
            node_failure_limit: self.node_failure_limit.max(1),
        }
    }

    /// Ranks per attempt (`WORLD_SIZE`), saturating.
    #[must_use]
    pub fn world_size(&self) -> u32 {
        self.nodes.saturating_mul(self.procs_per_node)
    }

    /// The local backend's node pool: `nodes + spare_nodes` names `local-0`, `local-1`, ...
    /// The first `nodes` are used first; the rest are spares.
    #[must_use]
    pub fn local_pool(&self) -> Vec<NodeName> {
        local_nodes(self.nodes.saturating_add(self.spare_nodes))
    }
}
