//! Slot ids: each device's fleet-wide position ([`Topology::slot_path`]) as a small number,
//! named once per distinct position rather than formatted for every device of every node.
//!
//! A slot path is its parent's path plus one hop (`/00.0[10de:20b5]`), so a device's slot is
//! found from its parent's slot id and its own hop by one hash lookup of a few integers; the
//! path text is built only the first time a (parent slot, hop) pair turns up. Chains that
//! [`Topology::slot_path`] would cut short (a parent loop in inconsistent input, a chain
//! deeper than it follows) are named by it directly, so every id stands for exactly the text
//! it would give.

use std::collections::HashMap;
use std::fmt::Write as _;

use std::sync::Arc;

use trainyard_pci::{Device, DeviceIds, PciAddress, Topology};

use crate::fxhash::FxBuild;

/// Most ancestors [`Topology::slot_path`] follows upwards (its `MAX_DEPTH`): deeper chains
/// are named by it, not built hop by hop.
const MAX_ANCESTORS: usize = 32;

/// What a device hangs below: another slot, or a root bus of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Above {
    /// The slot of the device's parent bridge.
    Slot(u32),
    /// A top-level bus: domain and its position among the node's top-level buses.
    Root { domain: u32, ordinal: u32 },
}

/// One step down the tree: where, and which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Hop {
    above: Above,
    device: u8,
    function: u8,
    vendor: Option<u16>,
    id: Option<u16>,
}

impl Hop {
    fn of(above: Above, d: &Device) -> Self {
        Self {
            above,
            device: d.address.device,
            function: d.address.function,
            vendor: d.ids.vendor,
            id: d.ids.device,
        }
    }

    /// The hop's text, as [`Topology::slot_path`] writes it.
    fn write(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = write!(out, "/{:02x}.{:x}[", self.device, self.function);
        let _ = match (self.vendor, self.id) {
            (Some(v), Some(d)) => write!(out, "{v:04x}:{d:04x}]"),
            _ => write!(out, "?]"),
        };
    }
}

/// Where resolving a device's slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    /// On the chain being resolved now: meeting it again means a parent loop.
    Visiting,
    /// Resolved hop by hop, with its number of ancestors.
    Built {
        id: u32,
        depth: usize,
    },
    /// Resolved by [`Topology::slot_path`]: its descendants are too.
    Named(u32),
}

/// Slot names and ids, and how to find a device's id from its parent's.
#[derive(Debug, Default)]
pub(crate) struct SlotIds {
    /// Id → path.
    names: Vec<Box<str>>,
    /// Path → id.
    by_name: HashMap<Box<str>, u32, FxBuild>,
    /// (parent slot or root bus, hop) → id.
    hops: HashMap<Hop, u32, FxBuild>,
    /// Per node, reused: resolution state per device.
    state: Vec<State>,
    /// Per node, reused: a chain of devices being resolved, bottom first.
    chain: Vec<usize>,
    /// Per node, reused: the result.
    ids: Vec<u32>,
    /// The tree of the node `ids` were resolved for, and what its devices' slots were
    /// named from: the next node nearly always has the same (nodes share a tree, see
    /// [`Node::from_shared`](crate::Node::from_shared)), and then `ids` are its ids too.
    last: Option<(Arc<Topology>, Vec<Identity>)>,
}

/// What a slot path reads of a device besides the tree: host, address and ids.
#[derive(Debug, PartialEq)]
struct Identity {
    host: Option<Box<str>>,
    address: PciAddress,
    ids: DeviceIds,
}

impl Identity {
    fn of(d: &Device) -> Self {
        Self {
            host: d.host.as_deref().map(Into::into),
            address: d.address,
            ids: d.ids,
        }
    }

    fn is(&self, d: &Device) -> bool {
        self.address == d.address && self.ids == d.ids && self.host.as_deref() == d.host.as_deref()
    }
}

impl SlotIds {
    /// Number of slots named so far (ids are `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The path of slot `id`.
    pub(crate) fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// The id of `path`, added if new.
    pub(crate) fn intern(&mut self, path: &str) -> u32 {
        if let Some(&id) = self.by_name.get(path) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(path.into());
        self.by_name.insert(path.into(), id);
        id
    }

    /// The slot id of every device of a node, in device order; slots not seen before get
    /// new ids (`len()` before the call and up).
    ///
    /// A node with the last one's tree (the same shared [`Topology`]) and devices of the
    /// same addresses and ids gets the last ids: ids never change once given, so
    /// resolving again would give the same. That is most nodes of a fleet, and costs a
    /// few comparisons per device instead of a hash lookup.
    pub(crate) fn resolve(&mut self, devices: &[Arc<Device>], topology: &Arc<Topology>) -> &[u32] {
        if let Some((t, identities)) = &self.last {
            if Arc::ptr_eq(t, topology)
                && identities.len() == devices.len()
                && identities.iter().zip(devices).all(|(i, d)| i.is(d))
            {
                return &self.ids;
            }
        }
        self.resolve_afresh(devices, topology);
        let identities = devices.iter().map(|d| Identity::of(d)).collect();
        self.last = Some((Arc::clone(topology), identities));
        &self.ids
    }

    /// [`resolve`](Self::resolve) without the last node's ids.
    fn resolve_afresh(&mut self, devices: &[Arc<Device>], topology: &Topology) {
        let n = devices.len();
        self.state.clear();
        self.state.resize(n, State::Unvisited);
        self.ids.clear();
        self.ids.resize(n, u32::MAX);
        let roots = root_buses(devices, topology);
        for i in 0..n {
            self.resolve_one(i, devices, topology, &roots);
        }
    }

    fn resolve_one(
        &mut self,
        i: usize,
        devices: &[Arc<Device>],
        topology: &Topology,
        roots: &[(Option<&str>, u32, u8)],
    ) {
        // Walk up to a resolved device, a top-level device, or a loop.
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        let mut cur = i;
        // Some(state) of the resolved device above the chain; None: the chain's top is a
        // top-level device; Err: a loop.
        let above: Result<Option<State>, ()> = loop {
            match self.state.get(cur).copied() {
                Some(State::Unvisited) => {}
                Some(State::Visiting) => break Err(()),
                Some(s) => break Ok(Some(s)),
                None => break Err(()),
            }
            self.state[cur] = State::Visiting;
            chain.push(cur);
            match topology.parent(cur) {
                None => break Ok(None),
                Some(p) => cur = p,
            }
        };
        let mut up = match above {
            Ok(Some(State::Built { id, depth })) => Some((id, depth)),
            Ok(None) => None,
            Ok(Some(_)) | Err(()) => {
                // Below a device named by `slot_path` or inside a loop: `slot_path` would cut
                // the chain short, so it names every device of it.
                for &c in chain.iter().rev() {
                    let id = self.intern(&topology.slot_path(devices, c));
                    self.set(c, State::Named(id));
                }
                self.chain = chain;
                return;
            }
        };
        let mut named = false;
        for &c in chain.iter().rev() {
            let d = &devices[c];
            let depth = up.map_or(0, |(_, depth)| depth + 1);
            if named || depth > MAX_ANCESTORS {
                named = true;
                let id = self.intern(&topology.slot_path(devices, c));
                self.set(c, State::Named(id));
                continue;
            }
            let above = match up {
                Some((id, _)) => Above::Slot(id),
                None => {
                    let key = (d.host.as_deref(), d.address.domain, d.address.bus);
                    let ordinal = roots.binary_search(&key).unwrap_or(roots.len());
                    Above::Root {
                        domain: d.address.domain,
                        ordinal: ordinal as u32,
                    }
                }
            };
            let hop = Hop::of(above, d);
            let id = match self.hops.get(&hop) {
                Some(&id) => id,
                None => {
                    let mut path = String::new();
                    match above {
                        Above::Slot(id) => path.push_str(self.name(id)),
                        Above::Root { domain, ordinal } => {
                            let _ = write!(path, "{domain:04x}:rb{ordinal}");
                        }
                    }
                    hop.write(&mut path);
                    let id = self.intern(&path);
                    self.hops.insert(hop, id);
                    id
                }
            };
            self.set(c, State::Built { id, depth });
            up = Some((id, depth));
        }
        self.chain = chain;
    }

    fn set(&mut self, i: usize, state: State) {
        self.state[i] = state;
        self.ids[i] = match state {
            State::Built { id, .. } | State::Named(id) => id,
            _ => u32::MAX,
        };
    }
}

/// `(host, domain, bus)` of every top-level bus, sorted: the root bus ordinals of
/// [`Topology::slot_path`].
fn root_buses<'d>(
    devices: &'d [Arc<Device>],
    topology: &Topology,
) -> Vec<(Option<&'d str>, u32, u8)> {
    let mut roots: Vec<(Option<&str>, u32, u8)> = devices
        .iter()
        .enumerate()
        .filter(|(i, _)| topology.parent(*i).is_none())
        .map(|(_, d)| (d.host.as_deref(), d.address.domain, d.address.bus))
        .collect();
    roots.sort_unstable();
    roots.dedup();
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainyard_pci::text::parse_str;

    fn check(text: &str) {
        let devices: Vec<Arc<Device>> = parse_str(text).devices.into_iter().map(Arc::new).collect();
        let topology = Arc::new(Topology::build(&devices));
        let mut ids = SlotIds::default();
        // Three times: the second time every slot is found by its hop (another tree, equal
        // to the first, so the last node's ids are not taken), the third time the ids are
        // the last node's.
        let again = Arc::new(Topology::clone(&topology));
        for topology in [&topology, &again, &again] {
            let got: Vec<u32> = ids.resolve(&devices, topology).to_vec();
            for (i, id) in got.iter().enumerate() {
                assert_eq!(ids.name(*id), topology.slot_path(&devices, i), "device {i}");
            }
        }
    }

    #[test]
    fn names_match_slot_path_on_real_servers() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/gpu-servers");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("gpu-servers") {
            let path = entry.expect("entry").path();
            check(&std::fs::read_to_string(&path).expect("read"));
            n += 1;
        }
        assert!(n >= 3);
    }

    #[test]
    fn names_match_slot_path_for_pdsh_hosts_and_loops() {
        // Two hosts: root bus ordinals are per host. Then a bridge loop (each bridge claims
        // the other's bus), which slot_path cuts short.
        let text = "h1: 00:01.0 PCI bridge [0604]: X [1022:1483]\n\
                    h1: \tBus: primary=00, secondary=01, subordinate=01, sec-latency=0\n\
                    h1: 01:00.0 3D controller [0302]: G [10de:2330]\n\
                    h2: 00:01.0 PCI bridge [0604]: X [1022:1483]\n\
                    h2: \tBus: primary=00, secondary=02, subordinate=02, sec-latency=0\n\
                    h2: 02:00.0 3D controller [0302]: G [10de:2330]\n";
        check(text);
        let looped = "05:00.0 PCI bridge [0604]: A [1000:c030]\n\
                      \tBus: primary=05, secondary=06, subordinate=06, sec-latency=0\n\
                      \n\
                      06:00.0 PCI bridge [0604]: B [1000:c030]\n\
                      \tBus: primary=06, secondary=07, subordinate=07, sec-latency=0\n\
                      \n\
                      07:00.0 PCI bridge [0604]: C [1000:c030]\n\
                      \tBus: primary=07, secondary=05, subordinate=05, sec-latency=0\n\
                      \n\
                      08:00.0 Ethernet controller [0200]: N [15b3:1021]\n";
        check(looped);
    }

    #[test]
    fn deep_chains_are_named_like_slot_path() {
        // 40 bridges in a row: slot_path follows 32 ancestors.
        let mut text = String::new();
        for b in 0..40u8 {
            text.push_str(&format!(
                "{b:02x}:00.0 PCI bridge [0604]: X [1022:1483]\n\tBus: primary={b:02x}, \
                 secondary={:02x}, subordinate={:02x}, sec-latency=0\n\n",
                b + 1,
                b + 1
            ));
        }
        text.push_str("28:00.0 3D controller [0302]: G [10de:2330]\n");
        check(&text);
    }
}
