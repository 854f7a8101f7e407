//! What every rule needs about a node, computed once: roles, children, the platform.

use std::collections::BTreeMap;
use std::sync::Arc;

use trainyard_pci::{Device, PortType, Role};

use super::facts::DeviceFacts;
use super::platform::Platform;
use super::{Finding, RuleInfo, Severity};
use crate::node::{InputKind, Node};

/// A node prepared for the rules.
pub(crate) struct Context<'a> {
    /// The node.
    pub node: &'a Node,
    /// `roles[i]` is `node.devices[i].role()`.
    pub roles: Vec<Role>,
    /// What each device says on its own (role, error bits), from the per-thread cache.
    pub facts: Vec<DeviceFacts>,
    /// `children[i]`: devices whose parent is `i`.
    pub children: Vec<Vec<usize>>,
    /// Bare metal or a VM, and how we know.
    pub platform: Platform,
    /// Whether findings name their device's slot path ([`Finding::slot`]): the fleet's fold
    /// names slots itself, and a path costs a walk up the tree and some formatting.
    pub slot_paths: bool,
    /// Which findings the caller reads beyond their rule, severity and device (see
    /// [`Context::quotes`]); `None`: every finding.
    quoted: Option<Quoted<'a>>,
}

/// Whether the caller of the rulebook reads the text and evidence of a finding of a rule
/// (its id), at a severity, on a device (its index; `None` for a node-wide finding).
pub(crate) type Quoted<'a> = &'a dyn Fn(&'static str, Severity, Option<usize>) -> bool;

impl<'a> Context<'a> {
    /// `node` and its devices' facts, in order; `slot_paths`: see [`Context::slot_paths`];
    /// `quoted`: see [`Context::quotes`].
    pub fn new(
        node: &'a Node,
        facts: Vec<DeviceFacts>,
        slot_paths: bool,
        quoted: Option<Quoted<'a>>,
    ) -> Self {
        let n = node.devices.len();
        let roles = facts.iter().map(|f| f.role).collect();
        let mut children = vec![Vec::new(); n];
        for i in 0..n {
            if let Some(p) = node.topology.parent(i) {
                if let Some(c) = children.get_mut(p) {
                    c.push(i);
                }
            }
        }
        let platform = Platform::detect_with(node, |i| facts[i].virtual_device);
        Self {
            node,
            roles,
            facts,
            children,
            platform,
            slot_paths,
            quoted,
        }
    }

    /// Whether the caller reads more of a finding of `rule` at `severity` on `device`
    /// (`None`: node-wide) than that it exists. The fleet's fold quotes one node's finding
    /// per rule, slot and severity (the first node in name order) and only counts the
    /// others: for those, a rule pushes [`Context::counted`] instead of writing the
    /// summary, evidence and advice (most of a rule's cost: 14 findings per node on a
    /// fleet whose every node has the same ACS setting).
    pub fn quotes(&self, rule: &RuleInfo, severity: Severity, device: Option<usize>) -> bool {
        self.quoted.is_none_or(|q| q(rule.id, severity, device))
    }

    /// A finding that only names its rule, severity and device (`None`: node-wide), for a
    /// caller that does not quote it (see [`Context::quotes`]).
    pub fn counted(&self, rule: &RuleInfo, severity: Severity, device: Option<usize>) -> Finding {
        Finding {
            rule: rule.id,
            severity,
            device: device.map(|i| self.dev(i).address.to_string()),
            slot: None,
            keys: BTreeMap::new(),
            summary: String::new(),
            why: String::new(),
            fix: String::new(),
            related: Vec::new(),
        }
    }

    /// The devices.
    pub fn devices(&self) -> &'a [Arc<Device>] {
        &self.node.devices
    }

    /// Device `i`.
    pub fn dev(&self, i: usize) -> &'a Device {
        &self.node.devices[i]
    }

    /// Whether the input can carry sysfs, kernel and module facts at all.
    pub fn has_snapshot(&self) -> bool {
        self.node.snapshot.is_some()
    }

    /// A name for the input kind, for `Unchecked` reasons.
    pub fn input_name(&self) -> &'static str {
        match self.node.kind {
            InputKind::Live => "the live system",
            InputKind::Snapshot => "the snapshot",
            InputKind::LspciText => "lspci text",
            InputKind::HexDump => "an lspci hex dump",
            InputKind::RawConfig => "a raw config space file",
        }
    }

    /// Every device below `i`, depth first, bounded by the device count (the topology
    /// already refuses loops; the bound keeps a bad tree from costing more than O(n²)).
    pub fn subtree(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.children.get(i).cloned().unwrap_or_default();
        while let Some(j) = stack.pop() {
            if out.len() > self.roles.len() || out.contains(&j) || j == i {
                continue;
            }
            out.push(j);
            if let Some(c) = self.children.get(j) {
                stack.extend(c.iter().copied());
            }
        }
        out.sort_unstable();
        out
    }

    /// GPUs and RDMA NICs: the devices GPUDirect RDMA and NCCL move data between.
    pub fn is_p2p_endpoint(&self, i: usize) -> bool {
        matches!(self.roles.get(i), Some(Role::Gpu | Role::RdmaNic))
    }

    /// Whether `i` faces downstream (root port or switch downstream port).
    pub fn is_downstream_port(&self, i: usize) -> bool {
        self.port_type(i)
            .is_some_and(PortType::is_downstream_facing)
    }

    /// Device `i`'s [`Device::port_type`], from its facts.
    pub fn port_type(&self, i: usize) -> Option<PortType> {
        self.facts.get(i).and_then(|f| f.port_type)
    }

    /// A short word for a device's role, for summaries.
    pub fn role_word(&self, i: usize) -> &'static str {
        match self.roles.get(i) {
            Some(Role::Gpu) => "GPU",
            Some(Role::RdmaNic) => "RDMA NIC",
            Some(Role::Nic) => "NIC",
            Some(Role::Storage) => "storage controller",
            Some(Role::RootPort) => "root port",
            Some(Role::SwitchPort) => match self.port_type(i) {
                Some(PortType::UpstreamPort) => "switch upstream port",
                _ => "switch downstream port",
            },
            Some(Role::Bridge) => "bridge",
            _ => "device",
        }
    }

    /// `GPU 0000:04:00.0 (GH100 [H100 SXM5 80GB])`.
    pub fn describe(&self, i: usize) -> String {
        let d = self.dev(i);
        match d.names.device.as_deref() {
            Some(name) => format!("{} {} ({name})", self.role_word(i), d.address),
            None => format!("{} {}", self.role_word(i), d.address),
        }
    }

    /// A finding on device `i` with the device, slot and the given evidence keys filled in
    /// from the device's settings (keys the device lacks are left out).
    pub fn finding(&self, rule: &RuleInfo, severity: Severity, i: usize, keys: &[&str]) -> Finding {
        let d = self.dev(i);
        let mut evidence = BTreeMap::new();
        for k in keys {
            if let Some(v) = d.field(k) {
                evidence.insert((*k).to_string(), v.to_string());
            }
        }
        Finding {
            rule: rule.id,
            severity,
            device: Some(d.address.to_string()),
            slot: self
                .slot_paths
                .then(|| self.node.topology.slot_path(&self.node.devices, i)),
            keys: evidence,
            summary: String::new(),
            why: String::new(),
            fix: String::new(),
            related: Vec::new(),
        }
    }

    /// A finding about the platform as a whole (no device), for the caller to fill in.
    pub fn platform_finding(&self, rule: &RuleInfo, severity: Severity) -> Finding {
        self.counted(rule, severity, None)
    }

    /// Index of the device with this address text (`0000:17:00.0`), if present.
    pub fn index_of_str(&self, address: Option<&str>) -> Option<usize> {
        let a = address?.parse().ok()?;
        self.node.index_of(a)
    }

    /// Addresses of devices, for `related`.
    pub fn addresses(&self, idx: &[usize]) -> Vec<String> {
        idx.iter()
            .map(|&j| self.dev(j).address.to_string())
            .collect()
    }
}
