//! The fleet report: consensus per slot and key, the nodes that deviate, missing and extra
//! devices, rulebook findings aggregated over nodes, cohorts of nodes that share their
//! deviations, and platform facts that explain a cohort.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::accumulate::Accumulator;
use super::classify::{deviation_severity, missing_severity};
use super::natural::node_name_cmp;
use super::nodeset::NodeSet;
use crate::rules::Severity;

/// What kind of difference a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// Some nodes lack a device the fleet has.
    Missing,
    /// Some nodes' setting differs from the fleet's.
    Deviation,
    /// A rulebook finding, aggregated over the nodes it holds on.
    Rule,
    /// Some nodes have a device the fleet does not.
    Extra,
    /// A difference healthy fleets show (idle GPU link speed, probe status bits): reported,
    /// ranked low, with the reason.
    Variation,
}

/// One finding of the fleet report.
#[derive(Debug, Clone, Serialize)]
pub struct FleetFinding {
    /// Kind.
    pub kind: FindingKind,
    /// Severity.
    pub severity: Severity,
    /// Topology slot path of the (first) device concerned, or `node` for node-wide findings.
    pub slot: String,
    /// Every slot the finding covers (the same difference on several devices).
    pub slots: Vec<String>,
    /// Human label of the (first) device.
    pub label: String,
    /// Field key (`ACSCtl.ReqRedir`), `missing`/`extra`, or the rule id.
    pub key: String,
    /// The deviating nodes' value (the evidence, for rules).
    pub value: String,
    /// The fleet's value (majority), empty for rules.
    pub fleet_value: String,
    /// The nodes concerned, sorted.
    pub nodes: Vec<String>,
    /// `nodes.len()`.
    pub count: usize,
    /// One line.
    pub summary: String,
    /// Why it matters, or why it was ranked low.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// How to fix it (rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Index of the cohort this finding belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohort: Option<usize>,
    #[serde(skip)]
    pub(crate) set: Vec<u32>,
}

/// Nodes that share the same set of findings.
#[derive(Debug, Clone, Serialize)]
pub struct Cohort {
    /// Index in `cohorts`.
    pub id: usize,
    /// Node names.
    pub nodes: Vec<String>,
    /// Number of nodes.
    pub count: usize,
    /// Indices into `findings`.
    pub findings: Vec<usize>,
    /// One line.
    pub summary: String,
    /// Platform facts every node of the cohort shares and the rest of the fleet does not.
    pub hints: Vec<Hint>,
}

/// A platform fact that sets a cohort apart.
#[derive(Debug, Clone, Serialize)]
pub struct Hint {
    /// Fact key (`dmi.bios_version`).
    pub key: String,
    /// The cohort's value.
    pub value: String,
    /// The most common value in the rest of the fleet.
    pub fleet_value: String,
    /// `all 12 report dmi.bios_version 1.2.3; fleet: 1.3.0`.
    pub summary: String,
}

/// An input that could not be analyzed.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedInput {
    /// Path, archive member or `<stdin>`.
    pub input: String,
    /// Line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Why.
    pub error: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// Nodes analyzed.
    pub nodes: usize,
    /// Distinct device slots seen.
    pub slots: usize,
    /// Keys recognised as identifiers (nearly every node has its own value) and left out.
    pub identifier_keys: usize,
    /// Findings, most severe and rarest first.
    pub findings: Vec<FleetFinding>,
    /// Groups of nodes sharing their findings.
    pub cohorts: Vec<Cohort>,
    /// Inputs that could not be analyzed.
    pub skipped: Vec<SkippedInput>,
}

/// Node indices are handed out in arrival order, which threads and input order change. The
/// report numbers nodes by rank instead: their position in node-name order (ties, from
/// inputs that name the same node, broken by what was read of them). Every list, grouping
/// and tie below then follows from the data alone.
struct Ranks {
    /// Arrival index -> rank (`u32::MAX` for indices no node holds).
    of: Vec<u32>,
}

impl Ranks {
    fn new(nodes: &[(u32, super::accumulate::NodeMeta)]) -> (Self, Vec<u32>) {
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by(|&a, &b| {
            let (ma, mb) = (&nodes[a].1, &nodes[b].1);
            node_name_cmp(&ma.name, &mb.name)
                .then_with(|| ma.devices.cmp(&mb.devices))
                .then_with(|| format!("{:?}", ma.kind).cmp(&format!("{:?}", mb.kind)))
                .then_with(|| ma.facts.cmp(&mb.facts))
        });
        let max_idx = nodes.iter().map(|(i, _)| *i).max().unwrap_or(0) as usize;
        let mut of = vec![u32::MAX; max_idx + 1];
        for (rank, &pos) in order.iter().enumerate() {
            of[nodes[pos].0 as usize] = rank as u32;
        }
        let by_rank = order.iter().map(|&pos| nodes[pos].0).collect();
        (Self { of }, by_rank)
    }

    /// The ranks of a set's nodes, ascending (node-name order).
    fn sorted(&self, set: &NodeSet) -> Vec<u32> {
        let mut v: Vec<u32> = set.iter().map(|i| self.of[i as usize]).collect();
        v.sort_unstable();
        v
    }
}

/// Builds the report from the worker accumulators.
///
/// The report is a function of the nodes and skipped inputs only: the number of
/// accumulators, which node went to which, and the order they were folded in do not change
/// a byte of it.
pub fn build_report(accs: Vec<Accumulator>, skipped: Vec<SkippedInput>) -> FleetReport {
    build_report_keeping(accs, skipped).0
}

/// [`build_report`], also handing back the accumulator the others were merged into (`None`
/// when there were none), for a caller that would rather not free it now: it holds a node
/// set per distinct (slot, setting, value), and freeing them one by one is work a process
/// about to exit can skip (`trainyard fleet analyze` does; 29 M instructions, 0.15 M per
/// node, on the 200-node XD665 folder).
pub fn build_report_keeping(
    accs: Vec<Accumulator>,
    mut skipped: Vec<SkippedInput>,
) -> (FleetReport, Option<Accumulator>) {
    skipped.sort_by(|a, b| (&a.input, a.line, &a.error).cmp(&(&b.input, b.line, &b.error)));
    let mut iter = accs.into_iter();
    let Some(mut acc) = iter.next() else {
        let report = FleetReport {
            nodes: 0,
            slots: 0,
            identifier_keys: 0,
            findings: Vec::new(),
            cohorts: Vec::new(),
            skipped,
        };
        return (report, None);
    };
    for other in iter {
        acc.merge(other);
    }
    acc.settle();
    let n = acc.nodes.len();
    let (ranks, _) = Ranks::new(&acc.nodes);
    // Names by rank: node-name order.
    let mut names = vec![String::new(); n];
    for (i, meta) in &acc.nodes {
        names[ranks.of[*i as usize] as usize] = meta.name.clone();
    }
    let sorted = |set: &NodeSet| ranks.sorted(set);

    // (kind, severity, key, value, fleet_value, nodes) -> finding, so that the same difference on
    // several devices of the same nodes is one finding.
    #[allow(clippy::type_complexity)]
    let mut merged: HashMap<
        (FindingKind, Severity, String, String, String, Vec<u32>),
        FleetFinding,
    > = HashMap::new();
    let mut identifier_keys = 0;
    let mut add = |f: FleetFinding| {
        let k = (
            f.kind,
            f.severity,
            f.key.clone(),
            f.value.clone(),
            f.fleet_value.clone(),
            f.set.clone(),
        );
        match merged.get_mut(&k) {
            Some(existing) => existing.slots.push(f.slot),
            None => {
                merged.insert(k, f);
            }
        }
    };

    let mut slots: Vec<(&str, &super::accumulate::SlotAcc)> = acc.slots().collect();
    slots.sort_by(|a, b| a.0.cmp(b.0));
    for (slot, s) in slots {
        // The present nodes are listed only for a device most nodes lack (sorting them for
        // every slot cost a sort of all nodes per slot).
        let p = s.present.len();
        let platform = slot == super::accumulate::PLATFORM_SLOT;
        // Platform facts exist only for nodes read from snapshots: their absence elsewhere
        // is not a missing device.
        if platform {
        } else if p * 2 < n {
            add(finding(
                FindingKind::Extra,
                Severity::Warning,
                slot,
                &s.label,
                "extra",
                "present",
                "absent",
                sorted(&s.present),
                format!("{} present on only {p} of {n} nodes", s.label),
                Some("a device most nodes do not have: a different hardware configuration, or a device that should have been removed".into()),
            ));
            continue;
        }
        if p < n && !platform {
            let missing: Vec<u32> = acc
                .nodes
                .iter()
                .map(|(i, _)| *i)
                .filter(|i| !s.present.contains(*i))
                .collect();
            let missing = sorted(&NodeSet::List(missing));
            add(finding(
                FindingKind::Missing,
                missing_severity(s.role),
                slot,
                &s.label,
                "missing",
                "absent",
                "present",
                missing.clone(),
                format!("{} missing (present on {p} of {n} nodes)", s.label),
                Some("a device that fell off the bus, failed to train its link, or was never installed; the nodes' other devices were still aligned by topology".into()),
            ));
        }
        let mut keys: Vec<(&Box<str>, &super::accumulate::KeyAcc)> =
            s.keys.iter().map(|(k, a)| (k, a)).collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, k) in keys {
            if k.high_cardinality {
                identifier_keys += 1;
                continue;
            }
            // `LnkSta.Speed.Note` follows from `LnkSta.Speed` and `LnkCap.Speed`: a difference
            // in it is reported through those keys, not a second time.
            if key.ends_with(".Note") {
                continue;
            }
            let mut values: Vec<(&Box<str>, &NodeSet)> =
                k.values.iter().map(|(v, set)| (v, set)).collect();
            values.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
            let reported = k.reported.len();
            // Ranks, ascending like every other node list: node indices follow arrival
            // order, ranks follow node names.
            // A key's reporting nodes are among its slot's present ones, so when there are
            // as many, none is missing it: the walk over every present node (per key, so
            // it grew with nodes times settings) is only needed when the counts differ.
            let mut unreported: Vec<u32> = Vec::new();
            if reported < p {
                unreported = s
                    .present
                    .difference(&k.reported)
                    .map(|i| ranks.of[i as usize])
                    .collect();
                unreported.sort_unstable();
            }
            // The key itself missing on most nodes (a `.Note` only some print): the
            // fleet value is "not reported".
            let (fleet_value, majority) = if reported * 2 < p {
                ("(not reported)".to_string(), None)
            } else {
                match values.first() {
                    Some((v, set)) => (v.to_string(), Some(set.len())),
                    None => continue,
                }
            };
            let no_majority = majority.is_some_and(|m| m * 2 < reported);
            for (value, set) in &values {
                if value.as_ref() == fleet_value.as_str() {
                    continue;
                }
                let (mut severity, why) = deviation_severity(key, s.role, value, &fleet_value);
                let natural = why.is_some() && severity == Severity::Info;
                let mut why = why.map(str::to_string);
                if no_majority && severity == Severity::Error {
                    severity = Severity::Warning;
                    why = Some(format!(
                        "no value is held by a majority of nodes ({} values)",
                        values.len()
                    ));
                }
                add(finding(
                    if natural {
                        FindingKind::Variation
                    } else {
                        FindingKind::Deviation
                    },
                    severity,
                    slot,
                    &s.label,
                    key,
                    value,
                    &fleet_value,
                    sorted(set),
                    String::new(),
                    why,
                ));
            }
            if !unreported.is_empty() && fleet_value != "(not reported)" && unreported.len() * 2 < p
            {
                add(finding(
                    FindingKind::Variation,
                    Severity::Info,
                    slot,
                    &s.label,
                    key,
                    "(not reported)",
                    &fleet_value,
                    unreported,
                    String::new(),
                    Some("the setting is absent from these nodes' output: a different lspci version, a capability not readable without root, or a different device revision".into()),
                ));
            }
        }
    }

    // Sorted, so that the sample shown for a finding merged over several slots is always the
    // first slot's.
    let mut rules: Vec<_> = acc.rules().collect();
    rules.sort_by(|a, b| a.0.cmp(&b.0));
    for ((rule, slot, severity), r) in rules {
        let evidence: Vec<String> = r
            .sample
            .keys
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let set = sorted(&r.nodes);
        add(FleetFinding {
            kind: FindingKind::Rule,
            severity,
            slot: slot.to_string(),
            slots: vec![slot.to_string()],
            label: r.label.clone(),
            key: rule.to_string(),
            value: evidence.join(" "),
            fleet_value: String::new(),
            nodes: Vec::new(),
            count: set.len(),
            summary: r.sample.summary.clone(),
            why: Some(r.sample.why.clone()),
            fix: Some(r.sample.fix.clone()),
            cohort: None,
            set,
        });
    }

    let findings: Vec<FleetFinding> = merged.into_values().collect();
    let mut findings = fold_variation(findings);
    for f in &mut findings {
        f.slots.sort();
        f.slots.dedup();
        if let Some(first) = f.slots.first() {
            f.slot = first.clone();
        }
        // `set` holds ranks, ascending: the names come out in node-name order.
        f.nodes = f.set.iter().map(|&i| names[i as usize].clone()).collect();
        f.count = f.nodes.len();
        f.summary = summarize(f, n);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.count.cmp(&b.count))
            .then(a.kind.cmp(&b.kind))
            .then(a.key.cmp(&b.key))
            .then(a.slot.cmp(&b.slot))
            // Ties (two values of one key on as many nodes) by the data, never by the
            // order the findings were gathered in.
            .then_with(|| {
                (
                    &a.value,
                    &a.fleet_value,
                    &a.set,
                    &a.slots,
                    &a.label,
                    &a.summary,
                )
                    .cmp(&(
                        &b.value,
                        &b.fleet_value,
                        &b.set,
                        &b.slots,
                        &b.label,
                        &b.summary,
                    ))
            })
    });

    let cohorts = cohorts(&acc, &ranks, &mut findings, &names, n);
    let report = FleetReport {
        nodes: n,
        slots: acc.slot_count(),
        identifier_keys,
        findings,
        cohorts,
        skipped,
    };
    (report, Some(acc))
}

/// Natural variation is reported once per key and reason, not once per device and value:
/// a fleet where every node has its own IRQ numbers has one note about IRQs, not hundreds.
fn fold_variation(findings: Vec<FleetFinding>) -> Vec<FleetFinding> {
    let (variation, mut out): (Vec<FleetFinding>, Vec<FleetFinding>) = findings
        .into_iter()
        .partition(|f| f.kind == FindingKind::Variation);
    let mut groups: BTreeMap<(String, Option<String>), Vec<FleetFinding>> = BTreeMap::new();
    for f in variation {
        groups
            .entry((f.key.clone(), f.why.clone()))
            .or_default()
            .push(f);
    }
    for (_, mut group) in groups {
        if group.len() == 1 {
            out.extend(group);
            continue;
        }
        // By the data alone: the first finding lends the group its label.
        group.sort_by(|a, b| {
            (&a.slot, &a.value, &a.fleet_value, &a.set).cmp(&(
                &b.slot,
                &b.value,
                &b.fleet_value,
                &b.set,
            ))
        });
        let mut values: Vec<&str> = group.iter().map(|f| f.value.as_str()).collect();
        values.sort_unstable();
        values.dedup();
        let mut fleet: Vec<&str> = group.iter().map(|f| f.fleet_value.as_str()).collect();
        fleet.sort_unstable();
        fleet.dedup();
        let mut set: Vec<u32> = group.iter().flat_map(|f| f.set.iter().copied()).collect();
        set.sort_unstable();
        set.dedup();
        let mut slots: Vec<String> = group.iter().flat_map(|f| f.slots.iter().cloned()).collect();
        slots.sort();
        slots.dedup();
        let value = match values.as_slice() {
            [one] => (*one).to_string(),
            many => format!("{} different values", many.len()),
        };
        let fleet_value = match fleet.as_slice() {
            [one] => (*one).to_string(),
            _ => "various".to_string(),
        };
        let first = &group[0];
        out.push(FleetFinding {
            value,
            fleet_value,
            count: set.len(),
            set,
            slot: slots.first().cloned().unwrap_or_default(),
            slots,
            ..first.clone()
        });
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn finding(
    kind: FindingKind,
    severity: Severity,
    slot: &str,
    label: &str,
    key: &str,
    value: &str,
    fleet_value: &str,
    set: Vec<u32>,
    summary: String,
    why: Option<String>,
) -> FleetFinding {
    FleetFinding {
        kind,
        severity,
        slot: slot.to_string(),
        slots: vec![slot.to_string()],
        label: label.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        fleet_value: fleet_value.to_string(),
        nodes: Vec::new(),
        count: set.len(),
        summary,
        why,
        fix: None,
        cohort: None,
        set,
    }
}

/// One line: what differs, where, on how many nodes.
fn summarize(f: &FleetFinding, n: usize) -> String {
    let count = if f.count == n {
        format!("all {n} nodes")
    } else {
        format!("{} of {n} nodes", f.count)
    };
    let place = if f.slots.len() > 1 {
        format!("{} devices, e.g. {}", f.slots.len(), f.label)
    } else {
        f.label.clone()
    };
    match f.kind {
        FindingKind::Missing => format!("{count}: {place} is missing"),
        FindingKind::Extra => {
            format!("{count}: {place} is present; the rest of the fleet has no device there")
        }
        FindingKind::Rule => {
            if f.slots.len() > 1 {
                format!(
                    "{count}: {} on {} devices, e.g. {}",
                    f.key,
                    f.slots.len(),
                    f.summary
                )
            } else {
                format!("{count}: {}", f.summary)
            }
        }
        FindingKind::Deviation | FindingKind::Variation => format!(
            "{count}: {} = {} (fleet: {}) on {place}",
            f.key, f.value, f.fleet_value
        ),
    }
}

/// Groups nodes by the exact set of nodes their non-trivial findings cover, and looks for
/// platform facts that set each group apart.
fn cohorts(
    acc: &Accumulator,
    ranks: &Ranks,
    findings: &mut [FleetFinding],
    names: &[String],
    n: usize,
) -> Vec<Cohort> {
    let mut groups: BTreeMap<Vec<u32>, Vec<usize>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        // A cohort is a minority that stands out; the majority is the fleet.
        if f.severity == Severity::Info || f.count * 2 > n || f.count == 0 {
            continue;
        }
        groups.entry(f.set.clone()).or_default().push(i);
    }
    // By rank, as the findings' sets are.
    let facts: HashMap<u32, &BTreeMap<String, String>> = acc
        .nodes
        .iter()
        .map(|(i, m)| (ranks.of[*i as usize], &m.facts))
        .collect();
    let mut out: Vec<(Vec<u32>, Cohort)> = groups
        .into_iter()
        .map(|(set, idxs)| {
            let hints = hints(&set, &facts);
            let mut what: Vec<String> = idxs
                .iter()
                .take(4)
                .map(|&i| {
                    let f = &findings[i];
                    match f.kind {
                        FindingKind::Missing => format!("{} missing", f.label),
                        FindingKind::Rule => f.key.clone(),
                        _ if f.slots.len() > 1 => {
                            format!("{}={} on {} devices", f.key, f.value, f.slots.len())
                        }
                        _ => format!("{}={} on {}", f.key, f.value, f.label),
                    }
                })
                .collect();
            if idxs.len() > 4 {
                what.push(format!("and {} more", idxs.len() - 4));
            }
            what.dedup();
            let nodes_word = if set.len() == 1 { "node" } else { "nodes" };
            let mut summary = format!("{} {nodes_word}: {}", set.len(), what.join("; "));
            for h in &hints {
                summary.push_str(&format!("; {}", h.summary));
            }
            // Ranks ascending: node-name order.
            let nodes: Vec<String> = set.iter().map(|&i| names[i as usize].clone()).collect();
            let cohort = Cohort {
                id: 0,
                count: nodes.len(),
                nodes,
                findings: idxs,
                summary,
                hints,
            };
            (set, cohort)
        })
        .collect();
    out.sort_by(|(set_a, a), (set_b, b)| {
        let worst = |c: &Cohort| c.findings.iter().map(|&i| findings[i].severity).max();
        // Cohorts as severe and as large: the one whose nodes come first in node-name order
        // first (findings' indices are already in a data-only order, as ranks are).
        worst(b)
            .cmp(&worst(a))
            .then(a.count.cmp(&b.count))
            .then_with(|| set_a.cmp(set_b))
            .then_with(|| a.findings.cmp(&b.findings))
    });
    let mut out: Vec<Cohort> = out.into_iter().map(|(_, c)| c).collect();
    for (id, c) in out.iter_mut().enumerate() {
        c.id = id;
        for &i in &c.findings {
            findings[i].cohort = Some(id);
        }
    }
    out
}

/// Facts all cohort nodes share whose value is rare (under 10%) in the rest of the fleet.
fn hints(set: &[u32], facts: &HashMap<u32, &BTreeMap<String, String>>) -> Vec<Hint> {
    let Some(first) = set.first().and_then(|i| facts.get(i)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in first.iter() {
        if !set
            .iter()
            .all(|i| facts.get(i).and_then(|f| f.get(key)) == Some(value))
        {
            continue;
        }
        let mut rest: HashMap<&str, usize> = HashMap::new();
        let mut rest_total = 0;
        for (i, f) in facts {
            if set.binary_search(i).is_ok() {
                continue;
            }
            if let Some(v) = f.get(key) {
                *rest.entry(v.as_str()).or_default() += 1;
                rest_total += 1;
            }
        }
        if rest_total == 0 {
            continue;
        }
        let same_outside = rest.get(value.as_str()).copied().unwrap_or(0);
        if same_outside * 10 >= rest_total {
            continue;
        }
        let fleet_value = rest
            .iter()
            .max_by_key(|(v, c)| (**c, std::cmp::Reverse(*v)))
            .map(|(v, _)| v.to_string())
            .unwrap_or_default();
        out.push(Hint {
            key: key.clone(),
            value: value.clone(),
            summary: format!(
                "all {} report {key} {value}; fleet: {fleet_value}",
                set.len()
            ),
            fleet_value,
        });
    }
    out
}
