//! Quick manual run: `cargo run --release -p trainyard-sim --example quick -- GPUS [DAYS]`.
#![allow(clippy::print_stdout)]
use std::time::{Duration, Instant};
use trainyard_sim::{simulate, Config};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let gpus = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let days: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(54);
    let cfg = Config {
        gpus,
        horizon: Duration::from_secs(days * 86_400),
        ..Config::default()
    };
    let t = Instant::now();
    let r = simulate(&cfg, 1);
    let el = t.elapsed();
    println!(
        "{:#?}\ngoodput {:.4} elapsed {:?} events/s {:.0}",
        r,
        r.goodput(),
        el,
        r.events as f64 / el.as_secs_f64()
    );
}
