//! Reads a fleet and prints how long it took: `cargo run --release -p trainyard-fleet
//! --example read_fleet -- THREADS PATH...` (`-` for stdin). For measuring, not a tool.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use trainyard_fleet::sources::{read_fleet, FleetInput, FleetItem, ReadOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(0);
    let inputs: Vec<FleetInput> = args
        .map(|a| match a.as_str() {
            "-" => FleetInput::Stdin,
            p => FleetInput::Path(p.into()),
        })
        .collect();
    let opts = ReadOptions {
        threads,
        ..ReadOptions::default()
    };
    let start = Instant::now();
    let parts = read_fleet(
        &inputs,
        &opts,
        || (0u64, 0u64, 0u64),
        |acc, item| match item {
            FleetItem::Node(n) => {
                acc.0 += 1;
                acc.1 += n.devices.len() as u64;
            }
            FleetItem::Skipped(_) => acc.2 += 1,
        },
    );
    let (nodes, devices, skipped) = parts
        .iter()
        .fold((0, 0, 0), |a, p| (a.0 + p.0, a.1 + p.1, a.2 + p.2));
    println!(
        "threads={} nodes={nodes} devices={devices} skipped={skipped} time={:.3}s",
        threads,
        start.elapsed().as_secs_f64()
    );
}
