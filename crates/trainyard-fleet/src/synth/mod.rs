//! `trainyard fleet synth`: an N-node fleet from one real server, with natural per-node
//! variation and injected faults, and the ground truth of what was injected.
//!
//! Tests and benchmarks of fleet analysis need fleets whose answer is known. Real fleets are
//! not shareable, so this takes one real whole-server dump as a template and writes N copies
//! that differ the way real nodes do (serial numbers, IRQs, some BARs, idle GPUs' link
//! speed, ticking AER counters) plus faults on chosen cohorts (ACS redirect, a downtrained
//! link, a lowered MaxReadReq, relaxed ordering off, a missing GPU with the buses after it
//! renumbered, latched AER errors, an old BIOS). See docs/fleet-synth.md.
//!
//! Two template formats: `lspci -vvv`/`-vvnn` text, edited line by line ([`text`]), and
//! trainyard snapshot JSON, edited in config bytes and DMI fields ([`snapshot`]). Everything
//! is pure and seeded: the same template, options and seed give the same bytes, and each
//! node is generated on its own (any order, any thread) into a caller's [`Write`] sink.

mod faults;
mod snapshot;
mod text;
mod truth;
mod variation;

use std::io::{self, Write};

use trainyard_pci::{Device, Topology};
use trainyard_snapshot::Snapshot;

pub use faults::{FaultCounts, FaultKind};
pub use truth::{FaultTruth, NaturalTruth, SkippedFault, Truth};
pub use variation::NaturalKind;

use faults::{Cohorts, Targets};
use variation::Rng;

/// Why a fleet cannot be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// The template is neither a snapshot nor lspci text with devices in it.
    #[error("template {name}: {reason}")]
    Template {
        /// Template name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A bad `--faults` specification or cohorts that do not fit.
    #[error("faults: {0}")]
    Faults(String),
}

/// The template's format, which is also each node file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateFormat {
    /// `lspci -vvv` text; node files are `.txt`.
    Text,
    /// trainyard snapshot JSON; node files are `.json`.
    Snapshot,
}

impl TemplateFormat {
    /// File extension of node files.
    pub fn extension(self) -> &'static str {
        match self {
            TemplateFormat::Text => "txt",
            TemplateFormat::Snapshot => "json",
        }
    }

    fn name(self) -> &'static str {
        match self {
            TemplateFormat::Text => "text",
            TemplateFormat::Snapshot => "snapshot",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// RNG seed.
    pub seed: u64,
    /// Nodes per fault kind.
    pub faults: FaultCounts,
    /// Host name prefix: `node` gives `node00001`, `node00002`, ...
    pub prefix: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            nodes: 100,
            seed: 1,
            faults: FaultCounts::default(),
            prefix: "node".to_string(),
        }
    }
}

/// What one node gets: its name, its fault kinds and its sampled natural variation.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodePlan {
    pub index: usize,
    pub name: String,
    pub faults: Vec<FaultKind>,
    /// Template device indices of GPUs idling at 2.5GT/s (text templates).
    pub idle_gpus: Vec<usize>,
    /// Template device indices whose AER correctable counters ticked (snapshots).
    pub aer_ticks: Vec<usize>,
}

impl NodePlan {
    pub(crate) fn has(&self, kind: FaultKind) -> bool {
        self.faults.contains(&kind)
    }
}

enum Engine {
    Text(text::TextTemplate),
    Snapshot(Box<snapshot::SnapshotTemplate>),
}

impl Engine {
    fn devices(&self) -> &[Device] {
        match self {
            Engine::Text(t) => &t.devices,
            Engine::Snapshot(s) => &s.devices,
        }
    }
    fn topology(&self) -> &Topology {
        match self {
            Engine::Text(t) => &t.topology,
            Engine::Snapshot(s) => &s.topology,
        }
    }
}

/// A planned fleet: template, cohorts, per-node variation and the truth. Nodes are written
/// on demand with [`Synth::write_node`]; nothing but the plan is held in memory.
pub struct Synth {
    engine: Engine,
    seed: u64,
    plans: Vec<NodePlan>,
    targets: Targets,
    truth: Truth,
}

impl std::fmt::Debug for Synth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synth")
            .field("format", &self.format())
            .field("nodes", &self.plans.len())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// A node's 1-based, zero-padded name.
pub fn node_name(prefix: &str, index: usize) -> String {
    format!("{prefix}{:05}", index + 1)
}

impl Synth {
    /// Plans a fleet from a template's contents (`name` is recorded in the truth). The
    /// format is recognised from the content: a snapshot is JSON, anything else is read as
    /// lspci text and must hold at least one device.
    pub fn new(name: &str, template: &str, opts: &SynthOptions) -> Result<Self, SynthError> {
        let bad = |reason: String| SynthError::Template {
            name: name.to_string(),
            reason,
        };
        let mut engine = if Snapshot::sniff(template) {
            let snap = Snapshot::from_json(template).map_err(|e| bad(e.to_string()))?;
            Engine::Snapshot(Box::new(
                snapshot::SnapshotTemplate::new(snap).map_err(bad)?,
            ))
        } else {
            Engine::Text(text::TextTemplate::new(template).map_err(bad)?)
        };
        let format = match engine {
            Engine::Text(_) => TemplateFormat::Text,
            Engine::Snapshot(_) => TemplateFormat::Snapshot,
        };
        let mut rng = Rng::new(opts.seed);
        let targets = Targets::choose(engine.devices(), engine.topology(), &mut rng);
        if let Engine::Text(t) = &mut engine {
            t.prepare(&targets);
        }

        let why_not = |kind: FaultKind| -> Option<&'static str> {
            match kind {
                FaultKind::Acs if targets.acs.is_empty() => {
                    Some("no port with ACS above a NIC, GPU or storage device in the template")
                }
                FaultKind::Downtrain if targets.downtrain.is_none() => {
                    Some("no GPU with a link wider than x1 in the template")
                }
                FaultKind::Mrrs if targets.mrrs.is_none() => {
                    Some("no RDMA NIC with a MaxReadReq above 128 bytes in the template")
                }
                FaultKind::RelaxedOrdering if targets.relaxed_ordering.is_none() => {
                    Some("no RDMA NIC or GPU with relaxed ordering on in the template")
                }
                FaultKind::Missing if targets.missing.is_none() => {
                    Some("no GPU alone on its bus behind its own port in the template")
                }
                FaultKind::Aer if targets.aer.is_none() => {
                    Some("no GPU or RDMA NIC with clear AER status in the template")
                }
                FaultKind::Bios if format == TemplateFormat::Text => {
                    Some("lspci text carries no BIOS version (snapshots only)")
                }
                _ => None,
            }
        };
        let cohorts = Cohorts::draw(opts.nodes, &opts.faults, |k| why_not(k).is_none(), &mut rng)?;
        let skipped = FaultKind::ALL
            .into_iter()
            .filter(|&k| opts.faults.count(k, opts.nodes) > 0)
            // BIOS needs a snapshot; on text it is only worth a word when asked for.
            .filter(|&k| {
                !(k == FaultKind::Bios
                    && format == TemplateFormat::Text
                    && !opts.faults.is_explicit(k))
            })
            .filter_map(|k| {
                why_not(k).map(|r| SkippedFault {
                    kind: k,
                    reason: r.to_string(),
                })
            })
            .collect();

        let gpus: Vec<usize> = (0..engine.devices().len())
            .filter(|&i| {
                let d = &engine.devices()[i];
                d.role() == trainyard_pci::Role::Gpu && d.field("LnkSta.Speed").is_some()
            })
            .collect();
        let aer_devices: Vec<usize> = match &engine {
            Engine::Snapshot(s) => s.aer_counter_devices(),
            Engine::Text(_) => Vec::new(),
        };
        let plans: Vec<NodePlan> = (0..opts.nodes)
            .map(|i| {
                let faults: Vec<FaultKind> = cohorts.kinds_of(i).collect();
                let mut idle_gpus = Vec::new();
                let mut aer_ticks = Vec::new();
                match format {
                    TemplateFormat::Text => {
                        let mut r = Rng::for_node(opts.seed, i, 1);
                        if r.chance(variation::IDLE_NODE_PER_MILLE) {
                            idle_gpus = gpus
                                .iter()
                                .copied()
                                .filter(|_| r.chance(variation::IDLE_GPU_PER_MILLE))
                                .collect();
                        }
                    }
                    TemplateFormat::Snapshot => {
                        let mut r = Rng::for_node(opts.seed, i, 2);
                        aer_ticks = aer_devices
                            .iter()
                            .copied()
                            .filter(|_| r.chance(variation::AER_TICK_PER_MILLE))
                            .collect();
                    }
                }
                NodePlan {
                    index: i,
                    name: node_name(&opts.prefix, i),
                    faults,
                    idle_gpus,
                    aer_ticks,
                }
            })
            .collect();

        let devices = engine.devices();
        let topo = engine.topology();
        let slot = |i: usize| topo.slot_path(devices, i);
        let names_of =
            |set: &[usize]| -> Vec<String> { set.iter().map(|&i| plans[i].name.clone()).collect() };

        let mut fault_truth = Vec::new();
        for kind in FaultKind::ALL {
            let cohort = cohorts.of(kind);
            if cohort.is_empty() {
                continue;
            }
            let edits = match &engine {
                Engine::Text(t) => t.fault_keys(kind, &targets),
                Engine::Snapshot(s) => s.fault_keys(kind, &targets),
            };
            for e in edits {
                fault_truth.push(FaultTruth {
                    kind,
                    nodes: names_of(cohort),
                    device: e.device.map(|i| devices[i].address.to_string()),
                    slot: e.device.map(slot),
                    key: e.key,
                    value: e.value,
                    fleet_value: e.fleet_value,
                });
            }
        }

        let mut natural = Vec::new();
        let every = match &engine {
            Engine::Text(t) => t.every_node_variation(),
            Engine::Snapshot(s) => s.every_node_variation(),
        };
        for (kind, dev, key) in every {
            natural.push(NaturalTruth {
                kind,
                nodes: Vec::new(),
                every_node: true,
                device: devices[dev].address.to_string(),
                slot: slot(dev),
                key,
            });
        }
        for &g in &gpus {
            let nodes: Vec<String> = plans
                .iter()
                .filter(|p| p.idle_gpus.contains(&g))
                .map(|p| p.name.clone())
                .collect();
            if !nodes.is_empty() {
                for key in ["LnkSta.Speed", "LnkSta.Speed.Note"] {
                    natural.push(NaturalTruth {
                        kind: NaturalKind::IdleGpuSpeed,
                        nodes: nodes.clone(),
                        every_node: false,
                        device: devices[g].address.to_string(),
                        slot: slot(g),
                        key: key.to_string(),
                    });
                }
            }
        }
        for &d in &aer_devices {
            let nodes: Vec<String> = plans
                .iter()
                .filter(|p| p.aer_ticks.contains(&d))
                .map(|p| p.name.clone())
                .collect();
            if !nodes.is_empty() {
                natural.push(NaturalTruth {
                    kind: NaturalKind::AerCounter,
                    nodes,
                    every_node: false,
                    device: devices[d].address.to_string(),
                    slot: slot(d),
                    key: "aer_dev_correctable".to_string(),
                });
            }
        }

        let truth = Truth {
            template: name.to_string(),
            format: format.name().to_string(),
            seed: opts.seed,
            nodes: plans.iter().map(|p| p.name.clone()).collect(),
            faults: fault_truth,
            natural,
            skipped,
        };
        Ok(Self {
            engine,
            seed: opts.seed,
            plans,
            targets,
            truth,
        })
    }

    /// The template's format (and the node files').
    pub fn format(&self) -> TemplateFormat {
        match self.engine {
            Engine::Text(_) => TemplateFormat::Text,
            Engine::Snapshot(_) => TemplateFormat::Snapshot,
        }
    }

    /// The ground truth.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// True for a fleet of no nodes.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// Node `i`'s name.
    pub fn node_name(&self, i: usize) -> Option<&str> {
        self.plans.get(i).map(|p| p.name.as_str())
    }

    /// The template's devices, as parsed or decoded (what truth addresses refer to).
    pub fn template_devices(&self) -> &[Device] {
        self.engine.devices()
    }

    /// Writes node `i` (out of range writes nothing).
    pub fn write_node(&self, i: usize, w: &mut dyn Write) -> io::Result<()> {
        let Some(plan) = self.plans.get(i) else {
            return Ok(());
        };
        match &self.engine {
            Engine::Text(t) => t.write(plan, &self.targets, self.seed, w),
            Engine::Snapshot(s) => s.write(plan, &self.targets, self.seed, w),
        }
    }

    /// Writes every node as one pdsh-style stream (`host: line`). With `interleave`, hosts
    /// are interleaved in small random batches of lines, the way pdsh's fanout of 32
    /// concurrent connections mixes them; only those 32 nodes are held in memory.
    pub fn write_pdsh(&self, w: &mut dyn Write, interleave: bool) -> io::Result<()> {
        let mut buf = Vec::new();
        if !interleave {
            for i in 0..self.plans.len() {
                buf.clear();
                self.write_node(i, &mut buf)?;
                write_prefixed(&self.plans[i].name, &buf, w)?;
            }
            return Ok(());
        }
        const FANOUT: usize = 32;
        const MAX_BATCH: u64 = 8;
        let mut rng = Rng::for_node(self.seed, usize::MAX, 3);
        // (node, its bytes, read position)
        let mut active: Vec<(usize, Vec<u8>, usize)> = Vec::new();
        let mut next = 0usize;
        loop {
            while active.len() < FANOUT && next < self.plans.len() {
                let mut b = Vec::new();
                self.write_node(next, &mut b)?;
                active.push((next, b, 0));
                next += 1;
            }
            if active.is_empty() {
                return Ok(());
            }
            let k = rng.below(active.len() as u64) as usize;
            let lines = 1 + rng.below(MAX_BATCH);
            let (node, bytes, pos) = &mut active[k];
            let name = self.plans[*node].name.as_bytes();
            // One write per batch: per-line writes made interleaving three times slower.
            buf.clear();
            for _ in 0..lines {
                if *pos >= bytes.len() {
                    break;
                }
                let end = bytes[*pos..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |e| *pos + e);
                buf.extend_from_slice(name);
                buf.extend_from_slice(b": ");
                buf.extend_from_slice(&bytes[*pos..end]);
                buf.push(b'\n');
                *pos = end + 1;
            }
            w.write_all(&buf)?;
            if *pos >= bytes.len() {
                active.swap_remove(k);
            }
        }
    }
}

/// Prefixes every line of `bytes` with `host: `.
/// Every function on the bus of device `g` (a missing GPU and, say, its audio function): the
/// template devices a missing-device fault removes together.
pub(crate) fn functions_on_bus_of(devices: &[Device], g: usize) -> Vec<usize> {
    let Some(a) = devices.get(g).map(|d| d.address) else {
        return Vec::new();
    };
    (0..devices.len())
        .filter(|&i| devices[i].address.domain == a.domain && devices[i].address.bus == a.bus)
        .collect()
}

fn write_prefixed(host: &str, bytes: &[u8], w: &mut dyn Write) -> io::Result<()> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    for line in bytes.split(|&c| c == b'\n') {
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    // split() yields one empty piece after a final newline: drop its line.
    if bytes.last() == Some(&b'\n') {
        out.truncate(out.len() - host.len() - 3);
    }
    w.write_all(&out)
}

/// One (device, key) a fault changes, with both values.
#[derive(Debug, Clone)]
pub(crate) struct KeyEdit {
    pub device: Option<usize>,
    pub key: String,
    pub value: String,
    pub fleet_value: String,
}

impl KeyEdit {
    pub(crate) fn new(device: usize, key: &str, value: impl Into<String>, fleet: &str) -> Self {
        Self {
            device: Some(device),
            key: key.to_string(),
            value: value.into(),
            fleet_value: fleet.to_string(),
        }
    }
}

/// The ACS redirect value the fault sets on a port: the opposite of the template's, so the
/// cohort always deviates (on a template whose ports already redirect, as the HPE dump's
/// do, the cohort is the one with redirect off).
pub(crate) fn acs_fault_value(template: &str) -> &'static str {
    if template == "+" {
        "-"
    } else {
        "+"
    }
}
