//! # trainyard-fleet
//!
//! One node's devices and platform facts ([`Node`]), read from any input trainyard accepts
//! ([`ingest`]), and the RDMA rulebook that judges a node ([`rules`]). Fleet analysis (many
//! nodes, consensus, deviations) builds on the same types. No printing: reports are data.
#![deny(missing_docs)]

pub mod analysis;
mod fxhash;
pub mod ingest;
pub mod node;
pub mod rules;
pub mod sources;
pub mod synth;

pub use node::{InputKind, Node};
