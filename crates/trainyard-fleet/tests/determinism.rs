//! The fleet report is a function of the data only: the same nodes give byte-identical JSON
//! and HTML whatever the number of workers, whichever worker folds which node, in whatever
//! order nodes arrive, and however the worker accumulators are merged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use trainyard_fleet::analysis::{build_report, render_html, Accumulator, SkippedInput};
use trainyard_fleet::ingest::read_input;
use trainyard_fleet::sources::{read_fleet, FleetInput, FleetItem, ReadOptions};
use trainyard_fleet::synth::{FaultCounts, FaultKind, Synth, SynthOptions};
use trainyard_fleet::Node;

const TEMPLATE: &str =
    include_str!("../../../tests/data/gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt");

/// 14 nodes with every text fault kind on one or two nodes: cohorts of equal size and severity
/// (their order must not come from arrival), a missing GPU that renumbers buses (so each
/// node's rule finding names other addresses, and the sample quoted must not depend on which
/// node came first), and the fleet-wide ACS rule finding.
fn fleet() -> Synth {
    let mut faults = FaultCounts::none();
    faults
        .set(FaultKind::Acs, 2)
        .set(FaultKind::Downtrain, 1)
        .set(FaultKind::Mrrs, 1)
        .set(FaultKind::RelaxedOrdering, 2)
        .set(FaultKind::Missing, 2)
        .set(FaultKind::Aer, 1);
    let opts = SynthOptions {
        nodes: 14,
        seed: 11,
        faults,
        prefix: "gpu".into(),
    };
    Synth::new("g242", TEMPLATE, &opts).expect("template")
}

/// Nodes whose output lacks one register line (`LnkCtl2:` of their first device that has
/// it), so the fleet has a setting some nodes do not report: its finding lists those nodes,
/// which must come out in name order whatever order they arrived in.
const UNREPORTING: [usize; 3] = [2, 9, 12];

fn nodes(synth: &Synth) -> Vec<Node> {
    (0..synth.len())
        .flat_map(|i| {
            let mut buf = Vec::new();
            synth.write_node(i, &mut buf).expect("write");
            if UNREPORTING.contains(&i) {
                let text = String::from_utf8(buf).expect("synth writes UTF-8");
                let cut = text.find("\t\tLnkCtl2:").expect("a LnkCtl2 line");
                let end = cut + text[cut..].find('\n').expect("line end") + 1;
                buf = format!("{}{}", &text[..cut], &text[end..]).into_bytes();
            }
            let name = synth.node_name(i).expect("name").to_string();
            read_input(&name, &buf[..]).expect("reads").nodes
        })
        .collect()
}

fn skipped(reversed: bool) -> Vec<SkippedInput> {
    let mut s = vec![
        SkippedInput {
            input: "fleet/garbage.txt".into(),
            line: None,
            error:
                "binary input of 7 bytes is neither a config space (64, 256 or 4096 bytes) nor text"
                    .into(),
        },
        SkippedInput {
            input: "fleet/cut.txt".into(),
            line: Some(3),
            error: "input ends in the middle of a line".into(),
        },
        SkippedInput {
            input: "fleet/cut.txt".into(),
            line: Some(3),
            error: "a second problem on the same line".into(),
        },
    ];
    if reversed {
        s.reverse();
    }
    s
}

/// The report's JSON and HTML after folding `order` (indices into `nodes`) into `workers`
/// accumulators, node `k` of the order going to worker `assign(k)`.
fn analyze(
    nodes: &[Node],
    order: &[usize],
    workers: usize,
    assign: impl Fn(usize) -> usize,
    reversed_skips: bool,
) -> (String, String) {
    let counter = Arc::new(AtomicU32::new(0));
    let mut accs: Vec<Accumulator> = (0..workers)
        .map(|_| Accumulator::new(counter.clone()))
        .collect();
    for (k, &i) in order.iter().enumerate() {
        accs[assign(k) % workers].add_node(&nodes[i]);
    }
    let report = build_report(accs, skipped(reversed_skips));
    let json = serde_json::to_string_pretty(&report).expect("json");
    let html = render_html(&report, "fleet");
    (json, html)
}

/// A fixed pseudo-random permutation (xorshift), so the test is the same on every run.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// What a case is called, the order nodes arrive in, the number of workers, and which
/// worker folds the k-th node to arrive.
type Case = (&'static str, Vec<usize>, usize, Box<dyn Fn(usize) -> usize>);

#[test]
fn report_does_not_depend_on_workers_or_arrival_order() {
    let synth = fleet();
    let nodes = nodes(&synth);
    let n = nodes.len();
    let forward: Vec<usize> = (0..n).collect();
    let (json, html) = analyze(&nodes, &forward, 1, |_| 0, false);

    // The fleet exercises what the test is about.
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cohorts = report["cohorts"].as_array().unwrap();
    assert!(cohorts.len() >= 4, "{}", report["cohorts"]);
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["kind"] == "rule"),
        "no rule finding"
    );
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3);
    let unreported = findings
        .iter()
        .find(|f| f["value"] == "(not reported)")
        .expect("a setting some nodes do not report");
    assert_eq!(
        unreported["nodes"].as_array().unwrap().len(),
        UNREPORTING.len()
    );
    // Every node list in node-name order (the names are `gpu` and a zero-padded number).
    for list in findings.iter().chain(cohorts).map(|f| &f["nodes"]) {
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "a node list out of name order");
    }

    let reversed: Vec<usize> = (0..n).rev().collect();
    let cases: Vec<Case> = vec![
        ("reversed, 1 worker", reversed.clone(), 1, Box::new(|_| 0)),
        ("forward, 2 workers", forward, 2, Box::new(|k| k)),
        (
            "reversed, 3 workers in runs",
            reversed,
            3,
            Box::new(|k| k / 5),
        ),
        (
            "shuffled, 4 workers",
            shuffled(n, 3),
            4,
            Box::new(|k| k * 7 / 3),
        ),
    ];
    for (case, (what, order, workers, assign)) in cases.into_iter().enumerate() {
        let (j, h) = analyze(&nodes, &order, workers, &assign, case % 2 == 0);
        assert!(
            j == json,
            "{what}: JSON differs:\n{}",
            first_diff(&json, &j)
        );
        assert!(
            h == html,
            "{what}: HTML differs:\n{}",
            first_diff(&html, &h)
        );
    }
}

/// The first differing line of two texts, for a readable failure.
fn first_diff(a: &str, b: &str) -> String {
    a.lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| format!("line {}:\n  - {x}\n  + {y}", i + 1))
        .unwrap_or_else(|| "lengths differ".into())
}

/// A temporary folder with one file per node of `synth`.
fn fleet_folder(synth: &Synth) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..synth.len() {
        let name = synth.node_name(i).expect("name");
        let mut f = std::fs::File::create(dir.path().join(format!("{name}.txt"))).expect("file");
        synth.write_node(i, &mut f).expect("write");
    }
    dir
}

/// The same fleet through the real reader: a folder with a corrupt file, read on one thread
/// and on several, several times.
#[test]
fn threads_do_not_change_the_report() {
    let dir = fleet_folder(&fleet());
    std::fs::write(
        dir.path().join("garbage.txt"),
        [0u8, 159, 146, 150, 7, 0, 1],
    )
    .expect("write");
    let run = |threads: usize| {
        let counter = Arc::new(AtomicU32::new(0));
        let workers = read_fleet(
            &[FleetInput::Path(dir.path().to_path_buf())],
            &ReadOptions {
                threads,
                ..ReadOptions::default()
            },
            || (Accumulator::new(counter.clone()), Vec::new()),
            |(acc, skipped): &mut (Accumulator, Vec<SkippedInput>), item| match item {
                FleetItem::Node(node) => acc.add_node(&node),
                FleetItem::Skipped(s) => skipped.push(SkippedInput {
                    input: s.input,
                    line: s.line,
                    error: s.error,
                }),
            },
        );
        let (accs, skipped): (Vec<_>, Vec<_>) = workers.into_iter().unzip();
        let report = build_report(accs, skipped.into_iter().flatten().collect());
        assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
        serde_json::to_string(&report).expect("json")
    };
    let one = run(1);
    for threads in [2, 4, 3] {
        let many = run(threads);
        assert!(
            many == one,
            "{threads} threads:\n{}",
            first_diff(&one.replace(",\"", ",\n\""), &many.replace(",\"", ",\n\""))
        );
    }
}

/// Devices derived from an earlier node's device carry where they differ, and the fold
/// compares only there when that device is its slot's reference: the report must be the one
/// a full comparison of every device gives. The fleet is read through the real reader (so
/// its blocks are derived), then folded once as read and once with the derivations dropped.
#[test]
fn derived_devices_fold_like_fully_compared_ones() {
    let dir = fleet_folder(&fleet());
    let workers = read_fleet(
        &[FleetInput::Path(dir.path().to_path_buf())],
        &ReadOptions {
            threads: 1,
            ..ReadOptions::default()
        },
        Vec::new,
        |nodes: &mut Vec<Node>, item| {
            if let FleetItem::Node(node) = item {
                nodes.push(node);
            }
        },
    );
    let mut nodes: Vec<Node> = workers.into_iter().flatten().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let derived: usize = nodes
        .iter()
        .map(|n| n.derived.iter().filter(|d| d.is_some()).count())
        .sum();
    assert!(derived >= nodes.len(), "{derived} derived devices");
    let fold = |nodes: &[Node]| {
        let mut acc = Accumulator::new(Arc::new(AtomicU32::new(0)));
        for n in nodes {
            acc.add_node(n);
        }
        serde_json::to_string(&build_report(vec![acc], Vec::new())).expect("json")
    };
    let with = fold(&nodes);
    for n in &mut nodes {
        n.derived.clear();
    }
    let without = fold(&nodes);
    assert!(
        with == without,
        "{}",
        first_diff(
            &with.replace(",\"", ",\n\""),
            &without.replace(",\"", ",\n\"")
        )
    );
}
