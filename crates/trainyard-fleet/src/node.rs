//! A node: its PCI devices, their tree, and what else is known about the platform.

use std::cell::RefCell;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trainyard_pci::device::BusNumbers;
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
    /// The PCIe tree over `devices`. Shared: nodes of a fleet nearly all have the same
    /// addresses and bus numbers, hence the same tree, which is built once per thread and
    /// handed to each of them (see [`Node::from_shared`]).
    pub topology: Arc<Topology>,
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

/// What [`Topology::build`] reads of a device: two devices that agree on these for every
/// position get the same tree.
#[derive(Debug, PartialEq)]
struct Place {
    host: Option<Box<str>>,
    domain: u32,
    bus: u8,
    bridge: Option<BusNumbers>,
}

impl Place {
    fn of(d: &Device) -> Self {
        Self {
            host: d.host.as_deref().map(Into::into),
            domain: d.address.domain,
            bus: d.address.bus,
            bridge: d.bus,
        }
    }

    fn is(&self, d: &Device) -> bool {
        self.domain == d.address.domain
            && self.bus == d.address.bus
            && self.bridge == d.bus
            && self.host.as_deref() == d.host.as_deref()
    }
}

/// Trees kept per thread: nodes of one fleet mostly share one, a fleet with a device
/// missing on some nodes has a few.
const TOPOLOGY_MEMO: usize = 4;

/// The trees of the last nodes read on a thread, most recent first, with the places of
/// their devices. Memory: at most [`TOPOLOGY_MEMO`] trees and their places (about 40 bytes
/// a device).
#[derive(Default)]
struct TopologyMemo {
    entries: Vec<(Vec<Place>, Arc<Topology>)>,
}

impl TopologyMemo {
    /// The tree over `devices`: a kept one if its devices had the same places, else built
    /// (and kept).
    fn get(&mut self, devices: &[Arc<Device>]) -> Arc<Topology> {
        let hit = self.entries.iter().position(|(places, _)| {
            places.len() == devices.len() && places.iter().zip(devices).all(|(p, d)| p.is(d))
        });
        if let Some(at) = hit {
            // Most recent first: the next node most likely has this tree again.
            self.entries[..=at].rotate_right(1);
            return Arc::clone(&self.entries[0].1);
        }
        let topology = Arc::new(Topology::build(devices));
        let places = devices.iter().map(|d| Place::of(d)).collect();
        self.entries.truncate(TOPOLOGY_MEMO - 1);
        self.entries.insert(0, (places, Arc::clone(&topology)));
        topology
    }
}

thread_local! {
    static TOPOLOGIES: RefCell<TopologyMemo> = RefCell::new(TopologyMemo::default());
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
    ///
    /// Its [`Topology`] is the one of the last few nodes read on this thread whose devices
    /// have the same addresses and bus numbers, when there is one: what the tree is built
    /// from. Building it costs a hash map and a search per device (0.24 M instructions for
    /// a 172-function GPU server, 4% of reading and folding one); comparing with the last
    /// node's costs a few comparisons per device.
    pub fn from_shared(
        name: impl Into<String>,
        kind: InputKind,
        devices: Vec<Arc<Device>>,
    ) -> Self {
        let topology = TOPOLOGIES.with(|m| m.borrow_mut().get(&devices));
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
