//! Folding nodes, one at a time, into per-slot, per-key, per-value node sets.
//!
//! Memory grows with the number of distinct (slot, key, value) triples, not with bytes read:
//! a node is folded and dropped. Keys whose values are nearly all different (serial numbers,
//! addresses, IRQs) are recognised from the data as they arrive and stop being tracked value
//! by value.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use trainyard_pci::Role;

use super::nodeset::NodeSet;
use crate::node::{InputKind, Node};
use crate::rules::{self, Finding, Severity};

/// A key stops being tracked per value once it has more than this many distinct values
/// and more distinct values than a quarter of the nodes seen: an identifier, not a setting.
const HIGH_CARDINALITY_MIN: usize = 32;

/// The pseudo-slot holding node-wide platform facts.
pub const PLATFORM_SLOT: &str = "platform";

/// What is kept about each node: its name and the platform facts that can explain a cohort.
#[derive(Debug, Clone)]
pub struct NodeMeta {
    /// Node name.
    pub name: String,
    /// What it was read from.
    pub kind: InputKind,
    /// PCI functions.
    pub devices: usize,
    /// Platform facts: `dmi.bios_version`, `kernel.release`, `gpu.driver_version`, ...
    pub facts: BTreeMap<String, String>,
}

/// One setting of one slot across the fleet.
#[derive(Debug, Default)]
pub(crate) struct KeyAcc {
    pub values: HashMap<Box<str>, NodeSet>,
    /// Nodes that reported the key at all (kept when values are no longer tracked).
    pub reported: NodeSet,
    pub high_cardinality: bool,
}

/// One slot (a device position in the PCIe tree) across the fleet.
#[derive(Debug, Default)]
pub(crate) struct SlotAcc {
    /// Nodes with a device at this slot.
    pub present: NodeSet,
    /// Human label from the first node that had it.
    pub label: String,
    /// The device's role.
    pub role: Option<Role>,
    /// Settings.
    pub keys: HashMap<Box<str>, KeyAcc>,
}

/// A rulebook finding aggregated over nodes.
#[derive(Debug)]
pub(crate) struct RuleAcc {
    pub nodes: NodeSet,
    /// The first node's finding: summary, evidence, why and fix.
    pub sample: Finding,
    /// Slot label (or the node-wide marker).
    pub label: String,
}

/// Per-worker accumulator. Workers share only the node counter, so node indices are global
/// and merging is a union.
#[derive(Debug)]
pub struct Accumulator {
    counter: Arc<AtomicU32>,
    pub(crate) nodes: Vec<(u32, NodeMeta)>,
    pub(crate) slots: HashMap<Box<str>, SlotAcc>,
    pub(crate) rules: HashMap<(&'static str, Box<str>, Severity), RuleAcc>,
}

impl Accumulator {
    /// An empty accumulator drawing node indices from `counter` (share one counter between
    /// all accumulators of one analysis).
    pub fn new(counter: Arc<AtomicU32>) -> Self {
        Self {
            counter,
            nodes: Vec::new(),
            slots: HashMap::new(),
            rules: HashMap::new(),
        }
    }

    /// Number of nodes folded in.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Folds one node in: its devices by slot, its platform facts, and its rulebook findings.
    pub fn add_node(&mut self, node: &Node) {
        let idx = self.counter.fetch_add(1, Ordering::Relaxed);
        self.nodes.push((
            idx,
            NodeMeta {
                name: node.name.clone(),
                kind: node.kind,
                devices: node.devices.len(),
                facts: platform_facts(node),
            },
        ));
        let labels = super::labels::device_labels(node);
        let mut slot_of = Vec::with_capacity(node.devices.len());
        for (i, dev) in node.devices.iter().enumerate() {
            let slot = node.topology.slot_path(&node.devices, i);
            let acc = self.slots.entry(slot.as_str().into()).or_default();
            if acc.label.is_empty() {
                acc.label = labels[i].clone();
                acc.role = Some(dev.role());
            }
            acc.present.insert(idx);
            for (key, value) in dev.fields_iter() {
                let k = match acc.keys.get_mut(key) {
                    Some(k) => k,
                    None => acc.keys.entry(key.into()).or_default(),
                };
                k.reported.insert(idx);
                if k.high_cardinality {
                    continue;
                }
                match k.values.get_mut(value) {
                    Some(set) => set.insert(idx),
                    None => {
                        let mut set = NodeSet::default();
                        set.insert(idx);
                        k.values.insert(value.into(), set);
                        let seen = k.reported.len();
                        if k.values.len() > HIGH_CARDINALITY_MIN && k.values.len() * 4 > seen {
                            k.high_cardinality = true;
                            k.values = HashMap::new();
                        }
                    }
                }
            }
            slot_of.push(slot);
        }
        // Platform facts (firmware, kernel, drivers) take part in the consensus as the settings
        // of a pseudo-slot, so a node with an older BIOS is a deviation like any other.
        let facts = &self
            .nodes
            .last()
            .map(|(_, m)| m.facts.clone())
            .unwrap_or_default();
        if !facts.is_empty() {
            let acc = self.slots.entry(PLATFORM_SLOT.into()).or_default();
            if acc.label.is_empty() {
                acc.label = "platform (DMI, kernel, drivers)".to_string();
            }
            acc.present.insert(idx);
            for (key, value) in facts {
                let k = acc.keys.entry(key.as_str().into()).or_default();
                k.reported.insert(idx);
                if !k.high_cardinality {
                    k.values
                        .entry(value.as_str().into())
                        .or_default()
                        .insert(idx);
                }
            }
        }
        let report = rules::check_node(node);
        for f in report.findings {
            let (where_, label) = match f
                .device
                .as_deref()
                .and_then(|a| node.devices.iter().position(|d| d.address.to_string() == a))
            {
                Some(i) => (slot_of[i].clone(), labels[i].clone()),
                None => ("node".to_string(), "node-wide".to_string()),
            };
            let key = (f.rule, where_.into_boxed_str(), f.severity);
            match self.rules.get_mut(&key) {
                Some(r) => r.nodes.insert(idx),
                None => {
                    let mut nodes = NodeSet::default();
                    nodes.insert(idx);
                    self.rules.insert(
                        key,
                        RuleAcc {
                            nodes,
                            sample: f,
                            label,
                        },
                    );
                }
            }
        }
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: Accumulator) {
        self.nodes.extend(other.nodes);
        for (slot, o) in other.slots {
            let acc = self.slots.entry(slot).or_default();
            if acc.label.is_empty() {
                acc.label = o.label;
                acc.role = o.role;
            }
            acc.present.union_with(&o.present);
            for (key, ok) in o.keys {
                let k = acc.keys.entry(key).or_default();
                k.reported.union_with(&ok.reported);
                if ok.high_cardinality {
                    k.high_cardinality = true;
                }
                if k.high_cardinality {
                    k.values = HashMap::new();
                    continue;
                }
                for (v, set) in ok.values {
                    k.values.entry(v).or_default().union_with(&set);
                }
                if k.values.len() > HIGH_CARDINALITY_MIN && k.values.len() * 4 > k.reported.len() {
                    k.high_cardinality = true;
                    k.values = HashMap::new();
                }
            }
        }
        for (key, o) in other.rules {
            match self.rules.get_mut(&key) {
                Some(r) => r.nodes.union_with(&o.nodes),
                None => {
                    self.rules.insert(key, o);
                }
            }
        }
    }
}

/// Platform facts of a node that can explain why a group of nodes differs: firmware, board,
/// kernel, drivers. Only snapshots carry them.
fn platform_facts(node: &Node) -> BTreeMap<String, String> {
    let mut facts = BTreeMap::new();
    let Some(s) = &node.snapshot else {
        return facts;
    };
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            facts.insert(k.to_string(), v.to_string());
        }
    };
    put("dmi.bios_vendor", &s.dmi.bios_vendor);
    put("dmi.bios_version", &s.dmi.bios_version);
    put("dmi.bios_date", &s.dmi.bios_date);
    put("dmi.board_vendor", &s.dmi.board_vendor);
    put("dmi.board_name", &s.dmi.board_name);
    put("dmi.sys_vendor", &s.dmi.sys_vendor);
    put("dmi.product_name", &s.dmi.product_name);
    put("kernel.release", &s.kernel.release);
    put("cpu.model", &s.cpu.model);
    let iommu_pt = s
        .kernel
        .cmdline
        .as_deref()
        .map(|c| c.split_whitespace().any(|w| w == "iommu=pt").to_string());
    put("kernel.iommu=pt", &iommu_pt);
    if let Some(g) = s.gpus.first() {
        put("gpu.driver_version", &g.driver_version);
        put("gpu.vbios", &g.vbios);
    }
    if let Some(ib) = s.infiniband.first() {
        put("ib.fw_ver", &ib.fw_ver);
    }
    for (module, loaded) in &s.modules {
        if matches!(
            module.as_str(),
            "nvidia_peermem" | "nv_peer_mem" | "mlx5_core" | "nvidia"
        ) {
            facts.insert(
                format!("module.{module}"),
                if *loaded { "loaded" } else { "absent" }.into(),
            );
        }
    }
    facts
}
