//! Writes the HTML fleet report of a 40-node fleet made from a real HPE Cray XD665 dump with
//! a few injected faults, to look at the page: `cargo run -p trainyard-fleet --example
//! fleet_html [OUT.html]` (default `/tmp/fleet.html`). `--json` prints the report as JSON;
//! `--scale K` turns every node into K nodes (a 40 × 250 = 10,000-node page, to check size
//! and the row cap) by renaming, without analyzing 10,000 dumps.

// A command-line example: it says where it wrote the page, or prints the report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use trainyard_fleet::analysis::{build_report, render_html, Accumulator, SkippedInput};
use trainyard_fleet::ingest::read_input;
use trainyard_snapshot::{Dmi, Snapshot};

#[path = "../tests/support/dump_edit.rs"]
mod dump_edit;
use dump_edit::{edit_device, remove_device};

const HPE: &str =
    include_str!("../../../tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let scale: usize = args
        .iter()
        .position(|a| a == "--scale")
        .and_then(|i| args.get(i + 1))
        .map(|k| k.parse().expect("--scale takes a number"))
        .unwrap_or(1);
    let out = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--scale"))
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| "/tmp/fleet.html".into());

    // 4 racks of 10 nodes.
    let mut nodes: Vec<(String, String, &str)> = (0..40)
        .map(|i| {
            (
                format!("hgx-r{}-n{:02}", i / 10 + 1, i % 10 + 1),
                HPE.to_string(),
                "1.3.0",
            )
        })
        .collect();
    // Relaxed ordering off on the ConnectX-5 of 4 nodes, which also run an older BIOS: the
    // cohort hint should name it.
    for i in [3, 14, 15, 27] {
        nodes[i].1 = edit_device(&nodes[i].1, "03:00.0", "RlxdOrd+", "RlxdOrd-");
        nodes[i].2 = "1.2.3";
    }
    // MaxReadReq lowered on 6 nodes.
    for i in [5, 6, 7, 8, 30, 31] {
        nodes[i].1 = edit_device(&nodes[i].1, "03:00.0", "MaxReadReq 512", "MaxReadReq 128");
    }
    // A downtrained NIC link on one node.
    nodes[22].1 = edit_device(
        &nodes[22].1,
        "03:00.0",
        "LnkSta:\tSpeed 8GT/s, Width x16",
        "LnkSta:\tSpeed 8GT/s, Width x8 (downgraded)",
    );
    // A GPU that fell off the bus.
    nodes[36].1 = remove_device(&nodes[36].1, "04:00.0");
    // Correctable receiver errors on two GPUs.
    for i in [11, 12] {
        nodes[i].1 = edit_device(&nodes[i].1, "04:00.0", "CESta:\tRxErr-", "CESta:\tRxErr+");
    }
    // Idle GPUs: natural variation.
    for i in [1, 2, 9, 17, 18, 25, 33, 38] {
        nodes[i].1 = edit_device(
            &nodes[i].1,
            "04:00.0",
            "LnkSta:\tSpeed 32GT/s",
            "LnkSta:\tSpeed 2.5GT/s (downgraded)",
        );
    }

    let counter = Arc::new(AtomicU32::new(0));
    let mut acc = Accumulator::new(counter);
    for (name, text, bios) in &nodes {
        let ingested = read_input(name, text.as_bytes()).expect("reads");
        for mut node in ingested.nodes {
            node.snapshot = Some(Snapshot {
                dmi: Dmi {
                    bios_version: Some(bios.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            });
            acc.add_node(&node);
        }
    }
    let skipped = vec![
        SkippedInput {
            input: "dumps/hgx-r5-n01.txt".into(),
            line: None,
            error: "binary input of 17 bytes is neither a config space (64, 256 or 4096 bytes) nor text".into(),
        },
        SkippedInput {
            input: "dumps/hgx-r5-n02.json".into(),
            line: Some(1),
            error: "snapshot: expected value at line 1 column 1".into(),
        },
    ];
    let mut report = build_report(vec![acc], skipped);
    if scale > 1 {
        let grow = |names: &mut Vec<String>| {
            *names = names
                .iter()
                .flat_map(|n| (0..scale).map(move |k| format!("{n}-{k:04}")))
                .collect();
        };
        let n = report.nodes;
        report.nodes *= scale;
        for f in &mut report.findings {
            grow(&mut f.nodes);
            let (old, new) = if f.count == n {
                (format!("all {n} nodes"), format!("all {} nodes", n * scale))
            } else {
                (
                    format!("{} of {n} nodes", f.count),
                    format!("{} of {} nodes", f.count * scale, n * scale),
                )
            };
            f.summary = f.summary.replacen(&old, &new, 1);
            f.count = f.nodes.len();
        }
        for c in &mut report.cohorts {
            c.summary = c.summary.replacen(
                &format!("{} nodes", c.count),
                &format!("{} nodes", c.count * scale),
                1,
            );
            grow(&mut c.nodes);
            c.count = c.nodes.len();
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
        return;
    }
    let html = render_html(&report, "Fleet report: hgx rack 1-4");
    std::fs::write(&out, html).expect("writes the page");
    eprintln!("wrote {out}");
}
