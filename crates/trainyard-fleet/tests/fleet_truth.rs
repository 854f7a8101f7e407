//! Fleet analysis against ground truth: synthetic fleets from three different real server
//! dumps (lspci text) and from a snapshot of the 8-GPU/8-NIC fixture server, with every fault
//! kind injected (bus renumbering included). Every fault must be found with the right nodes,
//! slot, key and value, and rank above all noise; a clean fleet must have no deviations.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use trainyard_fleet::analysis::{
    build_report, Accumulator, FindingKind, FleetFinding, FleetReport,
};
use trainyard_fleet::ingest::read_input;
use trainyard_fleet::rules::Severity;
use trainyard_fleet::synth::{FaultCounts, FaultKind, Synth, SynthOptions, Truth};

fn template(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../tests/data/gpu-servers/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("corpus template")
}

/// A snapshot of the fixture GPU server, as `trainyard snapshot --root` would write it.
fn snapshot_template() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    trainyard_collect::fixture::gpu_server(dir.path()).expect("fixture");
    let opts =
        trainyard_collect::CollectOptions::fake_root(dir.path()).with_host(Some("gpu-a".into()));
    trainyard_collect::collect(&opts).to_json()
}

fn run(name: &str, template: &str, nodes: usize, faults: FaultCounts) -> (Truth, FleetReport) {
    let opts = SynthOptions {
        nodes,
        seed: 7,
        faults,
        prefix: "node".into(),
    };
    let synth = Synth::new(name, template, &opts).expect("template");
    let counter = Arc::new(AtomicU32::new(0));
    let mut accs = vec![Accumulator::new(counter.clone()), Accumulator::new(counter)];
    for i in 0..synth.len() {
        let mut buf = Vec::new();
        synth.write_node(i, &mut buf).expect("write");
        let node_name = synth.node_name(i).expect("name").to_string();
        let ingested = read_input(&node_name, &buf[..]).expect("reads");
        assert!(
            !ingested.lost_data(),
            "{name} {node_name}: {:?}",
            ingested.problems
        );
        for node in &ingested.nodes {
            accs[i % 2].add_node(node);
        }
    }
    (synth.truth().clone(), build_report(accs, Vec::new()))
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

/// The finding that reports `fault`, checked field by field.
fn find<'a>(
    report: &'a FleetReport,
    fault: &trainyard_fleet::synth::FaultTruth,
) -> Result<&'a FleetFinding, String> {
    let want_nodes = set(&fault.nodes);
    let (kind, key) = match fault.kind {
        FaultKind::Missing => (FindingKind::Missing, "missing".to_string()),
        FaultKind::Bios => (FindingKind::Deviation, format!("dmi.{}", fault.key)),
        _ => (FindingKind::Deviation, fault.key.clone()),
    };
    let candidates: Vec<&FleetFinding> = report
        .findings
        .iter()
        .filter(|f| f.kind == kind && f.key == key)
        .filter(|f| match &fault.slot {
            Some(slot) => f.slots.contains(slot),
            None => true,
        })
        .collect();
    candidates
        .iter()
        .copied()
        .find(|f| {
            set(&f.nodes) == want_nodes
                && f.value == fault.value
                && f.fleet_value == fault.fleet_value
        })
        .ok_or_else(|| {
            format!(
                "{:?} {key} {:?} on {:?}: want {} = {} (fleet {}) on {:?}; candidates: {:#?}",
                fault.kind,
                fault.device,
                fault.slot,
                key,
                fault.value,
                fault.fleet_value,
                want_nodes,
                candidates
                    .iter()
                    .map(|f| (&f.summary, &f.nodes))
                    .collect::<Vec<_>>()
            )
        })
}

fn check(name: &str, template: &str) {
    let (truth, report) = run(name, template, 40, FaultCounts::default());
    assert_eq!(report.nodes, 40);
    assert!(!truth.faults.is_empty());
    let mut errors = Vec::new();
    let first_noise = report
        .findings
        .iter()
        .position(|f| f.severity == Severity::Info)
        .unwrap_or(report.findings.len());
    let mut kinds = BTreeSet::new();
    for fault in &truth.faults {
        match find(&report, fault) {
            Err(e) => errors.push(e),
            Ok(f) => {
                kinds.insert(fault.kind);
                let rank = report
                    .findings
                    .iter()
                    .position(|g| std::ptr::eq(g, f))
                    .unwrap_or(usize::MAX);
                // DevSta.CorrErr accompanies the AER fault's CESta bit; the CESta finding is
                // the one that has to rank.
                if rank >= first_noise {
                    errors.push(format!(
                        "{name}: {:?} {} ranks with the noise: {}",
                        fault.kind, fault.key, f.summary
                    ));
                }
            }
        }
    }
    assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    // Nothing outside the truth ranks as an error deviation.
    let truth_keys: BTreeSet<String> = truth
        .faults
        .iter()
        .map(|f| {
            if f.kind == FaultKind::Bios {
                format!("dmi.{}", f.key)
            } else {
                f.key.clone()
            }
        })
        .collect();
    let stray: Vec<&String> = report
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FindingKind::Deviation | FindingKind::Missing | FindingKind::Extra
            )
        })
        .filter(|f| f.severity == Severity::Error && !truth_keys.contains(&f.key))
        .map(|f| &f.summary)
        .collect();
    assert!(
        stray.is_empty(),
        "{name}: errors not in the truth: {stray:#?}"
    );
}

#[test]
fn hpe_cray_h100_connectx5_fleet() {
    check("hpe", &template("hpe-cray-xd665-0EA228FAAE-vvnn.txt"));
}

#[test]
fn gigabyte_g291_a100_plx_fleet() {
    check("g291", &template("gigabyte-g291-280-C9D3376115-vvnn.txt"));
}

#[test]
fn gigabyte_g242_a100_fleet() {
    check("g242", &template("gigabyte-g242-z11-DEF4067C8E-vvnn.txt"));
}

#[test]
fn snapshot_fleet_with_bios_cohort() {
    let (truth, report) = run("snap", &snapshot_template(), 40, FaultCounts::default());
    let bios = truth.faults_of(FaultKind::Bios).next().expect("bios fault");
    // The BIOS cohort is found as a platform deviation ...
    find(&report, bios).expect("bios deviation");
    // ... and explains the ACS cohort.
    let acs_nodes = truth
        .faults_of(FaultKind::Acs)
        .next()
        .map(|f| set(&f.nodes))
        .expect("acs fault");
    let hinted = report.cohorts.iter().any(|c| {
        set(&c.nodes) == acs_nodes
            && c.hints.iter().any(|h| {
                h.key == "dmi.bios_version" && h.value == "1.2.3" && h.fleet_value == "1.3.0"
            })
    });
    if set(&bios.nodes) == acs_nodes {
        assert!(hinted, "{:#?}", report.cohorts);
    }
    check("snapshot", &snapshot_template());
}

#[test]
fn every_fault_kind_is_covered() {
    let mut seen = BTreeSet::new();
    for t in [
        template("hpe-cray-xd665-0EA228FAAE-vvnn.txt"),
        template("gigabyte-g291-280-C9D3376115-vvnn.txt"),
        snapshot_template(),
    ] {
        let (truth, _) = run("cover", &t, 40, FaultCounts::default());
        seen.extend(truth.faults.iter().map(|f| f.kind));
    }
    for kind in FaultKind::ALL {
        assert!(seen.contains(&kind), "no template carries {kind:?}");
    }
}

#[test]
fn clean_fleets_have_no_deviations() {
    for name in [
        "hpe-cray-xd665-0EA228FAAE-vvnn.txt",
        "gigabyte-g291-280-C9D3376115-vvnn.txt",
    ] {
        let (_, report) = run(name, &template(name), 30, FaultCounts::none());
        let bad: Vec<&String> = report
            .findings
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    FindingKind::Deviation | FindingKind::Missing | FindingKind::Extra
                )
            })
            .map(|f| &f.summary)
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:#?}");
        // Natural variation (idle GPUs, serials, IRQs) is there, but only as low-ranked variation.
        assert!(report
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::Variation || f.severity == Severity::Info));
    }
}
