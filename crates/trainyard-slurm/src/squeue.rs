//! `squeue -h -o '%i|%T|%N|%r'`: the live view of queued and running jobs.
//!
//! 22.05's `squeue` has no `--parsable2`, and its `--json` ignores `-j` filters and also lists
//! finished jobs still in memory, so the driver asks for this fixed `-o` format.

use crate::hostlist;
use crate::state::JobState;

/// The `-o` format [`parse`] reads: job id, state, nodes, reason.
pub const FORMAT: &str = "%i|%T|%N|%r";

/// One row of `squeue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    /// Slurm's job id.
    pub job_id: u64,
    /// Its state.
    pub state: JobState,
    /// Allocated nodes, expanded (empty while pending).
    pub nodes: Vec<String>,
    /// Why it pends or ended (`Resources`, `PartitionNodeLimit`, ...); `None` for `None`.
    pub reason: Option<String>,
}

/// Parses the output of `squeue -h -o '%i|%T|%N|%r'`. Lines that do not fit (a warning
/// on stdout, an array id) are skipped and logged rather than failing the whole poll.
pub fn parse(text: &str) -> Vec<QueuedJob> {
    let mut jobs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.splitn(4, '|');
        let (Some(id), Some(state), Some(nodes), reason) = (f.next(), f.next(), f.next(), f.next())
        else {
            tracing::debug!(
                line,
                "squeue: skipping a line that is not id|state|nodes|reason"
            );
            continue;
        };
        let Ok(job_id) = id.trim().parse() else {
            tracing::debug!(line, "squeue: skipping a line without a numeric job id");
            continue;
        };
        let nodes = hostlist::expand(nodes.trim()).unwrap_or_else(|e| {
            tracing::warn!(%e, "squeue: unreadable node list");
            Vec::new()
        });
        jobs.push(QueuedJob {
            job_id,
            state: JobState::parse(state),
            nodes,
            reason: reason
                .map(str::trim)
                .filter(|r| !r.is_empty() && *r != "None")
                .map(str::to_string),
        });
    }
    jobs
}

/// Pending reasons that mean the job can never start as asked: the driver fails fast with
/// Slurm's reason instead of waiting forever (e.g. more nodes than the partition has).
pub fn reason_is_permanent(reason: &str) -> bool {
    const PERMANENT: &[&str] = &[
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "PartitionConfig",
        "BadConstraints",
        "ReqNodeNotAvail",
        "InvalidAccount",
        "InvalidQOS",
        "QOSMaxNodePerJobLimit",
        "AssocMaxNodesPerJobLimit",
        "JobHeldAdmin",
        "DependencyNeverSatisfied",
    ];
    PERMANENT.iter().any(|p| reason.starts_with(p))
}
