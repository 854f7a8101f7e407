//! The running attempt's per-rank bookkeeping.
//!
//! Ranks are kept in a map, filled as the driver reports them, rather than a vector of the
//! world size: a hand-built policy may claim millions of ranks, and a rank never heard from is
//! fully described by the attempt's start time.

use std::collections::BTreeMap;

use crate::blame::StopCause;
use crate::event::{AttemptNumber, ExitStatus, NodeName, Rank};
use crate::time::Millis;

/// What we know of one rank.
#[derive(Debug, Clone, Default)]
pub(crate) struct RankInfo {
    /// The node the driver said it runs on.
    pub node: Option<NodeName>,
    /// Its pid, if started.
    pub pid: Option<u32>,
    /// Whether [`crate::Event::RankStarted`] arrived.
    pub started: bool,
    /// Its last start or progress; `None` means "since the attempt started".
    pub last_activity: Option<Millis>,
    /// Its last reported step.
    pub last_step: Option<u64>,
    /// How it ended.
    pub exit: Option<ExitStatus>,
}

/// Is the attempt healthy, or on its way down (and why)?
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Stopping(StopCause),
}

/// The attempt in flight.
#[derive(Debug, Clone)]
pub(crate) struct LiveAttempt {
    pub number: AttemptNumber,
    pub nodes: Vec<NodeName>,
    pub procs_per_node: u32,
    pub world: u32,
    /// Since when its resources run (the hang clock's origin for ranks not heard from);
    /// `None` while it waits in a scheduler's queue.
    pub running_since: Option<Millis>,
    pub phase: Phase,
    pub ranks: BTreeMap<Rank, RankInfo>,
    /// Ranks that exited 0 (counted, so success is O(1) to check).
    pub succeeded: u32,
}

impl LiveAttempt {
    pub(crate) fn new(
        number: AttemptNumber,
        nodes: Vec<NodeName>,
        procs_per_node: u32,
        started_at: Millis,
    ) -> LiveAttempt {
        let world = u32::try_from(nodes.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(procs_per_node);
        LiveAttempt {
            number,
            nodes,
            procs_per_node,
            world,
            running_since: Some(started_at),
            phase: Phase::Running,
            ranks: BTreeMap::new(),
            succeeded: 0,
        }
    }

    /// The rank's record, if `rank` is part of this attempt's world.
    pub(crate) fn rank_mut(&mut self, rank: Rank) -> Option<&mut RankInfo> {
        (rank < self.world).then(|| self.ranks.entry(rank).or_default())
    }

    /// The node a rank runs on: what the driver said, else what the layout implies.
    pub(crate) fn node_of(&self, rank: Rank) -> NodeName {
        if let Some(node) = self.ranks.get(&rank).and_then(|r| r.node.clone()) {
            return node;
        }
        let idx = usize::try_from(rank / self.procs_per_node.max(1)).unwrap_or(usize::MAX);
        self.nodes
            .get(idx)
            .cloned()
            .unwrap_or_else(|| "unknown node".to_owned())
    }

    /// Every rank exited 0.
    pub(crate) fn all_succeeded(&self) -> bool {
        self.succeeded >= self.world
    }

    /// Its resources run from `now` on, unless they already did.
    /// Notes that the attempt's resources run from `now` on, unless known before; `true`
    /// when this is the first word of it.
    pub(crate) fn mark_running(&mut self, now: Millis) -> bool {
        let first = self.running_since.is_none();
        self.running_since.get_or_insert(now);
        first
    }

    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }
}
