//! Fleet analysis: align every node's devices to fleet-wide slots, find the consensus per
//! slot and setting, and report the nodes that differ, with the rulebook applied to every
//! node and aggregated.
//!
//! Use: make one [`Accumulator`] per worker (sharing one node counter), fold nodes in with
//! [`Accumulator::add_node`] as they are read, then [`build_report`] from all of them.

mod accumulate;
mod classify;
pub mod html;
pub mod labels;
mod natural;
mod nodeset;
mod report;
mod slots;

pub use accumulate::{Accumulator, NodeMeta};
pub use html::render_html;
pub use nodeset::NodeSet;
pub use report::{
    build_report, build_report_keeping, Cohort, FindingKind, FleetFinding, FleetReport, Hint,
    SkippedInput,
};
