//! Fault kinds, how many nodes get each, which nodes, and which template device carries it.
//!
//! Cohorts are disjoint (a node gets at most one fault kind), except BIOS, which
//! deliberately overlaps the ACS cohort: a BIOS setting that turns on ACS redirect is the
//! real-world story the analysis must tell ("all 12 report BIOS 1.2.3; fleet: 1.3.0").
//! Disjoint cohorts also mean one device may carry several kinds (the only GPU of a server
//! can be downtrained on some nodes and missing on others) without the edits colliding.

use std::fmt;

use serde::{Deserialize, Serialize};
use trainyard_pci::{Device, PortType, Role, Topology};

use super::variation::Rng;
use super::SynthError;

/// A kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// ACS request and completion redirect flipped on the ports above the RDMA NICs.
    Acs,
    /// A GPU's link trained at half its width (`LnkSta.Width` `x8 (downgraded)`).
    Downtrain,
    /// A NIC's MaxReadReq lowered (`DevCtl.MaxReadReq` 512 → 128 bytes, 4096 → 512).
    Mrrs,
    /// Relaxed ordering off on a NIC (`DevCtl.RlxdOrd` `-`).
    RelaxedOrdering,
    /// A GPU absent, with the buses after it renumbered.
    Missing,
    /// AER errors latched on a device (`CESta.BadTLP+`, `DevSta.CorrErr+`).
    Aer,
    /// An older BIOS (`bios_version` `1.2.3`, fleet `1.3.0`); snapshots only.
    Bios,
}

impl FaultKind {
    /// Every kind, in the order cohorts are drawn.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Acs,
        FaultKind::Downtrain,
        FaultKind::Mrrs,
        FaultKind::RelaxedOrdering,
        FaultKind::Missing,
        FaultKind::Aer,
        FaultKind::Bios,
    ];

    /// The name used in `--faults` and the truth.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Acs => "acs",
            FaultKind::Downtrain => "downtrain",
            FaultKind::Mrrs => "mrrs",
            FaultKind::RelaxedOrdering => "relaxed_ordering",
            FaultKind::Missing => "missing",
            FaultKind::Aer => "aer",
            FaultKind::Bios => "bios",
        }
    }

    /// Nodes that get this fault by default in a fleet of 512 or more.
    fn default_count(self) -> usize {
        match self {
            FaultKind::Acs | FaultKind::Bios => 12,
            FaultKind::Downtrain => 3,
            FaultKind::Mrrs | FaultKind::RelaxedOrdering => 2,
            FaultKind::Missing => 1,
            FaultKind::Aer => 4,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&k| k == self).unwrap_or(0)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many nodes get each fault: explicit counts from `--faults`, defaults for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    explicit: [Option<usize>; 7],
}

impl FaultCounts {
    /// No faults at all (a clean fleet).
    pub fn none() -> Self {
        Self {
            explicit: [Some(0); 7],
        }
    }

    /// Parses `acs=12,downtrain=3,...`; kinds not named keep their defaults.
    pub fn parse(spec: &str) -> Result<Self, SynthError> {
        let mut out = Self::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, count) = item
                .split_once('=')
                .ok_or_else(|| SynthError::Faults(format!("`{item}`: expected KIND=N")))?;
            let kind = FaultKind::ALL
                .iter()
                .copied()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| {
                    SynthError::Faults(format!(
                        "unknown fault kind `{}` (known: acs, downtrain, mrrs, relaxed_ordering, missing, aer, bios)",
                        name.trim()
                    ))
                })?;
            let n = count
                .trim()
                .parse::<usize>()
                .map_err(|_| SynthError::Faults(format!("`{item}`: N must be a count")))?;
            out.explicit[kind.index()] = Some(n);
        }
        Ok(out)
    }

    /// Whether `--faults` named this kind.
    pub fn is_explicit(&self, kind: FaultKind) -> bool {
        self.explicit[kind.index()].is_some()
    }

    /// Sets one kind's count.
    pub fn set(&mut self, kind: FaultKind, n: usize) -> &mut Self {
        self.explicit[kind.index()] = Some(n);
        self
    }

    /// The count for `kind` in a fleet of `nodes`. Defaults shrink to a tenth of the fleet
    /// (at least one node from 10 nodes up, none below) so that every default cohort stays a
    /// small minority and all cohorts fit side by side.
    pub fn count(&self, kind: FaultKind, nodes: usize) -> usize {
        self.explicit[kind.index()].unwrap_or_else(|| kind.default_count().min(nodes / 10))
    }
}

/// The template devices each fault kind is injected on (indices into the template's
/// devices), chosen once per fleet so that a cohort shares one slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Targets {
    /// Downstream-facing ports above the RDMA NICs (above the GPUs when there is no NIC).
    pub acs: Vec<usize>,
    /// A GPU with a link wider than x1.
    pub downtrain: Option<usize>,
    /// An RDMA NIC function whose MaxReadReq can be lowered.
    pub mrrs: Option<usize>,
    /// An RDMA NIC function (else a GPU) with relaxed ordering on.
    pub relaxed_ordering: Option<usize>,
    /// A GPU alone on its bus behind its own port; all functions on that bus go.
    pub missing: Option<usize>,
    /// A device with AER whose error bits are clear.
    pub aer: Option<usize>,
}

/// Width in lanes from `x16`.
pub(crate) fn width_lanes(s: &str) -> Option<u32> {
    s.strip_prefix('x')?.parse().ok()
}

/// Bytes from `512 bytes`.
pub(crate) fn byte_count(s: &str) -> Option<u32> {
    s.strip_suffix(" bytes")?.parse().ok()
}

/// The lowered MaxReadReq for a current value: 4096 (or anything above 512) drops to 512,
/// 512 and 256 drop to 128, 128 cannot drop.
pub(crate) fn lowered_mrrs(current: u32) -> Option<u32> {
    match current {
        c if c > 512 => Some(512),
        c if c > 128 => Some(128),
        _ => None,
    }
}

impl Targets {
    /// Picks the devices, preferring the cases that look like the real faults.
    pub(crate) fn choose(devices: &[Device], topo: &Topology, rng: &mut Rng) -> Self {
        let gpus: Vec<usize> = (0..devices.len())
            .filter(|&i| {
                devices[i].role() == Role::Gpu && devices[i].field("LnkSta.Width").is_some()
            })
            .collect();
        let nics: Vec<usize> = (0..devices.len())
            .filter(|&i| devices[i].role() == Role::RdmaNic)
            .collect();

        // ACS: the nearest downstream-facing port with an ACS capability above each NIC.
        let ports_above = |set: &[usize]| -> Vec<usize> {
            let mut out: Vec<usize> = Vec::new();
            for &i in set {
                let port = topo.ancestors(i).into_iter().find(|&a| {
                    devices[a]
                        .port_type()
                        .is_some_and(PortType::is_downstream_facing)
                        && devices[a].field("ACSCtl.ReqRedir").is_some()
                });
                if let Some(p) = port {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
            out.sort_unstable();
            out
        };
        // Without an RDMA NIC (or with no ACS above it), the ports above the GPUs, then
        // above other NICs and storage: the fault is still a real ACS deviation to find.
        let of_role = |role: Role| -> Vec<usize> {
            (0..devices.len())
                .filter(|&i| devices[i].role() == role)
                .collect()
        };
        let acs = [
            nics.clone(),
            gpus.clone(),
            of_role(Role::Nic),
            of_role(Role::Storage),
        ]
        .iter()
        .map(|set| ports_above(set))
        .find(|p| !p.is_empty())
        .unwrap_or_default();

        let full_width: Vec<usize> = gpus
            .iter()
            .copied()
            .filter(|&i| {
                let d = &devices[i];
                let sta = d.field("LnkSta.Width").and_then(width_lanes);
                sta.is_some_and(|w| w > 1) && sta == d.field("LnkCap.Width").and_then(width_lanes)
            })
            .collect();
        let narrowable: Vec<usize> = gpus
            .iter()
            .copied()
            .filter(|&i| {
                devices[i]
                    .field("LnkSta.Width")
                    .and_then(width_lanes)
                    .is_some_and(|w| w > 1)
            })
            .collect();
        let downtrain = rng.pick(&full_width).or_else(|| rng.pick(&narrowable));

        let mrrs_ok: Vec<usize> = nics
            .iter()
            .copied()
            .filter(|&i| {
                devices[i]
                    .field("DevCtl.MaxReadReq")
                    .and_then(byte_count)
                    .and_then(lowered_mrrs)
                    .is_some()
            })
            .collect();
        let mrrs = rng.pick(&mrrs_ok);
        // Relaxed ordering off on a NIC; on a GPU when no NIC has it on (both are on the
        // GPUDirect path).
        let ro_on = |set: &[usize]| -> Vec<usize> {
            set.iter()
                .copied()
                .filter(|&i| devices[i].field("DevCtl.RlxdOrd") == Some("+"))
                .collect()
        };
        let relaxed_ordering = rng.pick(&ro_on(&nics)).or_else(|| rng.pick(&ro_on(&gpus)));

        let alone: Vec<usize> = gpus
            .iter()
            .copied()
            .filter(|&i| missing_candidate(devices, i))
            .collect();
        let missing = rng.pick(&alone);

        let clean_aer = |i: &usize| {
            devices[*i].field("CESta.BadTLP") == Some("-")
                && devices[*i].field("DevSta.CorrErr") == Some("-")
        };
        let aer_gpus: Vec<usize> = gpus.iter().copied().filter(clean_aer).collect();
        let aer_nics: Vec<usize> = nics.iter().copied().filter(clean_aer).collect();
        let aer = rng.pick(&aer_gpus).or_else(|| rng.pick(&aer_nics));

        Self {
            acs,
            downtrain,
            mrrs,
            relaxed_ordering,
            missing,
            aer,
        }
    }
}

/// A GPU can go missing with clean renumbering when it is alone on its bus (other functions
/// of the same device excepted) and that bus is exactly its parent port's secondary bus.
fn missing_candidate(devices: &[Device], i: usize) -> bool {
    let d = &devices[i];
    let (dom, bus) = (d.address.domain, d.address.bus);
    let alone = devices.iter().all(|o| {
        o.address.domain != dom || o.address.bus != bus || o.address.device == d.address.device
    });
    let port = devices.iter().any(|o| {
        o.address.domain == dom
            && o.bus
                .is_some_and(|b| b.secondary == bus && b.subordinate == bus)
    });
    // A function with a bridge below it would take a whole subtree with it.
    let leaf = devices
        .iter()
        .all(|o| o.address.domain != dom || o.address.bus != bus || o.bus.is_none());
    bus > 0 && alone && port && leaf
}

/// Node cohorts per fault kind (node indices, sorted).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cohorts {
    pub by_kind: [Vec<usize>; 7],
}

impl Cohorts {
    /// Draws the cohorts. `available` says which kinds the template can carry; the rest get
    /// no nodes. Errors when the disjoint cohorts do not fit in the fleet.
    pub(crate) fn draw(
        nodes: usize,
        counts: &FaultCounts,
        available: impl Fn(FaultKind) -> bool,
        rng: &mut Rng,
    ) -> Result<Self, SynthError> {
        let mut order: Vec<usize> = (0..nodes).collect();
        rng.shuffle(&mut order);
        let mut out = Self::default();
        let mut next = 0usize;
        for kind in FaultKind::ALL {
            if kind == FaultKind::Bios || !available(kind) {
                continue;
            }
            let n = counts.count(kind, nodes);
            if next + n > nodes {
                return Err(SynthError::Faults(format!(
                    "{} nodes cannot hold the fault cohorts asked for (a node gets one fault kind; BIOS shares the ACS nodes): lower --faults or raise --nodes",
                    nodes
                )));
            }
            let mut cohort = order[next..next + n].to_vec();
            cohort.sort_unstable();
            out.by_kind[kind.index()] = cohort;
            next += n;
        }
        if available(FaultKind::Bios) {
            let n = counts.count(FaultKind::Bios, nodes).min(nodes);
            // The ACS cohort first (shuffled order, so a smaller BIOS cohort is a random
            // subset), then nodes no other fault touched, then any others.
            let acs = &out.by_kind[FaultKind::Acs.index()];
            let mut pool: Vec<usize> = order.iter().copied().filter(|i| acs.contains(i)).collect();
            pool.extend(order[next..].iter().copied());
            pool.extend(order[..next].iter().copied().filter(|i| !acs.contains(i)));
            let mut cohort = pool[..n].to_vec();
            cohort.sort_unstable();
            out.by_kind[FaultKind::Bios.index()] = cohort;
        }
        Ok(out)
    }

    /// The cohort of one kind.
    pub(crate) fn of(&self, kind: FaultKind) -> &[usize] {
        &self.by_kind[kind.index()]
    }

    /// The kinds a node has (at most one besides BIOS).
    pub(crate) fn kinds_of(&self, node: usize) -> impl Iterator<Item = FaultKind> + '_ {
        FaultKind::ALL
            .into_iter()
            .filter(move |k| self.of(*k).binary_search(&node).is_ok())
    }
}
