//! A node: its PCI devices, their tree, and what else is known about the platform.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trainyard_pci::{decode_config, Device, PciAddress, Topology};
use trainyard_snapshot::{PciSysfs, Snapshot};

/// What a node was read from; it decides what the rulebook can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Collected from the running system.
    Live,
    /// A trainyard snapshot file.
    Snapshot,
    /// `lspci -v`/`-vv`/`-vvv` text.
    LspciText,
    /// `lspci -x`/`-xxx`/`-xxxx` hex dump.
    HexDump,
    /// A raw config space file.
    RawConfig,
}

/// One node, ready for the rulebook.
#[derive(Debug, Clone)]
pub struct Node {
    /// Host name (from the snapshot, the pdsh prefix or the file name).
    pub name: String,
    /// What it was read from.
    pub kind: InputKind,
    /// PCI functions, in input order. Shared: when a fleet's nodes repeat a device block
    /// byte for byte, the nodes hold the same parsed device (see
    /// [`sources`](crate::sources)), which also lets the fold recognise a repeated device
    /// by its address instead of comparing its settings. Devices read that way are parsed
    /// in fields-only mode: settings, identity, bus numbers, driver, capability titles, but
    /// no register lines ([`Device::header`] and capability lines are empty).
    pub devices: Vec<Arc<Device>>,
    /// The PCIe tree over `devices`.
    pub topology: Topology,
    /// Platform facts (sysfs, DMI, kernel, IOMMU, IB, modules), when the input had them.
    pub snapshot: Option<Snapshot>,
    /// Per device, when it was derived from an earlier node's device with the same header
    /// line (see `sources`): that device and where their settings differ. Empty when no
    /// device was derived. The fold compares a derived device with its slot's reference by
    /// these positions alone when the reference is the device it was derived from.
    pub derived: Vec<Option<Derived>>,
}

/// How a node's device relates to the device it was derived from.
#[derive(Debug, Clone)]
pub struct Derived {
    /// The device it was derived from: the same settings, in the same order, with the same
    /// keys, but for the values at `changed`.
    pub from: Arc<Device>,
    /// Positions (in [`Fields::iter`](trainyard_pci::device::Fields::iter) order, ascending)
    /// of the settings whose values differ.
    pub changed: Box<[u32]>,
}

/// A PCI function of a snapshot that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFunction {
    /// Address as the snapshot gives it.
    pub address: String,
    /// Why.
    pub reason: String,
}

impl Node {
    /// A node from devices alone (lspci text, hex dumps).
    pub fn from_devices(name: impl Into<String>, kind: InputKind, devices: Vec<Device>) -> Self {
        Self::from_shared(name, kind, devices.into_iter().map(Arc::new).collect())
    }

    /// A node from devices that may be shared with other nodes.
    pub fn from_shared(
        name: impl Into<String>,
        kind: InputKind,
        devices: Vec<Arc<Device>>,
    ) -> Self {
        let topology = Topology::build(&devices);
        Self {
            name: name.into(),
            kind,
            devices,
            topology,
            snapshot: None,
            derived: Vec::new(),
        }
    }

    /// Sets [`Node::derived`]: one entry per device, or none (a list of another length
    /// is dropped: the fold then compares every device in full).
    pub fn with_derived(mut self, derived: Vec<Option<Derived>>) -> Self {
        if derived.len() == self.devices.len() {
            self.derived = derived;
        }
        self
    }

    /// A node from a snapshot: every function's config bytes are decoded; functions that
    /// cannot be (bad address, fewer than 64 bytes) are returned beside the node.
    pub fn from_snapshot(snapshot: Snapshot, kind: InputKind) -> (Self, Vec<SkippedFunction>) {
        let mut devices = Vec::with_capacity(snapshot.pci.len());
        let mut skipped = Vec::new();
        for f in &snapshot.pci {
            let address = match f.address.parse::<PciAddress>() {
                Ok(a) => a,
                Err(e) => {
                    skipped.push(SkippedFunction {
                        address: f.address.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            match decode_config(address, &f.config) {
                Ok(mut d) => {
                    d.driver = f.sysfs.driver.clone();
                    devices.push(d);
                }
                Err(e) => skipped.push(SkippedFunction {
                    address: f.address.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        let mut node = Self::from_devices(snapshot.host.clone(), kind, devices);
        node.snapshot = Some(snapshot);
        (node, skipped)
    }

    /// Sysfs attributes of a device, when the node came from a snapshot.
    pub fn sysfs(&self, device: &Device) -> Option<&PciSysfs> {
        // Lspci text has no sysfs: no address to format for every device of such nodes.
        let snapshot = self.snapshot.as_ref()?;
        let want = device.address.to_string();
        snapshot
            .pci
            .iter()
            .find(|f| f.address == want)
            .map(|f| &f.sysfs)
    }

    /// Index of a device by address.
    pub fn index_of(&self, address: PciAddress) -> Option<usize> {
        self.devices.iter().position(|d| d.address == address)
    }

    /// A short human label: `GPU 0000:04:00.0 (NVIDIA ... H100 ...) behind 0000:02:01.0`.
    pub fn label(&self, i: usize) -> String {
        let Some(d) = self.devices.get(i) else {
            return String::new();
        };
        let name = d.names.device.as_deref().unwrap_or("unknown device");
        match self.topology.parent(i).and_then(|p| self.devices.get(p)) {
            Some(p) => format!("{} ({name}) behind {}", d.address, p.address),
            None => format!("{} ({name})", d.address),
        }
    }
}
