//! Where an agent sits in its allocation, read from the environment `srun` gives each task.

use crate::hostlist;

/// The allocation as one agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Slurm job id (`SLURM_JOB_ID`).
    pub slurm_job_id: u64,
    /// Every node of the allocation in Slurm's order (`SLURM_JOB_NODELIST`, expanded).
    pub nodes: Vec<String>,
    /// This node's index in `nodes` (`SLURM_NODEID`), torchrun's `NODE_RANK`.
    pub node_rank: u32,
    /// This node's name (`SLURMD_NODENAME`).
    pub node: String,
}

/// A variable is missing or unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not inside a Slurm step: {0} (the agent is started by `srun`)")]
pub struct PlacementError(pub String);

impl Placement {
    /// Reads the placement through `var` (the process environment in production, a map in
    /// tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Placement, PlacementError> {
        let get =
            |name: &str| var(name).ok_or_else(|| PlacementError(format!("{name} is not set")));
        let num = |name: &str| -> Result<u64, PlacementError> {
            get(name)?
                .trim()
                .parse()
                .map_err(|_| PlacementError(format!("{name} is not a number")))
        };
        // SLURM_NODELIST is the older name; name the current one when both are missing.
        let list = get("SLURM_JOB_NODELIST").or_else(|e| get("SLURM_NODELIST").map_err(|_| e))?;
        let nodes = hostlist::expand(&list).map_err(|e| PlacementError(e.to_string()))?;
        let node_rank = u32::try_from(num("SLURM_NODEID")?)
            .map_err(|_| PlacementError("SLURM_NODEID is too large".into()))?;
        let node = get("SLURMD_NODENAME")?;
        if nodes.get(node_rank as usize) != Some(&node) {
            // Slurm numbers SLURM_NODEID in nodelist order; a mismatch means a foreign step.
            return Err(PlacementError(format!(
                "SLURMD_NODENAME={node} is not node {node_rank} of {list}"
            )));
        }
        Ok(Placement {
            slurm_job_id: num("SLURM_JOB_ID")?,
            nodes,
            node_rank,
            node,
        })
    }

    /// torchrun's rendezvous host: the first node of the allocation. (On the one-host dev
    /// cluster the node names do not resolve; the driver passes the address Slurm has for
    /// that node, its `NodeAddr`, which this name maps to.)
    pub fn master_node(&self) -> &str {
        self.nodes.first().map(String::as_str).unwrap_or(&self.node)
    }

    /// Global ranks on this node for `procs_per_node` ranks per node, torchrun's layout.
    pub fn ranks(&self, procs_per_node: u32) -> std::ops::Range<u32> {
        let first = self.node_rank * procs_per_node;
        first..first + procs_per_node
    }
}
