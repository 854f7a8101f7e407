//! The virtual cluster as the supervisor sees it: units (nodes, or groups of nodes), their
//! health, and repairs.
//!
//! The supervisor's per-event cost grows with the number of ranks (its hang scan looks at
//! every rank) and its per-attempt cost with the pool (it copies the node list), so a
//! 12,500-node job cannot be one supervisor node per host and still run in a second. The
//! cluster is therefore cut into at most `max_units` *units* of `group` consecutive nodes;
//! each unit is one supervisor node with one rank. A failure anywhere in a unit is that
//! unit's failure, blamed and excluded as one. Spares stay counted in nodes: each spare is a
//! spare *unit*, because one spare node is what makes a group with one broken node whole
//! again. With `group == 1` (up to `max_units` nodes) the model is exact.

use trainyard_job::NodeName;

/// How nodes map onto supervisor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Nodes the job needs.
    pub nodes: u64,
    /// Nodes per unit (the last unit may be smaller).
    pub group: u64,
    /// Units the job runs on (the supervisor's `nodes`).
    pub units: u32,
    /// Spare units in the pool (one per spare node).
    pub spares: u32,
}

impl Layout {
    /// The layout of `nodes` nodes plus `spares` spares, with at most `max_units` working units.
    #[must_use]
    pub fn new(nodes: u64, spares: u32, max_units: u32) -> Layout {
        let nodes = nodes.max(1);
        let max_units = u64::from(max_units.max(1));
        let group = nodes.div_ceil(max_units);
        let units = u32::try_from(nodes.div_ceil(group)).unwrap_or(u32::MAX);
        Layout {
            nodes,
            group,
            units,
            spares,
        }
    }

    /// Units in the pool, working and spare.
    #[must_use]
    pub fn pool_size(&self) -> u32 {
        self.units.saturating_add(self.spares)
    }

    /// The working slot (supervisor rank) a node index falls in.
    #[must_use]
    pub fn slot_of_node(&self, node: u64) -> u32 {
        u32::try_from(node.min(self.nodes - 1) / self.group).unwrap_or(u32::MAX)
    }
}

/// Unit health and the supervisor's pool names.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub layout: Layout,
    /// `u0 .. u{pool-1}`: working units first, then spares (the supervisor's pool order).
    pub names: Vec<NodeName>,
    /// Broken by a persistent fault and not yet repaired.
    pub broken: Vec<bool>,
    /// Taken out (marked bad) and in repair until the given time.
    pub in_repair: Vec<bool>,
}

impl Cluster {
    pub(crate) fn new(layout: Layout) -> Cluster {
        let n = layout.pool_size() as usize;
        Cluster {
            layout,
            names: (0..n).map(|i| format!("u{i}")).collect(),
            broken: vec![false; n],
            in_repair: vec![false; n],
        }
    }

    /// The unit index of a pool name (`u17` → 17).
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        let i: usize = name.strip_prefix('u')?.parse().ok()?;
        (i < self.names.len()).then_some(i)
    }

    /// Units neither in repair nor known broken: what a resubmitted job could run on.
    pub(crate) fn available(&self) -> usize {
        self.in_repair.iter().filter(|r| !**r).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let l = Layout::new(12_500, 64, 64);
        assert_eq!((l.group, l.units, l.pool_size()), (196, 64, 128));
        assert_eq!(l.slot_of_node(12_499), 63);
        let l = Layout::new(10, 2, 64);
        assert_eq!((l.group, l.units), (1, 10));
        let l = Layout::new(100, 0, 64);
        assert_eq!((l.group, l.units), (2, 50));
        let c = Cluster::new(Layout::new(3, 1, 64));
        assert_eq!(c.index("u3"), Some(3));
        assert_eq!(c.index("u4"), None);
        assert_eq!(c.index("x1"), None);
    }
}
