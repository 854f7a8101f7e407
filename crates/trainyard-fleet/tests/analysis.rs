//! Fleet analysis on small fleets made by editing a real whole-server dump.

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use trainyard_fleet::analysis::{build_report, Accumulator, FindingKind, FleetReport};
use trainyard_fleet::ingest::read_input;
use trainyard_fleet::rules::Severity;

#[path = "support/dump_edit.rs"]
mod dump_edit;
use dump_edit::edit_device;

const HPE: &str =
    include_str!("../../../tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt");

fn analyze(nodes: &[(String, String)]) -> FleetReport {
    let counter = Arc::new(AtomicU32::new(0));
    // Two accumulators, as two workers would have, to exercise merging.
    let mut accs = vec![Accumulator::new(counter.clone()), Accumulator::new(counter)];
    for (i, (name, text)) in nodes.iter().enumerate() {
        let ingested = read_input(name, text.as_bytes()).expect("reads");
        for node in &ingested.nodes {
            accs[i % 2].add_node(node);
        }
    }
    build_report(accs, Vec::new())
}

#[test]
fn injected_faults_are_found_and_natural_variation_ranks_low() {
    let mut nodes: Vec<(String, String)> = (0..20)
        .map(|i| (format!("n{i:02}"), HPE.to_string()))
        .collect();
    // ACS redirect turned on at the NIC's switch port on 3 nodes (it is already on at 02:00.0 in
    // the real dump; use the root port 20:01.1 above the Broadcom NIC... which is also on).
    // Use relaxed ordering on the ConnectX-5 instead: clear RlxdOrd on 3 nodes.
    for n in &mut nodes[0..3] {
        n.1 = edit_device(&n.1, "03:00.0", "RlxdOrd+", "RlxdOrd-");
    }
    // A downtrained NIC link on one node.
    nodes[5].1 = edit_device(
        &nodes[5].1,
        "03:00.0",
        "LnkSta:\tSpeed 8GT/s, Width x16",
        "LnkSta:\tSpeed 8GT/s, Width x8 (downgraded)",
    );
    // Idle GPU link speed on 4 nodes: natural variation.
    for n in &mut nodes[10..14] {
        n.1 = edit_device(
            &n.1,
            "04:00.0",
            "LnkSta:\tSpeed 32GT/s",
            "LnkSta:\tSpeed 2.5GT/s (downgraded)",
        );
    }
    let report = analyze(&nodes);
    assert_eq!(report.nodes, 20);

    let ro = report
        .findings
        .iter()
        .find(|f| f.key == "DevCtl.RlxdOrd" && f.kind == FindingKind::Deviation)
        .expect("relaxed ordering deviation");
    assert_eq!(ro.nodes, ["n00", "n01", "n02"]);
    assert_eq!(ro.value, "-");
    assert_eq!(ro.fleet_value, "+");
    assert_eq!(ro.severity, Severity::Error);
    assert!(ro.slot.ends_with("/00.0[15b3:1017]"), "{}", ro.slot);

    let width = report
        .findings
        .iter()
        .find(|f| f.key == "LnkSta.Width" && f.kind == FindingKind::Deviation)
        .expect("width deviation");
    assert_eq!(width.nodes, ["n05"]);
    assert_eq!(width.severity, Severity::Error);

    let idle = report
        .findings
        .iter()
        .find(|f| f.key == "LnkSta.Speed" && f.nodes.contains(&"n10".to_string()))
        .expect("idle GPU speed");
    assert_eq!(idle.kind, FindingKind::Variation);
    assert_eq!(idle.severity, Severity::Info);
    assert!(idle.why.as_deref().is_some_and(|w| w.contains("idle")));

    // Every error outranks the natural variation; the fleet-wide ACS rule is still reported.
    let first_info = report
        .findings
        .iter()
        .position(|f| f.severity == Severity::Info)
        .unwrap();
    assert!(report.findings[..first_info]
        .iter()
        .any(|f| f.key == "DevCtl.RlxdOrd"));
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Rule && f.key == "acs-redirect" && f.count == 20));
    // No deviation other than the injected ones ranks as an error.
    let stray: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Deviation && f.severity == Severity::Error)
        .filter(|f| !matches!(f.key.as_str(), "DevCtl.RlxdOrd" | "LnkSta.Width"))
        .map(|f| &f.summary)
        .collect();
    assert!(stray.is_empty(), "{stray:#?}");
}

#[test]
fn a_clean_fleet_has_no_deviations() {
    let nodes: Vec<(String, String)> = (0..8).map(|i| (format!("n{i}"), HPE.to_string())).collect();
    let report = analyze(&nodes);
    assert!(report.findings.iter().all(|f| !matches!(
        f.kind,
        FindingKind::Deviation | FindingKind::Missing | FindingKind::Extra
    )));
    assert!(report.cohorts.is_empty());
}
