//! # trainyard-sim
//!
//! A discrete-event simulator of a training job on a large GPU cluster that drives the *real*
//! supervisor state machine of [`trainyard_job`]: every decision (fail fast, blame, hang
//! detection, restart backoff, marking nodes bad, swapping in spares, giving up) is made by
//! [`trainyard_job::Supervisor`], so a change in policy shows up in simulated goodput. The
//! simulator plays the cluster: failures from a per-component model calibrated on Meta's
//! Llama 3 run ([`failure`]), start-up, checkpoints, teardown and repairs, all on a virtual
//! clock that jumps from event to event (quinn-proto's `Pair::step`, grown up).
//!
//! ```
//! use std::time::Duration;
//! use trainyard_sim::{simulate, Config};
//!
//! let cfg = Config {
//!     gpus: 16_384,
//!     horizon: Duration::from_secs(7 * 24 * 3600),
//!     ..Config::default()
//! };
//! let run = simulate(&cfg, 1);
//! assert!(run.goodput() > 0.5 && run.goodput() < 1.0);
//! let accounted = run.productive_s + run.lost.total();
//! assert!((accounted - run.wall_s).abs() < 1e-6);
//! ```
//!
//! Modules: `clock` (the event heap), `cluster` (units, spares, repairs), [`failure`]
//! (causes, rates, inter-arrival laws, seeded RNG in `rng`), `model` (the engine and its
//! progress abstraction), [`report`] (per-run accounting and the aggregate), [`search`]
//! (Young, Daly, the expected-goodput formula, the interval search), [`svg`] (charts).
#![deny(missing_docs)]

mod clock;
mod cluster;
mod config;
pub mod failure;
mod model;
pub mod report;
mod rng;
pub mod search;
pub mod svg;

use std::time::Duration;

pub use cluster::Layout;
pub use config::{default_policy, Config};
pub use model::{simulate, BROKEN_NODE_REUSED, FALSE_HANG};
pub use report::{Estimate, Lost, Report, RunResult};
pub use rng::Rng;

/// Which checkpoint interval to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// [`Config::checkpoint_interval`] as given.
    Fixed,
    /// The best found by [`search::search`].
    Auto,
}

/// A whole `trainyard sim` run: seeds `0..seeds` at the fixed or searched interval, with the
/// Young and Daly intervals for the model's MTBF, and (with `curve`) goodput against interval.
#[must_use]
pub fn analyze(
    cfg: &Config,
    seeds: u32,
    interval: Interval,
    curve: bool,
    threads: usize,
) -> Report {
    let seed_list: Vec<u64> = (0..u64::from(seeds.max(1))).collect();
    let layout = cfg.layout();
    let streams = cfg.failures.streams(cfg.gpus.max(1), layout.nodes);
    let mtbf = failure::job_mtbf(&streams);
    let young = search::young(cfg.checkpoint_write, mtbf);
    let daly = search::daly(cfg.checkpoint_write, mtbf);
    let mut cfg = cfg.clone();
    let mut points = Vec::new();
    if interval == Interval::Auto || curve {
        let center = match interval {
            Interval::Auto => daly,
            Interval::Fixed => cfg.checkpoint_interval,
        };
        let found = search::search(
            &cfg,
            center.max(Duration::from_secs(1)),
            &seed_list,
            threads,
        );
        if interval == Interval::Auto {
            cfg.checkpoint_interval = found.best;
        }
        points = found.curve;
    }
    let runs = search::run_seeds(&cfg, &seed_list, threads);
    let mut report = Report::from_runs(&runs);
    report.gpus = cfg.gpus;
    report.nodes = layout.nodes;
    report.units = layout.units;
    report.nodes_per_unit = layout.group;
    report.checkpoint_interval_s = cfg.checkpoint_interval.as_secs_f64();
    report.young_interval_s = young.as_secs_f64();
    report.daly_interval_s = daly.as_secs_f64();
    report.model_mtbf_s = mtbf.as_secs_f64();
    report.curve = points;
    report
}
