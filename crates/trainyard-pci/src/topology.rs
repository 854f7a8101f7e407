//! The PCIe tree of one node, derived from bridges' secondary/subordinate bus ranges.
//!
//! Bus numbers are only a device's current position: when a GPU falls off the bus, firmware
//! can renumber every bus behind it. The tree and the [`Topology::slot_path`] built from it
//! (`0000:40/03.1[1022:1483]/00.0[10de:20b5]`: root port, then each hop as
//! `device.function[vendor:device]`) identify a device by where it hangs, which survives that.

use std::borrow::Borrow;
use std::collections::HashMap;

use crate::device::Device;

/// Parent links for the devices of one node (indices into the slice it was built from).
#[derive(Debug, Clone)]
pub struct Topology {
    parent: Vec<Option<usize>>,
    /// `(host, domain, bus)` of every top-level bus, in order: a root bus is named by its
    /// position among them, because firmware that assigns bus numbers only to populated
    /// subtrees shifts the later root buses too when a device drops off.
    root_buses: Vec<(Option<String>, u32, u8)>,
}

/// Longest chain followed upwards; PCIe hierarchies are a handful of levels deep, and a cap
/// protects against loops in inconsistent input.
const MAX_DEPTH: usize = 32;

impl Topology {
    /// Builds the tree. A device's parent is the bridge (same host and domain) whose secondary
    /// bus is the device's bus; failing that, the bridge with the narrowest
    /// secondary..=subordinate range holding it (a bridge is missing from the input).
    ///
    /// `devices` may hold the devices themselves or shared ones (`Arc<Device>`: the fleet
    /// shares one parsed device between the nodes that repeat it byte for byte).
    pub fn build<D: Borrow<Device>>(devices: &[D]) -> Self {
        let mut by_secondary: HashMap<(Option<&str>, u32, u8), usize> = HashMap::new();
        let mut bridges = Vec::new();
        for (i, d) in devices.iter().enumerate() {
            let d = d.borrow();
            // A bridge only claims buses below its own: an unconfigured or emptied port shows
            // `secondary=00, subordinate=00` and must not adopt the devices of bus 00.
            if let Some(b) = d.bus.filter(|b| b.secondary > d.address.bus) {
                by_secondary
                    .entry((d.host.as_deref(), d.address.domain, b.secondary))
                    .or_insert(i);
                bridges.push(i);
            }
        }
        let parent = devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let d = d.borrow();
                let key = (d.host.as_deref(), d.address.domain, d.address.bus);
                if let Some(&p) = by_secondary.get(&key).filter(|&&p| p != i) {
                    return Some(p);
                }
                bridges
                    .iter()
                    .copied()
                    .filter(|&b| b != i)
                    .filter_map(|b| {
                        let bd: &Device = devices[b].borrow();
                        let r = bd.bus?;
                        let same = bd.host == d.host && bd.address.domain == d.address.domain;
                        (same
                            && r.secondary <= d.address.bus
                            && d.address.bus <= r.subordinate
                            && r.secondary > bd.address.bus)
                            .then_some((b, r.subordinate.saturating_sub(r.secondary)))
                    })
                    .min_by_key(|&(_, width)| width)
                    .map(|(b, _)| b)
            })
            .collect::<Vec<Option<usize>>>();
        let mut root_buses: Vec<(Option<String>, u32, u8)> = devices
            .iter()
            .zip(&parent)
            .filter(|(_, p)| p.is_none())
            .map(|(d, _)| {
                let d = d.borrow();
                (d.host.clone(), d.address.domain, d.address.bus)
            })
            .collect();
        root_buses.sort();
        root_buses.dedup();
        Self { parent, root_buses }
    }

    /// The device's parent bridge.
    pub fn parent(&self, i: usize) -> Option<usize> {
        self.parent.get(i).copied().flatten()
    }

    /// Ancestors, nearest first.
    pub fn ancestors(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut cur = self.parent(i);
        while let Some(p) = cur {
            if out.len() >= MAX_DEPTH || out.contains(&p) || p == i {
                break;
            }
            out.push(p);
            cur = self.parent(p);
        }
        out
    }

    /// Every device below `i` (not `i` itself).
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        (0..self.parent.len())
            .filter(|&j| j != i && self.ancestors(j).contains(&i))
            .collect()
    }

    /// The device's fleet-wide identity: its domain, the index of its root bus among the node's
    /// root buses (`rb0` is the lowest-numbered), then its path from the top of its tree, each
    /// hop as `device.function[vendor:device]` (`?` for ids the input did not show).
    pub fn slot_path<D: Borrow<Device>>(&self, devices: &[D], i: usize) -> String {
        let mut chain = self.ancestors(i);
        chain.reverse();
        chain.push(i);
        let top: &Device = devices[chain[0]].borrow();
        let key = (top.host.clone(), top.address.domain, top.address.bus);
        let ordinal = self
            .root_buses
            .binary_search(&key)
            .unwrap_or(self.root_buses.len());
        let mut out = format!("{:04x}:rb{ordinal}", top.address.domain);
        for &j in &chain {
            let d: &Device = devices[j].borrow();
            let ids = match (d.ids.vendor, d.ids.device) {
                (Some(v), Some(dv)) => format!("{v:04x}:{dv:04x}"),
                _ => "?".to_string(),
            };
            out.push_str(&format!(
                "/{:02x}.{:x}[{ids}]",
                d.address.device, d.address.function
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_str;

    const TREE: &str = "40:03.1 PCI bridge [0604]: AMD Device [1022:1483]\n\
        \tBus: primary=40, secondary=41, subordinate=43, sec-latency=0\n\
        \n\
        41:00.0 PCI bridge [0604]: PLX Device [10b5:8747]\n\
        \tBus: primary=41, secondary=42, subordinate=43, sec-latency=0\n\
        \n\
        42:08.0 PCI bridge [0604]: PLX Device [10b5:8747]\n\
        \tBus: primary=42, secondary=43, subordinate=43, sec-latency=0\n\
        \n\
        43:00.0 3D controller [0302]: NVIDIA Device [10de:20b5]\n\
        \n\
        00:00.0 Host bridge [0600]: AMD Device [1022:1480]\n";

    #[test]
    fn parents_and_paths() {
        let devs = parse_str(TREE).devices;
        let t = Topology::build(&devs);
        assert_eq!(t.parent(3), Some(2));
        assert_eq!(t.ancestors(3), vec![2, 1, 0]);
        assert_eq!(t.parent(0), None);
        assert_eq!(t.parent(4), None);
        assert_eq!(t.descendants(1), vec![2, 3]);
        assert_eq!(
            t.slot_path(&devs, 3),
            "0000:rb1/03.1[1022:1483]/00.0[10b5:8747]/08.0[10b5:8747]/00.0[10de:20b5]"
        );
    }

    #[test]
    fn an_emptied_port_does_not_adopt_bus_zero() {
        let text = format!(
            "{TREE}\n42:10.0 PCI bridge [0604]: PLX Device [10b5:8747]\n\
             \tBus: primary=42, secondary=00, subordinate=00, sec-latency=0\n"
        );
        let devs = parse_str(&text).devices;
        let t = Topology::build(&devs);
        let host_bridge = devs.iter().position(|d| d.address.bus == 0).unwrap();
        assert_eq!(t.parent(host_bridge), None);
    }

    #[test]
    fn missing_intermediate_bridge_falls_back_to_the_range() {
        let text: String = TREE
            .split("\n\n")
            .filter(|b| !b.starts_with("42:08.0"))
            .collect::<Vec<_>>()
            .join("\n\n");
        let devs = parse_str(&text).devices;
        let t = Topology::build(&devs);
        let gpu = devs.iter().position(|d| d.address.bus == 0x43).unwrap();
        assert_eq!(t.parent(gpu), Some(1));
    }
}
