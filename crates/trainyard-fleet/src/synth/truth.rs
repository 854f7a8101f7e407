//! The ground truth of a synthetic fleet: which nodes got which fault, where, and what
//! varies naturally. Tests and benchmarks of fleet analysis compare findings against it.

use serde::{Deserialize, Serialize};

use super::faults::FaultKind;
use super::variation::NaturalKind;

/// Everything `trainyard fleet synth` injected, as JSON (docs/fleet-synth.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    /// The template's name (its file name).
    pub template: String,
    /// `text` (lspci -vvv) or `snapshot`.
    pub format: String,
    /// The RNG seed.
    pub seed: u64,
    /// Node names, in generation order.
    pub nodes: Vec<String>,
    /// Injected faults, one entry per (kind, device, key).
    pub faults: Vec<FaultTruth>,
    /// Natural variation that is not a fault, one entry per (kind, device, key).
    pub natural: Vec<NaturalTruth>,
    /// Fault kinds asked for that the template cannot carry, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedFault>,
}

/// One injected fault on one device and key, shared by a cohort of nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultTruth {
    /// Which fault.
    pub kind: FaultKind,
    /// The nodes that have it.
    pub nodes: Vec<String>,
    /// The device's address in the template (before any renumbering); `None` for node-wide
    /// facts (BIOS).
    pub device: Option<String>,
    /// The device's slot path (`trainyard_pci::Topology::slot_path` on the template).
    pub slot: Option<String>,
    /// Field key (`ACSCtl.ReqRedir`), the DMI key for BIOS (`bios_version`), or `missing`.
    pub key: String,
    /// The value on the faulty nodes (`absent` for a missing device).
    pub value: String,
    /// The value on every other node (the template's).
    pub fleet_value: String,
}

/// One kind of natural variation on one device and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NaturalTruth {
    /// Which variation.
    pub kind: NaturalKind,
    /// Nodes showing it; empty when `every_node` is set (kept short for large fleets).
    pub nodes: Vec<String>,
    /// True when the value differs on every node (serials, IRQs, BARs).
    #[serde(default)]
    pub every_node: bool,
    /// The device's address in the template.
    pub device: String,
    /// The device's slot path in the template.
    pub slot: String,
    /// Field key.
    pub key: String,
}

/// A fault kind that was asked for but not injected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFault {
    /// Which fault.
    pub kind: FaultKind,
    /// Why (`no RDMA NIC in the template`).
    pub reason: String,
}

impl Truth {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a truth file written by [`Truth::to_json`].
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Entries of one fault kind.
    pub fn faults_of(&self, kind: FaultKind) -> impl Iterator<Item = &FaultTruth> + '_ {
        self.faults.iter().filter(move |f| f.kind == kind)
    }
}
