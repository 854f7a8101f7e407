//! Snapshot templates: per node, CONFIG BYTES and DMI fields of a trainyard snapshot are
//! edited. Register offsets come from the decoder (each capability's offset in the decoded
//! template device), so an edit lands where lspci would read it, and the truth's values are
//! read back by decoding the edited bytes.

use std::io::{self, Write};

use trainyard_pci::device::CapabilitySpace;
use trainyard_pci::{decode_config, Device, PciAddress, Topology};
use trainyard_snapshot::Snapshot;

use super::faults::{lowered_mrrs, FaultKind, Targets};
use super::variation::{self, NaturalKind, Rng};
use super::{acs_fault_value, KeyEdit, NodePlan};

/// BIOS version of the fleet and of the BIOS cohort.
pub(crate) const FLEET_BIOS: &str = "1.3.0";
/// BIOS version of the BIOS cohort.
pub(crate) const OLD_BIOS: &str = "1.2.3";

/// Register offsets inside capabilities (PCIe base spec, 7.5.3 and 7.8).
const EXP_DEVCTL: usize = 0x08;
const EXP_DEVSTA: usize = 0x0a;
const EXP_LNKSTA: usize = 0x12;
const AER_CESTA: usize = 0x10;
const ACS_CTL: usize = 0x06;
const DSN_SERIAL: usize = 0x04;

const CAP_EXPRESS: u16 = 0x10;
const EXT_AER: u16 = 0x01;
const EXT_DSN: u16 = 0x03;
const EXT_ACS: u16 = 0x0d;

/// A decoded snapshot template.
pub(crate) struct SnapshotTemplate {
    snap: Snapshot,
    pub devices: Vec<Device>,
    pub topology: Topology,
    /// Device index → index in `snap.pci`.
    index: Vec<usize>,
}

impl SnapshotTemplate {
    pub(crate) fn new(snap: Snapshot) -> Result<Self, String> {
        let mut devices = Vec::new();
        let mut index = Vec::new();
        for (i, f) in snap.pci.iter().enumerate() {
            let Ok(address) = f.address.parse::<PciAddress>() else {
                continue;
            };
            if let Ok(d) = decode_config(address, &f.config) {
                devices.push(d);
                index.push(i);
            }
        }
        if devices.is_empty() {
            return Err("the snapshot has no decodable PCI functions".into());
        }
        let topology = Topology::build(&devices);
        Ok(Self {
            snap,
            devices,
            topology,
            index,
        })
    }

    fn cap(&self, dev: usize, space: CapabilitySpace, id: u16) -> Option<usize> {
        self.devices[dev]
            .capabilities
            .iter()
            .find(|c| c.space == space && c.id == Some(id))
            .map(|c| usize::from(c.offset))
    }

    fn express(&self, dev: usize) -> Option<usize> {
        self.cap(dev, CapabilitySpace::Standard, CAP_EXPRESS)
    }

    /// Devices whose sysfs has AER correctable counters (candidates for ticking).
    pub(crate) fn aer_counter_devices(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|&d| {
                self.snap.pci[self.index[d]]
                    .sysfs
                    .aer
                    .contains_key("aer_dev_correctable")
            })
            .collect()
    }

    pub(crate) fn every_node_variation(&self) -> Vec<(NaturalKind, usize, String)> {
        let mut out = Vec::new();
        for d in 0..self.devices.len() {
            if self.cap(d, CapabilitySpace::Extended, EXT_DSN).is_some() {
                out.push((NaturalKind::Serial, d, "DSN".to_string()));
            }
            if irq_varies(&self.snap.pci[self.index[d]].config) {
                out.push((NaturalKind::Irq, d, "Interrupt".to_string()));
            }
        }
        out
    }

    /// The keys a fault changes, read back by decoding the template with the fault applied.
    pub(crate) fn fault_keys(&self, kind: FaultKind, t: &Targets) -> Vec<KeyEdit> {
        match kind {
            FaultKind::Bios => {
                return vec![KeyEdit {
                    device: None,
                    key: "bios_version".into(),
                    value: OLD_BIOS.into(),
                    fleet_value: FLEET_BIOS.into(),
                }]
            }
            FaultKind::Missing => {
                return t
                    .missing
                    .map(|g| {
                        super::functions_on_bus_of(&self.devices, g)
                            .into_iter()
                            .map(|f| KeyEdit::new(f, "missing", "absent", "present"))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            _ => {}
        }
        let mut snap = self.snap.clone();
        self.apply(kind, t, &mut snap);
        let mut out = Vec::new();
        for d in 0..self.devices.len() {
            let cfg = &snap.pci[self.index[d]].config;
            if *cfg == self.snap.pci[self.index[d]].config {
                continue;
            }
            let Ok(new) = decode_config(self.devices[d].address, cfg) else {
                continue;
            };
            for (k, v) in new.fields_iter() {
                // `LnkSta.Width.Note` = `downgraded` comes with the width itself: one entry
                // per fault, as for text templates.
                if k.ends_with(".Note") {
                    continue;
                }
                let old = self.devices[d].field(k);
                if old != Some(v) {
                    out.push(KeyEdit::new(d, k, v, old.unwrap_or("")));
                }
            }
        }
        out
    }

    fn config_mut<'a>(&self, snap: &'a mut Snapshot, dev: usize) -> &'a mut Vec<u8> {
        &mut snap.pci[self.index[dev]].config
    }

    /// Applies one fault to a copy of the template.
    fn apply(&self, kind: FaultKind, t: &Targets, snap: &mut Snapshot) {
        match kind {
            FaultKind::Acs => {
                for &p in &t.acs {
                    let Some(acs) = self.cap(p, CapabilitySpace::Extended, EXT_ACS) else {
                        continue;
                    };
                    let on =
                        acs_fault_value(self.devices[p].field("ACSCtl.ReqRedir").unwrap_or("-"))
                            == "+";
                    // ReqRedir is bit 2, CmpltRedir bit 3 of the ACS Control register.
                    update16(
                        self.config_mut(snap, p),
                        acs + ACS_CTL,
                        0b1100,
                        if on { 0b1100 } else { 0 },
                    );
                }
            }
            FaultKind::Downtrain => {
                if let Some((g, exp)) = t.downtrain.and_then(|g| Some((g, self.express(g)?))) {
                    let cfg = self.config_mut(snap, g);
                    if let Some(sta) = read16(cfg, exp + EXP_LNKSTA) {
                        let width = (sta >> 4) & 0x3f;
                        let new = (width / 2).max(1);
                        update16(cfg, exp + EXP_LNKSTA, 0x3f << 4, new << 4);
                        let f = &mut snap.pci[self.index[g]].sysfs;
                        if f.current_link_width.is_some() {
                            f.current_link_width = Some(new.to_string());
                        }
                    }
                }
            }
            FaultKind::Mrrs => {
                if let Some((n, exp)) = t.mrrs.and_then(|n| Some((n, self.express(n)?))) {
                    let cfg = self.config_mut(snap, n);
                    if let Some(ctl) = read16(cfg, exp + EXP_DEVCTL) {
                        let cur = 128u32 << ((ctl >> 12) & 7);
                        if let Some(new) = lowered_mrrs(cur) {
                            let code = (new / 128).trailing_zeros() as u16;
                            update16(cfg, exp + EXP_DEVCTL, 0x7 << 12, code << 12);
                        }
                    }
                }
            }
            FaultKind::RelaxedOrdering => {
                if let Some((n, exp)) = t.relaxed_ordering.and_then(|n| Some((n, self.express(n)?)))
                {
                    // Enable Relaxed Ordering is bit 4 of Device Control.
                    update16(self.config_mut(snap, n), exp + EXP_DEVCTL, 1 << 4, 0);
                }
            }
            FaultKind::Aer => {
                if let Some(a) = t.aer {
                    if let Some(aer) = self.cap(a, CapabilitySpace::Extended, EXT_AER) {
                        // Bad TLP is bit 6 of the Correctable Error Status register.
                        update16(self.config_mut(snap, a), aer + AER_CESTA, 1 << 6, 1 << 6);
                    }
                    if let Some(exp) = self.express(a) {
                        // Correctable Error Detected is bit 0 of Device Status.
                        update16(self.config_mut(snap, a), exp + EXP_DEVSTA, 1, 1);
                    }
                    let f = &mut snap.pci[self.index[a]].sysfs;
                    if let Some(c) = f.aer.get_mut("aer_dev_correctable") {
                        *c.entry("BadTLP".into()).or_default() += 1000;
                        *c.entry("TOTAL_ERR_COR".into()).or_default() += 1000;
                    }
                }
            }
            FaultKind::Missing => {
                if let Some(g) = t.missing {
                    let a = self.devices[g].address;
                    remove_and_renumber(snap, a.domain, a.bus);
                }
            }
            FaultKind::Bios => snap.dmi.bios_version = Some(OLD_BIOS.into()),
        }
    }

    /// Writes one node's snapshot.
    pub(crate) fn write(
        &self,
        plan: &NodePlan,
        t: &Targets,
        seed: u64,
        w: &mut dyn Write,
    ) -> io::Result<()> {
        let mut snap = self.snap.clone();
        snap.host = plan.name.clone();
        snap.dmi.bios_version = Some(FLEET_BIOS.into());
        // Natural variation first, on template offsets; faults after, because a missing
        // device renumbers addresses.
        let mut irq = Rng::for_node(seed, plan.index, 4);
        for d in 0..self.devices.len() {
            let a = self.devices[d].address;
            if let Some(dsn) = self.cap(d, CapabilitySpace::Extended, EXT_DSN) {
                let mut r = Rng::for_node(seed, plan.index, card_stream(a));
                let mut serial = variation::dsn(&mut r);
                // Stored least significant byte first; lspci prints the reverse.
                serial.reverse();
                let cfg = self.config_mut(&mut snap, d);
                if let Some(dst) = cfg.get_mut(dsn + DSN_SERIAL..dsn + DSN_SERIAL + 8) {
                    dst.copy_from_slice(&serial);
                }
            }
            let cfg = self.config_mut(&mut snap, d);
            if irq_varies(cfg) {
                let bump = irq.below(24) as u8;
                cfg[0x3c] = cfg[0x3c].saturating_add(bump).min(0xfe);
            }
        }
        for &d in &plan.aer_ticks {
            let mut r = Rng::for_node(seed, plan.index, 5 ^ ((d as u64) << 8));
            let f = &mut snap.pci[self.index[d]].sysfs;
            if let Some(c) = f.aer.get_mut("aer_dev_correctable") {
                let n = 1 + r.below(5);
                let which = ["RxErr", "BadDLLP", "Timeout"][r.below(3) as usize];
                *c.entry(which.into()).or_default() += n;
                *c.entry("TOTAL_ERR_COR".into()).or_default() += n;
            }
        }
        for (i, g) in snap.gpus.iter_mut().enumerate() {
            if g.serial.is_some() {
                let mut r = Rng::for_node(seed, plan.index, 6 ^ ((i as u64) << 8));
                g.serial = Some(format!("{:013}", r.below(10_000_000_000_000)));
            }
        }
        for (i, ib) in snap.infiniband.iter_mut().enumerate() {
            if ib.node_guid.is_some() {
                let mut r = Rng::for_node(seed, plan.index, 7 ^ ((i as u64) << 8));
                let v = r.next_u64().to_be_bytes();
                ib.node_guid = Some(format!(
                    "{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
                ));
            }
        }
        for &kind in &plan.faults {
            self.apply(kind, t, &mut snap);
        }
        w.write_all(snap.to_json().as_bytes())?;
        w.write_all(b"\n")
    }
}

fn card_stream(a: PciAddress) -> u64 {
    (1 << 48) | (u64::from(a.domain) << 16) | (u64::from(a.bus) << 8) | u64::from(a.device)
}

/// A routed legacy interrupt (line register neither 0 nor 0xff).
fn irq_varies(cfg: &[u8]) -> bool {
    cfg.get(0x3c).is_some_and(|&l| l != 0 && l != 0xff) && cfg.get(0x3d).is_some_and(|&p| p != 0)
}

fn read16(cfg: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*cfg.get(off)?, *cfg.get(off + 1)?]))
}

fn update16(cfg: &mut [u8], off: usize, mask: u16, value: u16) {
    if let Some(v) = read16(cfg, off) {
        let n = (v & !mask) | (value & mask);
        cfg[off..off + 2].copy_from_slice(&n.to_le_bytes());
    }
}

/// `DOMAIN:BUS:DEV.FN` (any domain width) with the bus moved down past `gone`; `None` when
/// the address is on `gone` itself.
fn renumber_address(s: &str, domain: u32, gone: u8) -> Option<String> {
    let mut parts = s.rsplitn(3, ':');
    let devfn = parts.next()?;
    let bus = parts.next()?;
    let dom = parts.next().unwrap_or("0");
    let (Ok(b), Ok(d)) = (u8::from_str_radix(bus, 16), u32::from_str_radix(dom, 16)) else {
        return Some(s.to_string());
    };
    if d != domain || b < gone {
        return Some(s.to_string());
    }
    if b == gone {
        return None;
    }
    Some(format!("{dom}:{:02x}:{devfn}", b - 1))
}

/// Removes every function on bus `gone` of `domain` and renumbers the rest as firmware that
/// numbers only populated ports would (see `text::renumber` for the rules).
fn remove_and_renumber(snap: &mut Snapshot, domain: u32, gone: u8) {
    snap.pci
        .retain(|f| renumber_address(&f.address, domain, gone).is_some());
    for f in &mut snap.pci {
        let Some(new) = renumber_address(&f.address, domain, gone) else {
            continue;
        };
        let same_domain = f
            .address
            .parse::<PciAddress>()
            .is_ok_and(|a| a.domain == domain);
        f.address = new;
        let cfg = &mut f.config;
        let is_bridge = cfg.get(0x0e).is_some_and(|h| h & 0x7f == 1);
        if same_domain && is_bridge && cfg.len() >= 0x1b {
            let (p, s, sub) = (cfg[0x18], cfg[0x19], cfg[0x1a]);
            let (p2, s2, sub2) = if s == gone && sub == gone {
                (if p > gone { p - 1 } else { p }, 0, 0)
            } else {
                (
                    if p > gone { p - 1 } else { p },
                    if s > gone { s - 1 } else { s },
                    if sub >= gone && sub > 0 && s <= sub {
                        sub - 1
                    } else {
                        sub
                    },
                )
            };
            cfg[0x18] = p2;
            cfg[0x19] = s2;
            cfg[0x1a] = sub2;
        }
    }
    snap.gpus
        .retain(|g| renumber_address(&g.pci_address, domain, gone).is_some());
    for g in &mut snap.gpus {
        if let Some(n) = renumber_address(&g.pci_address, domain, gone) {
            g.pci_address = n;
        }
    }
    for ib in &mut snap.infiniband {
        if let Some(a) = ib.pci_address.as_deref() {
            ib.pci_address = renumber_address(a, domain, gone);
        }
    }
    for n in &mut snap.net {
        if let Some(a) = n.pci_address.as_deref() {
            n.pci_address = renumber_address(a, domain, gone);
        }
    }
}
