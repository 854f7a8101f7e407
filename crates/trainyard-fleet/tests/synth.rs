//! `trainyard fleet synth`: determinism, parseable output, every fault visible where the
//! truth says, natural variation present, pdsh streams, snapshot templates.

use std::collections::{BTreeMap, BTreeSet};

use trainyard_fleet::synth::{FaultCounts, FaultKind, NaturalKind, Synth, SynthOptions, Truth};
use trainyard_fleet::{InputKind, Node};
use trainyard_pci::text::parse_str;
use trainyard_pci::{Device, PciAddress, Topology};
use trainyard_snapshot::Snapshot;

const SERVERS: &[&str] = &[
    "hpe-cray-xd665-0EA228FAAE-vvnn.txt",
    "gigabyte-g291-280-C9D3376115-vvnn.txt",
    "gigabyte-g242-z11-DEF4067C8E-vvnn.txt",
];

fn template(name: &str) -> String {
    let path = format!(
        "{}/../../tests/data/gpu-servers/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn opts(nodes: usize, seed: u64) -> SynthOptions {
    SynthOptions {
        nodes,
        seed,
        ..SynthOptions::default()
    }
}

fn node_text(s: &Synth, i: usize) -> String {
    let mut buf = Vec::new();
    s.write_node(i, &mut buf).expect("write to a Vec");
    String::from_utf8(buf).expect("utf-8")
}

fn by_address<'a, D: std::borrow::Borrow<Device>>(devs: &'a [D], addr: &str) -> Option<&'a Device> {
    devs.iter()
        .map(|d| d.borrow())
        .find(|d| d.address.to_string() == addr)
}

fn index_of(names: &[String], name: &str) -> usize {
    names.iter().position(|n| n == name).expect("node in truth")
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let t = template(SERVERS[0]);
    let a = Synth::new("hpe", &t, &opts(20, 7)).expect("plan");
    let b = Synth::new("hpe", &t, &opts(20, 7)).expect("plan");
    let c = Synth::new("hpe", &t, &opts(20, 8)).expect("plan");
    for i in 0..20 {
        assert_eq!(node_text(&a, i), node_text(&b, i), "node {i}");
    }
    assert_eq!(a.truth(), b.truth());
    let mut pa = Vec::new();
    let mut pb = Vec::new();
    a.write_pdsh(&mut pa, true).expect("pdsh");
    b.write_pdsh(&mut pb, true).expect("pdsh");
    assert_eq!(pa, pb);
    assert_ne!(node_text(&a, 0), node_text(&c, 0));
    // Nodes differ from each other (serials at least).
    assert_ne!(node_text(&a, 0), node_text(&a, 1));
}

/// Every node parses cleanly with the right device count, and every fault is where the
/// truth says, on the cohort and nowhere else.
#[test]
fn text_fleets_parse_and_show_every_fault() {
    for name in SERVERS {
        let t = template(name);
        let tpl = parse_str(&t);
        assert!(tpl.errors.is_empty(), "{name}: template errors");
        let n = 30;
        let synth = Synth::new(name, &t, &opts(n, 11)).expect("plan");
        let truth = synth.truth();
        assert_eq!(truth.nodes.len(), n);
        assert!(
            truth.faults.iter().any(|f| f.kind == FaultKind::Missing),
            "{name}"
        );
        assert!(
            truth.faults.iter().any(|f| f.kind == FaultKind::Downtrain),
            "{name}"
        );
        assert!(
            truth.faults.iter().any(|f| f.kind == FaultKind::Aer),
            "{name}"
        );
        assert!(
            truth.faults.iter().any(|f| f.kind == FaultKind::Acs),
            "{name}"
        );

        let missing: BTreeSet<&str> = truth
            .faults_of(FaultKind::Missing)
            .flat_map(|f| f.nodes.iter().map(String::as_str))
            .collect();
        let missing_count = truth.faults_of(FaultKind::Missing).count();
        let parsed: Vec<Vec<Device>> = (0..n)
            .map(|i| {
                let out = parse_str(&node_text(&synth, i));
                assert!(out.errors.is_empty(), "{name} node {i}: {:?}", out.errors);
                assert_eq!(
                    out.diagnostics.len(),
                    tpl.diagnostics.len(),
                    "{name} node {i}: {:?}",
                    out.diagnostics
                );
                let want = if missing.contains(truth.nodes[i].as_str()) {
                    tpl.devices.len() - missing_count
                } else {
                    tpl.devices.len()
                };
                assert_eq!(out.devices.len(), want, "{name} node {i}");
                out.devices
            })
            .collect();

        for f in &truth.faults {
            if f.kind == FaultKind::Missing {
                continue;
            }
            let dev = f.device.as_deref().expect("device");
            let cohort: BTreeSet<&str> = f.nodes.iter().map(String::as_str).collect();
            for (i, devs) in parsed.iter().enumerate() {
                let node = truth.nodes[i].as_str();
                if missing.contains(node) {
                    continue;
                }
                let d = by_address(devs, dev).expect("device present");
                let got = d.field(&f.key);
                if cohort.contains(node) {
                    assert_eq!(got, Some(f.value.as_str()), "{name} {node} {dev} {}", f.key);
                } else {
                    assert_eq!(
                        got,
                        Some(f.fleet_value.as_str()),
                        "{name} {node} {dev} {}",
                        f.key
                    );
                }
            }
            // The slot is the template's slot path of that device.
            let ti = tpl
                .devices
                .iter()
                .position(|d| d.address.to_string() == dev)
                .expect("template device");
            let topo = Topology::build(&tpl.devices);
            assert_eq!(
                f.slot.as_deref(),
                Some(topo.slot_path(&tpl.devices, ti).as_str())
            );
        }

        // Missing: the device's functions are gone and every later bus moved down by one.
        let gone: Vec<PciAddress> = truth
            .faults_of(FaultKind::Missing)
            .map(|f| {
                f.device
                    .as_deref()
                    .expect("device")
                    .parse()
                    .expect("address")
            })
            .collect();
        let gpu = gone[0];
        for node in &missing {
            let devs = &parsed[index_of(&truth.nodes, node)];
            for td in &tpl.devices {
                let a = td.address;
                if gone.contains(&a) {
                    continue;
                }
                let mut want = a;
                if a.domain == gpu.domain && a.bus > gpu.bus {
                    want.bus -= 1;
                }
                let d = devs
                    .iter()
                    .find(|d| d.address == want)
                    .unwrap_or_else(|| panic!("{name} {node}: {a} should be at {want}"));
                assert_eq!(d.ids, td.ids, "{name} {node}: {a} at {want}");
                if let (Some(tb), Some(nb)) = (td.bus, d.bus) {
                    let shift = |v: u8| if v > gpu.bus { v - 1 } else { v };
                    if tb.secondary == gpu.bus && tb.subordinate == gpu.bus {
                        assert_eq!(
                            (nb.secondary, nb.subordinate),
                            (0, 0),
                            "{name} emptied port"
                        );
                    } else {
                        assert_eq!(nb.secondary, shift(tb.secondary), "{name} {a}");
                        let sub = if tb.subordinate >= gpu.bus && tb.secondary <= gpu.bus {
                            tb.subordinate - 1
                        } else {
                            shift(tb.subordinate)
                        };
                        assert_eq!(nb.subordinate, sub, "{name} {a}");
                    }
                }
            }
        }
    }
}

#[test]
fn natural_variation_is_present_and_not_a_fault() {
    let t = template(SERVERS[0]);
    let synth = Synth::new("hpe", &t, &opts(60, 5)).expect("plan");
    let truth = synth.truth();
    let idle: Vec<_> = truth
        .natural
        .iter()
        .filter(|v| v.kind == NaturalKind::IdleGpuSpeed && v.key == "LnkSta.Speed")
        .collect();
    assert!(!idle.is_empty(), "some GPUs idle");
    let missing: BTreeSet<&String> = truth
        .faults_of(FaultKind::Missing)
        .flat_map(|f| &f.nodes)
        .collect();
    for v in &idle {
        assert!(v.nodes.len() < truth.nodes.len());
        // On a node missing a GPU, later devices moved to other addresses.
        for node in v.nodes.iter().filter(|n| !missing.contains(n)) {
            let devs = parse_str(&node_text(&synth, index_of(&truth.nodes, node))).devices;
            let d = by_address(&devs, &v.device).expect("GPU");
            assert_eq!(d.field("LnkSta.Speed"), Some("2.5GT/s"));
            assert_eq!(d.field("LnkSta.Speed.Note"), Some("downgraded"));
        }
    }
    assert!(!truth.faults.iter().any(|f| f.key == "LnkSta.Speed"));
    // Serials and IRQs take many values across the fleet.
    for kind in [NaturalKind::Serial, NaturalKind::Irq] {
        let v = truth
            .natural
            .iter()
            .find(|v| v.kind == kind && v.every_node)
            .expect("kind present");
        let values: BTreeSet<String> = (0..20)
            .map(|i| {
                let devs = parse_str(&node_text(&synth, i)).devices;
                by_address(&devs, &v.device)
                    .and_then(|d| d.field(&v.key))
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert!(values.len() > 5, "{kind:?} {}: {values:?}", v.key);
    }
}

#[test]
fn pdsh_streams_parse_into_every_node() {
    let t = template(SERVERS[1]);
    let synth = Synth::new("g291", &t, &opts(12, 2)).expect("plan");
    let per_node: Vec<usize> = (0..12)
        .map(|i| parse_str(&node_text(&synth, i)).devices.len())
        .collect();
    for interleave in [false, true] {
        let mut buf = Vec::new();
        synth.write_pdsh(&mut buf, interleave).expect("pdsh");
        let out = parse_str(&String::from_utf8(buf).expect("utf-8"));
        assert!(out.errors.is_empty());
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for d in &out.devices {
            *counts.entry(d.host.clone().expect("host")).or_default() += 1;
        }
        assert_eq!(counts.len(), 12, "interleave {interleave}");
        for (i, name) in synth.truth().nodes.iter().enumerate() {
            assert_eq!(counts[name], per_node[i], "{name} interleave {interleave}");
        }
    }
}

#[test]
fn fault_counts_parse_and_fit() {
    let c = FaultCounts::parse("acs=5, missing=0,relaxed_ordering=2").expect("parse");
    assert_eq!(c.count(FaultKind::Acs, 100), 5);
    assert_eq!(c.count(FaultKind::Missing, 100), 0);
    assert_eq!(c.count(FaultKind::Downtrain, 100), 3);
    assert_eq!(c.count(FaultKind::Acs, 5), 5);
    assert!(FaultCounts::parse("acs").is_err());
    assert!(FaultCounts::parse("nope=1").is_err());
    let t = template(SERVERS[0]);
    let mut o = opts(10, 1);
    o.faults = FaultCounts::parse("acs=8,aer=8").expect("parse");
    assert!(Synth::new("hpe", &t, &o).is_err(), "cohorts cannot fit");
    o.faults = FaultCounts::none();
    let clean = Synth::new("hpe", &t, &o).expect("plan");
    assert!(clean.truth().faults.is_empty());
}

fn fixture_snapshot() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    trainyard_collect::fixture::gpu_server(dir.path()).expect("fixture");
    let opts = trainyard_collect::CollectOptions::fake_root(dir.path());
    trainyard_collect::collect(&opts).to_json()
}

#[test]
fn snapshot_fleets_show_every_fault_and_bios_cohort() {
    let t = fixture_snapshot();
    let n = 40;
    let mut o = opts(n, 9);
    o.faults = FaultCounts::parse("acs=4,bios=6").expect("parse");
    let synth = Synth::new("gpu_server.json", &t, &o).expect("plan");
    let truth: Truth = Truth::from_json(&synth.truth().to_json()).expect("round trip");
    assert_eq!(&truth, synth.truth());
    let kinds: BTreeSet<FaultKind> = truth.faults.iter().map(|f| f.kind).collect();
    for k in FaultKind::ALL {
        assert!(kinds.contains(&k), "{k} injected: {:?}", truth.skipped);
    }
    let nodes: Vec<(Node, Snapshot)> = (0..n)
        .map(|i| {
            let snap = Snapshot::from_json(&node_text(&synth, i)).expect("snapshot");
            assert_eq!(snap.host, truth.nodes[i]);
            let (node, skipped) = Node::from_snapshot(snap.clone(), InputKind::Snapshot);
            assert!(skipped.is_empty());
            (node, snap)
        })
        .collect();
    let template_count = Snapshot::from_json(&t).expect("template").pci.len();
    for f in &truth.faults {
        let cohort: BTreeSet<&str> = f.nodes.iter().map(String::as_str).collect();
        for (node, snap) in &nodes {
            let has = cohort.contains(node.name.as_str());
            match f.kind {
                FaultKind::Bios => {
                    let want = if has { &f.value } else { &f.fleet_value };
                    assert_eq!(snap.dmi.bios_version.as_ref(), Some(want));
                }
                FaultKind::Missing => {
                    let dev = f.device.as_deref().expect("device");
                    let slots: Vec<String> = (0..node.devices.len())
                        .map(|i| node.topology.slot_path(&node.devices, i))
                        .collect();
                    let slot = f.slot.as_deref().expect("slot");
                    if has {
                        assert!(node.devices.len() < template_count);
                        assert!(!slots.iter().any(|s| s == slot), "{dev} gone");
                    } else {
                        assert_eq!(node.devices.len(), template_count);
                        assert!(slots.iter().any(|s| s == slot));
                    }
                }
                _ => {
                    if truth
                        .faults_of(FaultKind::Missing)
                        .any(|m| m.nodes.contains(&node.name))
                    {
                        continue;
                    }
                    let dev = f.device.as_deref().expect("device");
                    let d = by_address(&node.devices, dev).expect("device");
                    let want = if has { &f.value } else { &f.fleet_value };
                    assert_eq!(
                        d.field(&f.key),
                        Some(want.as_str()),
                        "{} {dev} {}",
                        node.name,
                        f.key
                    );
                }
            }
        }
    }
    // The ACS cohort all report the old BIOS.
    let acs: BTreeSet<&String> = truth
        .faults_of(FaultKind::Acs)
        .flat_map(|f| &f.nodes)
        .collect();
    let bios: BTreeSet<&String> = truth
        .faults_of(FaultKind::Bios)
        .flat_map(|f| &f.nodes)
        .collect();
    assert!(acs.is_subset(&bios));
    // AER counters tick on some nodes.
    assert!(truth
        .natural
        .iter()
        .any(|v| v.kind == NaturalKind::AerCounter));
}

/// Slot paths survive the renumbering: every device but the missing ones keeps its
/// template slot path on a node that lost a GPU.
///
/// Ignored until `trainyard_pci::Topology::build` stops treating an unconfigured bridge
/// (`secondary=00, subordinate=00`, the emptied port) as the parent of bus 00: today every
/// root-complex device on bus 00 hangs below that port.
#[test]
fn missing_gpu_keeps_every_other_slot() {
    for name in SERVERS {
        let t = template(name);
        let tpl = parse_str(&t).devices;
        let topo = Topology::build(&tpl);
        let want: BTreeSet<String> = (0..tpl.len()).map(|i| topo.slot_path(&tpl, i)).collect();
        let mut o = opts(4, 3);
        o.faults = FaultCounts::none();
        o.faults.set(FaultKind::Missing, 1);
        let synth = Synth::new(name, &t, &o).expect("plan");
        let f = synth
            .truth()
            .faults_of(FaultKind::Missing)
            .next()
            .expect("missing")
            .clone();
        let node = index_of(&synth.truth().nodes, &f.nodes[0]);
        let devs = parse_str(&node_text(&synth, node)).devices;
        let topo = Topology::build(&devs);
        let got: BTreeSet<String> = (0..devs.len()).map(|i| topo.slot_path(&devs, i)).collect();
        let lost: Vec<&String> = want.difference(&got).collect();
        let new: Vec<&String> = got.difference(&want).collect();
        assert_eq!(
            lost,
            vec![f.slot.as_ref().expect("slot")],
            "{name}: new {new:?}"
        );
        assert!(new.is_empty(), "{name}: {new:?}");
    }
}
