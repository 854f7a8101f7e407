//! Folding nodes, one at a time, into per-slot, per-key, per-value node sets.
//!
//! Memory grows with the number of distinct (slot, key, value) triples, not with bytes read:
//! a node is folded and dropped. Keys whose values are nearly all different (serial numbers,
//! addresses, IRQs) are recognised from the data as they arrive and stop being tracked value
//! by value.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use trainyard_pci::Role;

use super::natural::node_name_cmp;
use super::nodeset::NodeSet;
use super::slots::SlotIds;
use crate::fxhash::FxBuild;
use crate::node::{Derived, InputKind, Node};
use crate::rules::{self, same_identity, DeviceFacts, Finding, Severity};

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
#[derive(Debug)]
pub(crate) struct KeyAcc {
    /// Distinct values and the nodes that have each, in order of first appearance.
    pub values: Vec<(Box<str>, NodeSet)>,
    /// Value -> its position in `values` (FxHash: SipHash's setup showed for every value
    /// of a device that differs from its slot's reference).
    index: HashMap<Box<str>, u32, FxBuild>,
    /// Position in `values` of the value last folded: fleets are mostly identical, so the
    /// next node's value is nearly always the same one and is found by one comparison.
    last: u32,
    /// Nodes that reported the key at all (kept when values are no longer tracked). While
    /// the slot has a [`Reference`] holding the key, its nodes are counted there instead.
    pub reported: NodeSet,
    pub high_cardinality: bool,
    /// Whether the slot's [`Reference`] has the key.
    in_reference: bool,
}

impl Default for KeyAcc {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            index: HashMap::default(),
            last: u32::MAX,
            reported: NodeSet::default(),
            high_cardinality: false,
            in_reference: false,
        }
    }
}

impl KeyAcc {
    /// The node set of `value`, if the value is tracked.
    fn position(&mut self, value: &str) -> Option<usize> {
        if let Some((v, _)) = self.values.get(self.last as usize) {
            if v.as_ref() == value {
                return Some(self.last as usize);
            }
        }
        let pos = *self.index.get(value)? as usize;
        self.last = pos as u32;
        Some(pos)
    }

    /// Adds a value not seen before, held by `set`.
    fn push(&mut self, value: Box<str>, set: NodeSet) {
        self.last = self.values.len() as u32;
        self.index.insert(value.clone(), self.last);
        self.values.push((value, set));
    }

    /// Stops tracking values: the key is an identifier.
    fn forget_values(&mut self) {
        self.high_cardinality = true;
        self.values = Vec::new();
        self.index = HashMap::default();
        self.last = u32::MAX;
    }

    /// Folds node `idx` reporting `value`: the nodes of each value, and the identifier test
    /// each time a new value turns up.
    fn add(&mut self, idx: u32, value: &str, detect_identifier: bool) {
        self.reported.insert(idx);
        if !self.high_cardinality {
            self.add_value(idx, value, detect_identifier.then_some(None));
        }
    }

    /// Adds `idx` to the nodes of `value` (a tracked key whose reporting nodes are already
    /// counted). With `detect`, a new value runs the identifier test against the nodes that
    /// reported the key: `reported`, plus the reference's nodes when given.
    fn add_value(&mut self, idx: u32, value: &str, detect: Option<Option<&NodeSet>>) {
        match self.position(value) {
            Some(pos) => self.values[pos].1.insert(idx),
            None => {
                let mut set = NodeSet::default();
                set.insert(idx);
                self.push(value.into(), set);
                let Some(reference) = detect else { return };
                if self.values.len() <= HIGH_CARDINALITY_MIN {
                    return;
                }
                let seen = match reference {
                    Some(r) => self.reported.union_len(r),
                    None => self.reported.len(),
                };
                if self.values.len() * 4 > seen {
                    self.forget_values();
                }
            }
        }
    }
}

/// One slot (a device position in the PCIe tree) across the fleet.
#[derive(Debug, Default)]
pub(crate) struct SlotAcc {
    /// Nodes with a device at this slot.
    pub present: NodeSet,
    /// Human label from the first node, in node-name order, that has it: labels carry bus
    /// numbers, which differ between nodes, so the node must not be whichever came first.
    pub label: String,
    /// The node `label` comes from.
    label_node: Box<str>,
    /// The device's role, from the same node as the label.
    pub role: Option<Role>,
    /// Settings, in order of first appearance.
    pub keys: Vec<(Box<str>, KeyAcc)>,
    /// Key -> its position in `keys`.
    index: HashMap<Box<str>, u32, FxBuild>,
    /// Position in `keys` of each field of the device last folded here: the next node's
    /// device at this slot nearly always has the same keys in the same order, so each is
    /// found by one comparison instead of hashing it.
    order: Vec<u32>,
    /// The device most nodes are expected to repeat, and the nodes that did.
    reference: Option<Reference>,
    /// Shared devices seen here that differ from the reference, with their differences,
    /// by the device's address in memory (see [`Variant`]).
    variants: HashMap<usize, Variant, FxBuild>,
}

/// A device other nodes share (see `sources`' block memo) that has the reference's keys but
/// not all its values: an idle GPU's lower link speed, a fault on a few nodes, an IRQ. Its
/// differences are worked out once; the next node holding the same device is folded from
/// them without a comparison.
///
/// Held weakly: the allocation cannot be reused for another device while the entry exists
/// (so a match by address is the same device), and the device's settings are freed as soon
/// as no node or memo holds it.
///
/// A slot can see a few dozen of them: on the 200-node XD665 fleet a root port's block comes
/// in about 25 shared versions that differ only in their IRQ (the memo hands out the same
/// device for each, but without the derivation that made the first one cheap to compare).
/// With 4 kept per slot they replaced each other and 3,645 devices were compared in full
/// (0.5 M instructions per node); see [`MAX_VARIANTS`].
#[derive(Debug)]
struct Variant {
    device: std::sync::Weak<trainyard_pci::Device>,
    /// Settings that differ from the reference's: position and value.
    diff: Vec<(u32, Box<str>)>,
    /// What the rules read of the device.
    facts: DeviceFacts,
}

/// Variants kept per slot, with the reference they were compared with. Found by address (one
/// hash lookup), so many cost no more than a few. Memory: a variant is its differences (a
/// value or two) and facts (about 150 bytes), plus the device's own struct (a few hundred
/// bytes), which the `Weak` keeps allocated (its settings are freed with the last node or
/// memo entry holding it): under 64 KiB per slot, and only slots whose shared devices vary
/// get there. When full, variants of devices nothing holds any more are dropped, and if
/// that frees too little, all of them.
const MAX_VARIANTS: usize = 64;

/// A device that the nodes' devices at a slot are compared with, field by field.
///
/// Fleets are nearly identical: most nodes' device at a slot has the same settings as the
/// reference but for a few (an IRQ, a serial number). Such a device is folded as one insert
/// into `nodes`, plus one per differing setting (into its value's nodes and `exceptions`),
/// instead of one per setting. [`SlotAcc::settle`] turns it back into per-value node sets:
/// the reference's value of a setting is held by `nodes` minus that setting's exceptions.
#[derive(Debug)]
struct Reference {
    /// The reference device's fields: keys and values back to back.
    text: String,
    /// Per field: start of key, end of key (start of value), end of value in `text`.
    spans: Vec<[u32; 3]>,
    /// Per field: the key's position in the slot's `keys`.
    keys: Vec<u32>,
    /// Nodes whose device at the slot has the reference's keys in the same order.
    nodes: NodeSet,
    /// Per field: nodes of `nodes` whose value differs from the reference's.
    exceptions: Vec<NodeSet>,
    /// Devices folded in a row that did not have the reference's keys.
    misses: u32,
    /// The device itself: nodes that repeat a device block byte for byte share one parsed
    /// device (see `sources`), which then matches the reference without a comparison.
    device: Arc<trainyard_pci::Device>,
    /// What the rules read of `device`, and the positions of the settings that gives them:
    /// a device that matches the reference has the same, but for its differing settings
    /// (see [`DeviceFacts::patched`]).
    facts: DeviceFacts,
    fact_keys: Vec<u32>,
}

/// After this many devices in a row without the reference's keys, the slot takes a new one:
/// the first node may have been an odd one.
const REFERENCE_MISSES: u32 = 16;

impl Reference {
    fn value(&self, field: usize) -> &str {
        let [_, k, e] = self.spans[field];
        &self.text[k as usize..e as usize]
    }

    /// Key and value of setting `field`.
    fn setting(&self, field: u32) -> (&str, &str) {
        let [s, k, e] = self.spans[field as usize];
        (
            &self.text[s as usize..k as usize],
            &self.text[k as usize..e as usize],
        )
    }
}

impl SlotAcc {
    /// The position in `keys` of `key`, the `field`th field of a device (added if new).
    fn key_position(&mut self, field: usize, key: &str) -> usize {
        if let Some(&pos) = self.order.get(field) {
            if self
                .keys
                .get(pos as usize)
                .is_some_and(|(k, _)| k.as_ref() == key)
            {
                return pos as usize;
            }
        }
        let pos = self.key_index(key);
        if self.order.len() <= field {
            self.order.resize(field + 1, u32::MAX);
        }
        self.order[field] = pos as u32;
        pos
    }

    /// Whether a label from node `name.name` (`label`, made on demand) goes before the one
    /// held: the first node in node-name order, the smaller label between nodes of the same
    /// name.
    fn label_precedes(
        &self,
        name: &mut NameCmp<'_>,
        label: impl FnOnce() -> String,
    ) -> Option<String> {
        if self.label.is_empty() {
            return Some(label());
        }
        match name.cmp(&self.label_node) {
            CmpOrdering::Less => Some(label()),
            CmpOrdering::Greater => None,
            CmpOrdering::Equal => Some(label()).filter(|l| *l < self.label),
        }
    }

    /// Folds node `idx`'s device `dev` in (its presence is already recorded); returns what
    /// the rules read of it, which the comparison with the reference mostly gives for free.
    fn add_device(
        &mut self,
        idx: u32,
        dev: &Arc<trainyard_pci::Device>,
        derived: Option<&Derived>,
    ) -> DeviceFacts {
        if let Some(r) = &self.reference {
            if Arc::ptr_eq(&r.device, dev) {
                let facts = r.facts;
                self.add_like_reference(idx, &[]);
                return facts;
            }
        }
        let Self {
            reference,
            keys,
            variants,
            ..
        } = self;
        if let Some(v) = variant_of(variants, dev) {
            if let Some(r) = reference {
                fold_like_reference(r, keys, idx, v.diff.iter().map(|(f, v)| (*f, &**v)));
            }
            return v.facts;
        }
        let diff = match derived {
            Some(d) => self.diff_of_derived(dev, d),
            None => self.compare_with_reference(dev),
        };
        if let Some(diff) = diff {
            if let Some(r) = &mut self.reference {
                let facts = r
                    .facts
                    .patched(&r.device, dev, &r.fact_keys, |i| r.setting(i), &diff);
                if diff.is_empty() && Arc::strong_count(dev) > 1 && same_identity(&r.device, dev) {
                    // The same settings in a device other nodes share (the block memo keeps
                    // a block from its second sighting on, so the first node's device, which
                    // became the reference, is rarely the shared one): the shared one becomes
                    // the reference, and the next nodes match it without a comparison. Its
                    // facts are the reference's: same settings, same identity.
                    r.device = Arc::clone(dev);
                }
                if !diff.is_empty() && Arc::strong_count(dev) > 1 {
                    if self.variants.len() >= MAX_VARIANTS {
                        self.variants.retain(|_, v| v.device.strong_count() > 0);
                        if self.variants.len() >= MAX_VARIANTS / 2 {
                            self.variants.clear();
                        }
                    }
                    let v = Variant {
                        device: Arc::downgrade(dev),
                        diff: diff.iter().map(|&(f, v)| (f, v.into())).collect(),
                        facts,
                    };
                    self.variants.insert(Arc::as_ptr(dev) as usize, v);
                }
                self.add_like_reference(idx, &diff);
                return facts;
            }
        }
        let mut renew = false;
        if let Some(r) = &mut self.reference {
            r.misses += 1;
            renew = r.misses >= REFERENCE_MISSES;
        }
        if renew {
            self.settle();
        }
        for (field, f) in dev.fields.iter().enumerate() {
            let pos = self.key_position(field, &f.key);
            let k = &mut self.keys[pos].1;
            k.reported.insert(idx);
            if !k.high_cardinality {
                let reference = match &self.reference {
                    Some(r) if k.in_reference => Some(&r.nodes),
                    _ => None,
                };
                k.add_value(idx, &f.value, Some(reference));
            }
        }
        if self.reference.is_none() {
            self.make_reference(dev);
            if let Some(r) = &self.reference {
                return r.facts;
            }
        }
        rules::device_facts(dev)
    }

    /// [`compare_with_reference`](Self::compare_with_reference) for a device derived from
    /// another: when that one is the reference, the differing fields are the derivation's
    /// changed positions, found without reading the other settings (a GPU has hundreds).
    fn diff_of_derived<'d>(
        &self,
        dev: &'d trainyard_pci::Device,
        derived: &Derived,
    ) -> Option<Vec<(u32, &'d str)>> {
        let r = self.reference.as_ref()?;
        if !Arc::ptr_eq(&r.device, &derived.from) {
            return self.compare_with_reference(dev);
        }
        derived
            .changed
            .iter()
            .map(|&p| Some((p, dev.fields.get_at(p as usize)?.value.as_str())))
            .collect()
    }

    /// When `dev` has the reference's keys in the same order: the fields whose value
    /// differs, with their values (empty when the device repeats the reference).
    ///
    /// This runs for every device of every node, over about a hundred settings each, so it
    /// compares bytes against the reference's spans directly and collects the differing
    /// values in the same pass.
    fn compare_with_reference<'d>(
        &self,
        dev: &'d trainyard_pci::Device,
    ) -> Option<Vec<(u32, &'d str)>> {
        let r = self.reference.as_ref()?;
        if r.spans.len() != dev.fields.len() {
            return None;
        }
        let text = r.text.as_bytes();
        // Allocates only for a device that differs, a minority.
        let mut diff = Vec::new();
        for (field, (f, &[s, k, e])) in dev.fields.iter().zip(&r.spans).enumerate() {
            let (s, k, e) = (s as usize, k as usize, e as usize);
            if !same_bytes(f.key.as_bytes(), text.get(s..k)?) {
                return None;
            }
            let value = f.value.as_str();
            if !same_bytes(value.as_bytes(), text.get(k..e)?) {
                diff.push((field as u32, value));
            }
        }
        Some(diff)
    }

    /// Folds a device that has the reference's keys; `diff` from
    /// [`compare_with_reference`](Self::compare_with_reference).
    fn add_like_reference(&mut self, idx: u32, diff: &[(u32, &str)]) {
        if let Some(r) = &mut self.reference {
            fold_like_reference(r, &mut self.keys, idx, diff.iter().copied());
        }
    }

    /// Makes `dev` (already folded) the reference.
    fn make_reference(&mut self, dev: &Arc<trainyard_pci::Device>) {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(dev.fields.len());
        let mut keys = Vec::with_capacity(dev.fields.len());
        for (field, f) in dev.fields.iter().enumerate() {
            let s = text.len() as u32;
            text.push_str(&f.key);
            let k = text.len() as u32;
            text.push_str(&f.value);
            spans.push([s, k, text.len() as u32]);
            keys.push(self.order[field]);
        }
        for &k in &keys {
            self.keys[k as usize].1.in_reference = true;
        }
        let (facts, fact_keys) = DeviceFacts::with_keys(dev);
        self.reference = Some(Reference {
            facts,
            fact_keys,
            text,
            exceptions: vec![NodeSet::default(); spans.len()],
            spans,
            keys,
            nodes: NodeSet::default(),
            misses: 0,
            device: Arc::clone(dev),
        });
    }

    /// Folds the reference's nodes into the per-key sets and drops the reference.
    fn settle(&mut self) {
        // Variants' differences are against this reference.
        self.variants.clear();
        let Some(r) = self.reference.take() else {
            return;
        };
        for &k in &r.keys {
            self.keys[k as usize].1.in_reference = false;
        }
        if r.nodes.is_empty() {
            return;
        }
        for (field, &k) in r.keys.iter().enumerate() {
            let k = &mut self.keys[k as usize].1;
            k.reported.union_with(&r.nodes);
            if k.high_cardinality {
                continue;
            }
            let value = r.value(field);
            let pos = match k.position(value) {
                Some(pos) => pos,
                None => {
                    k.push(value.into(), NodeSet::default());
                    k.values.len() - 1
                }
            };
            k.values[pos]
                .1
                .union_with_difference(&r.nodes, &r.exceptions[field]);
        }
    }

    /// The position in `keys` of `key` (added if new), without the field-order cache.
    fn key_index(&mut self, key: &str) -> usize {
        match self.index.get(key) {
            Some(&pos) => pos as usize,
            None => {
                let pos = self.keys.len();
                self.index.insert(key.into(), pos as u32);
                self.keys.push((key.into(), KeyAcc::default()));
                pos
            }
        }
    }
}

/// The variant of a slot (`variants`) that is `dev` itself, if one is kept.
fn variant_of<'v>(
    variants: &'v HashMap<usize, Variant, FxBuild>,
    dev: &Arc<trainyard_pci::Device>,
) -> Option<&'v Variant> {
    if variants.is_empty() {
        return None;
    }
    let v = variants.get(&(Arc::as_ptr(dev) as usize))?;
    // The key alone is an address; the `Weak` is what makes it this device.
    std::ptr::eq(v.device.as_ptr(), Arc::as_ptr(dev)).then_some(v)
}

/// [`SlotAcc::add_like_reference`] on the slot's parts, so that `diff` may borrow from
/// another of them (a [`Variant`]'s).
fn fold_like_reference<'v>(
    r: &mut Reference,
    keys: &mut [(Box<str>, KeyAcc)],
    idx: u32,
    diff: impl Iterator<Item = (u32, &'v str)>,
) {
    r.misses = 0;
    r.nodes.insert(idx);
    for (field, value) in diff {
        let field = field as usize;
        let k = &mut keys[r.keys[field] as usize].1;
        if k.high_cardinality {
            continue;
        }
        k.add_value(idx, value, Some(Some(&r.nodes)));
        r.exceptions[field].insert(idx);
    }
}

/// [`node_name_cmp`] of one node's name with the nodes that its slots' labels come from,
/// which are nearly always one and the same node: the last comparison is reused for the
/// same name (a natural-order comparison per device of every node was 0.05 M instructions
/// per node).
struct NameCmp<'n> {
    name: &'n str,
    last: Option<(Box<str>, CmpOrdering)>,
}

impl<'n> NameCmp<'n> {
    fn new(name: &'n str) -> Self {
        Self { name, last: None }
    }

    /// `node_name_cmp(name, other)`.
    fn cmp(&mut self, other: &str) -> CmpOrdering {
        if let Some((o, c)) = &self.last {
            if **o == *other {
                return *c;
            }
        }
        let c = node_name_cmp(self.name, other);
        self.last = Some((other.into(), c));
        c
    }
}

/// Whether two short byte strings are equal: settings are mostly under 16 bytes, where a
/// `memcmp` call costs more than the comparison.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if (8..=16).contains(&n) {
        // Two overlapping 8-byte words cover the string.
        let word = |x: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&x[at..at + 8]);
            u64::from_ne_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
}

/// A rulebook finding aggregated over nodes.
#[derive(Debug)]
pub(crate) struct RuleAcc {
    pub nodes: NodeSet,
    /// The finding quoted for all: summary, evidence, why and fix. It is the first node's in
    /// node-name order (see [`RuleAcc::precedes`]), never the first to arrive, so the report
    /// does not depend on threads or input order.
    pub sample: Finding,
    /// Slot label (or the node-wide marker), from the sample's node.
    pub label: String,
    /// The sample's node.
    node: Box<str>,
}

impl RuleAcc {
    /// Whether `finding` of node `name` is a better sample than the one held: an earlier
    /// node name; between nodes of the same name, the smaller finding.
    fn precedes(&self, name: &str, finding: &Finding) -> bool {
        node_name_cmp(name, &self.node)
            .then_with(|| finding_cmp(finding, &self.sample))
            .is_lt()
    }
}

/// A total order of one rule's findings on one slot, by content.
fn finding_cmp(a: &Finding, b: &Finding) -> CmpOrdering {
    (&a.summary, &a.keys, &a.device, &a.why, &a.fix, &a.related)
        .cmp(&(&b.summary, &b.keys, &b.device, &b.why, &b.fix, &b.related))
}

/// Per-worker accumulator. Workers share only the node counter, so node indices are global
/// and merging is a union.
#[derive(Debug)]
pub struct Accumulator {
    counter: Arc<AtomicU32>,
    pub(crate) nodes: Vec<(u32, NodeMeta)>,
    /// Slot paths and ids; `slots[id]` is the slot of id `id`.
    slot_ids: SlotIds,
    slots: Vec<SlotAcc>,
    /// Rule findings by (rule, slot id or [`NODE_WIDE`], severity).
    rules: HashMap<(&'static str, u32, Severity), RuleAcc, FxBuild>,
}

/// The slot id of rule findings about a node as a whole.
const NODE_WIDE: u32 = u32::MAX;

impl Accumulator {
    /// An empty accumulator drawing node indices from `counter` (share one counter between
    /// all accumulators of one analysis).
    pub fn new(counter: Arc<AtomicU32>) -> Self {
        Self {
            counter,
            nodes: Vec::new(),
            slot_ids: SlotIds::default(),
            slots: Vec::new(),
            rules: HashMap::default(),
        }
    }

    /// Number of nodes folded in.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Slots by path, in no particular order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (&str, &SlotAcc)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(id, s)| (self.slot_ids.name(id as u32), s))
    }

    /// Number of distinct slots.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Rule findings as ((rule, slot path or `node`, severity), aggregate).
    pub(crate) fn rules(&self) -> impl Iterator<Item = ((&'static str, &str, Severity), &RuleAcc)> {
        self.rules.iter().map(|(&(rule, slot, severity), r)| {
            let place = match slot {
                NODE_WIDE => "node",
                id => self.slot_ids.name(id),
            };
            ((rule, place, severity), r)
        })
    }

    /// Makes room for slots named since the last call.
    fn grow_slots(&mut self) {
        self.slots
            .resize_with(self.slot_ids.len(), SlotAcc::default);
    }

    /// The slot of `path`, added if new.
    fn slot_by_name(&mut self, path: &str) -> u32 {
        let id = self.slot_ids.intern(path);
        self.grow_slots();
        id
    }

    /// Folds one node in: its devices by slot, its platform facts, and its rulebook findings.
    pub fn add_node(&mut self, node: &Node) {
        let idx = self.counter.fetch_add(1, Ordering::Relaxed);
        let facts = platform_facts(node);
        // Labels take some formatting per device: they are made only when a slot is new or a
        // rule fires, which is rare after the first nodes.
        let mut labels: Option<Vec<String>> = None;
        let slot_of = self
            .slot_ids
            .resolve(&node.devices, &node.topology)
            .to_vec();
        self.grow_slots();
        let mut device_facts = Vec::with_capacity(node.devices.len());
        let mut name = NameCmp::new(&node.name);
        for (i, dev) in node.devices.iter().enumerate() {
            let acc = &mut self.slots[slot_of[i] as usize];
            if let Some(label) = acc.label_precedes(&mut name, || {
                labels.get_or_insert_with(|| super::labels::device_labels(node))[i].clone()
            }) {
                acc.label = label;
                acc.label_node = node.name.as_str().into();
                acc.role = Some(dev.role());
            }
            acc.present.insert(idx);
            let derived = node.derived.get(i).and_then(Option::as_ref);
            device_facts.push(acc.add_device(idx, dev, derived));
        }
        // Platform facts (firmware, kernel, drivers) take part in the consensus as the settings
        // of a pseudo-slot, so a node with an older BIOS is a deviation like any other.
        if !facts.is_empty() {
            let id = self.slot_by_name(PLATFORM_SLOT);
            let acc = &mut self.slots[id as usize];
            if acc.label.is_empty() {
                acc.label = "platform (DMI, kernel, drivers)".to_string();
            }
            acc.present.insert(idx);
            for (key, value) in &facts {
                let pos = acc.key_index(key);
                acc.keys[pos].1.add(idx, value, false);
            }
        }
        self.nodes.push((
            idx,
            NodeMeta {
                name: node.name.clone(),
                kind: node.kind,
                devices: node.devices.len(),
                facts,
            },
        ));
        // Only a finding that can become its rule's quoted sample (see `RuleAcc::precedes`)
        // needs its text: one whose (rule, slot, severity) has none yet, or whose node does
        // not come after the sample's. Decided before any of this node's findings is
        // folded: a key this node adds is then absent, so all its findings there are whole.
        let rules_held = &self.rules;
        let quoted = |rule: &'static str, severity: Severity, device: Option<usize>| {
            // The device as `device_index` finds it again from the finding's address: the
            // first device with that address.
            let place = device.map_or(NODE_WIDE, |i| {
                let a = node.devices[i].address;
                let first = node.devices[..i].iter().position(|d| d.address == a);
                slot_of[first.unwrap_or(i)]
            });
            rules_held
                .get(&(rule, place, severity))
                .is_none_or(|r| node_name_cmp(&node.name, &r.node) != CmpOrdering::Greater)
        };
        let report = rules::check_node_with(node, device_facts, &quoted);
        for f in report.findings {
            let device = f.device.as_deref().and_then(|a| device_index(node, a));
            let place = device.map_or(NODE_WIDE, |i| slot_of[i]);
            let key = (f.rule, place, f.severity);
            let mut label = || match device {
                Some(i) => {
                    labels.get_or_insert_with(|| super::labels::device_labels(node))[i].clone()
                }
                None => "node-wide".to_string(),
            };
            if let Some(r) = self.rules.get_mut(&key) {
                r.nodes.insert(idx);
                if r.precedes(&node.name, &f) {
                    r.label = label();
                    r.sample = f;
                    r.node = node.name.as_str().into();
                }
                continue;
            }
            let label = label();
            let mut nodes = NodeSet::default();
            nodes.insert(idx);
            self.rules.insert(
                key,
                RuleAcc {
                    nodes,
                    sample: f,
                    label,
                    node: node.name.as_str().into(),
                },
            );
        }
    }

    /// Turns what [`Reference`]s hold into per-key node sets; done before merging and
    /// reporting.
    pub(crate) fn settle(&mut self) {
        for slot in &mut self.slots {
            slot.settle();
        }
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, mut other: Accumulator) {
        self.settle();
        other.settle();
        self.nodes.extend(other.nodes);
        // Other's slot ids in self.
        let mut ids = Vec::with_capacity(other.slots.len());
        for (oid, o) in other.slots.into_iter().enumerate() {
            let id = self.slot_by_name(other.slot_ids.name(oid as u32));
            ids.push(id);
            let acc = &mut self.slots[id as usize];
            if !o.label.is_empty() {
                let mut name = NameCmp::new(&o.label_node);
                if let Some(label) = acc.label_precedes(&mut name, || o.label.clone()) {
                    acc.label = label;
                    acc.label_node = o.label_node;
                    acc.role = o.role;
                }
            }
            acc.present.union_with(&o.present);
            for (key, ok) in o.keys {
                let pos = acc.key_index(&key);
                let k = &mut acc.keys[pos].1;
                k.reported.union_with(&ok.reported);
                if ok.high_cardinality {
                    k.high_cardinality = true;
                }
                if k.high_cardinality {
                    k.forget_values();
                    continue;
                }
                for (v, set) in ok.values {
                    match k.position(&v) {
                        Some(p) => k.values[p].1.union_with(&set),
                        None => k.push(v, set),
                    }
                }
                if k.values.len() > HIGH_CARDINALITY_MIN && k.values.len() * 4 > k.reported.len() {
                    k.forget_values();
                }
            }
        }
        for ((rule, oslot, severity), o) in other.rules {
            let slot = match oslot {
                NODE_WIDE => NODE_WIDE,
                id => ids[id as usize],
            };
            match self.rules.get_mut(&(rule, slot, severity)) {
                Some(r) => {
                    r.nodes.union_with(&o.nodes);
                    if r.precedes(&o.node, &o.sample) {
                        r.sample = o.sample;
                        r.label = o.label;
                        r.node = o.node;
                    }
                }
                None => {
                    self.rules.insert((rule, slot, severity), o);
                }
            }
        }
    }
}

/// The position in `node.devices` of the device a rulebook finding names by its address
/// text, without formatting every device's address.
fn device_index(node: &Node, address: &str) -> Option<usize> {
    match address.parse::<trainyard_pci::PciAddress>() {
        Ok(a) => node
            .devices
            .iter()
            .position(|d| d.address == a && d.address.to_string() == address),
        Err(_) => node
            .devices
            .iter()
            .position(|d| d.address.to_string() == address),
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
