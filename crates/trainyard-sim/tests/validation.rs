//! The simulator against theory (Young/Daly and the expected-time model), against the field
//! (Llama 3's 54 days), and against the policy (a change in the real supervisor's rules
//! changes simulated goodput).

use std::time::Duration;

use trainyard_job::Backoff;
use trainyard_sim::failure::{Cause, FailureModel, Kind, Scope};
use trainyard_sim::search::{daly, expected_goodput, run_seeds, search, young};
use trainyard_sim::{simulate, Config, Estimate, RunResult, BROKEN_NODE_REUSED};

const MIN: u64 = 60;
const HOUR: u64 = 3600;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The textbook setting: one node, job-level exponential crashes detected at once, no
/// teardown or backoff, no node exclusion (every failure is transient).
fn theory(mtbf: Duration, write: Duration, restart: Duration, interval: Duration) -> Config {
    let mut cfg = Config {
        gpus: 8,
        gpus_per_node: 8,
        horizon: mtbf * 1000,
        checkpoint_interval: interval,
        checkpoint_write: write,
        restart,
        teardown: Duration::ZERO,
        spares: 0,
        failures: FailureModel::Job {
            mtbf,
            kind: Kind::Crash,
        },
        ..Config::default()
    };
    cfg.policy.hang_timeout = None;
    cfg.policy.node_failure_limit = u32::MAX;
    cfg.policy.backoff = Backoff {
        initial: Duration::ZERO,
        ..Backoff::default()
    };
    cfg
}

fn goodputs(runs: &[RunResult]) -> Estimate {
    Estimate::of(&runs.iter().map(RunResult::goodput).collect::<Vec<_>>())
}

#[test]
fn fixed_interval_matches_the_expected_time_model() {
    let seeds: Vec<u64> = (0..16).collect();
    // (M, δ, R, τ): Daly's two examples at their optima, and a short-MTBF, off-optimum case.
    let cases = [
        (24 * HOUR, 5 * MIN, 10 * MIN, 117 * MIN),
        (6 * HOUR, 5 * MIN, 10 * MIN, 57 * MIN),
        (2 * HOUR, MIN, 5 * MIN, 40 * MIN),
    ];
    for (m, d, r, t) in cases {
        let cfg = theory(secs(m), secs(d), secs(r), secs(t));
        let sim = goodputs(&run_seeds(&cfg, &seeds, threads()));
        let want = expected_goodput(secs(t), secs(d), secs(r), secs(m));
        eprintln!(
            "M={m}s δ={d}s R={r}s τ={t}s: simulated {:.5} ± {:.5}, expected {want:.5}",
            sim.mean, sim.ci95
        );
        assert!(
            (sim.mean - want).abs() <= sim.ci95,
            "M={m}s τ={t}s: simulated {:.5} ± {:.5}, expected {want:.5}",
            sim.mean,
            sim.ci95
        );
    }
}

#[test]
fn auto_interval_is_within_ten_percent_of_daly() {
    let seeds: Vec<u64> = (0..16).collect();
    // Daly's examples (δ = 5 min, R = 10 min; M = 24 h → ~117 min, M = 6 h → ~57 min), and a
    // fast checkpoint on a short MTBF.
    let cases = [
        (24 * HOUR, 5 * MIN, 10 * MIN),
        (6 * HOUR, 5 * MIN, 10 * MIN),
        (2 * HOUR, MIN, 5 * MIN),
    ];
    for (m, d, r) in cases {
        let want = daly(secs(d), secs(m));
        let cfg = theory(secs(m), secs(d), secs(r), want);
        // Searched around Young's interval, so finding Daly's is not a matter of starting there.
        let found = search(&cfg, young(secs(d), secs(m)), &seeds, threads()).best;
        let ratio = found.as_secs_f64() / want.as_secs_f64();
        eprintln!(
            "M={m}s δ={d}s: auto {:.1} min, Daly {:.1} min",
            found.as_secs_f64() / 60.0,
            want.as_secs_f64() / 60.0
        );
        assert!(
            (0.9..=1.1).contains(&ratio),
            "M={m}s δ={d}s: auto {found:?} vs Daly {want:?}"
        );
    }
}

/// Llama 3 405B: 16,384 H100 GPUs for 54 days, 419 unexpected interruptions, "higher than 90%
/// effective training time" (arXiv 2407.21783, §3.3.4). Inputs: the default component model,
/// 64 spare nodes, 2 h repairs, checkpoints every 15 min taking 30 s, 3 min restarts (Meta
/// reports having cut start-up and checkpoint times), 5 s fixed backoff, 10 min hang timeout.
#[test]
fn llama3_field_figures() {
    let mut cfg = Config {
        gpus: 16_384,
        checkpoint_interval: secs(15 * MIN),
        checkpoint_write: secs(30),
        restart: secs(3 * MIN),
        ..Config::default()
    };
    cfg.policy.backoff = Backoff {
        initial: secs(5),
        max: secs(5),
        factor: 1.0,
    };
    let seeds: Vec<u64> = (0..8).collect();
    let runs = run_seeds(&cfg, &seeds, threads());
    let counts: Vec<f64> = runs
        .iter()
        .map(|r| f64::from(r.interruption_count()))
        .collect();
    let n = Estimate::of(&counts);
    let g = goodputs(&runs);
    eprintln!(
        "interruptions {:.1} (sd {:.1}), goodput {:.4} ± {:.4}",
        n.mean, n.sd, g.mean, g.ci95
    );
    // Seed-to-seed spread: a Poisson count of 419 has sd √419 ≈ 20.
    let spread = 2.0 * n.sd.max(419f64.sqrt());
    assert!((n.mean - 419.0).abs() <= spread, "{n:?}");
    assert!((0.90..=0.97).contains(&g.mean), "{g:?}");
}

/// One hang-prone job: a shorter hang timeout (the supervisor's own detection) must win.
#[test]
fn shorter_hang_timeout_raises_goodput_when_hangs_are_common() {
    let seeds: Vec<u64> = (0..6).collect();
    let run = |timeout: u64| {
        let mut cfg = Config {
            gpus: 512,
            horizon: secs(30 * 24 * HOUR),
            failures: FailureModel::Job {
                mtbf: secs(4 * HOUR),
                kind: Kind::Hang,
            },
            ..Config::default()
        };
        cfg.policy.hang_timeout = Some(secs(timeout));
        let runs = run_seeds(&cfg, &seeds, threads());
        let detection: f64 = runs.iter().map(|r| r.lost.detection).sum::<f64>();
        (goodputs(&runs).mean, detection / runs.len() as f64)
    };
    let (fast, fast_det) = run(6 * MIN);
    let (slow, slow_det) = run(30 * MIN);
    eprintln!("6 min: {fast:.4} ({fast_det:.0} s detecting), 30 min: {slow:.4} ({slow_det:.0} s)");
    assert!(fast > slow + 0.02, "{fast} vs {slow}");
    // About one timeout per hang: 180 hangs × 24 min more.
    assert!(slow_det > 3.0 * fast_det);
}

/// Without a health check, only the supervisor's blame count takes a broken node out: a
/// higher `node_failure_limit` means restarts that fail on the same broken node.
#[test]
fn node_failure_limit_changes_outcomes() {
    let seeds: Vec<u64> = (0..4).collect();
    let run = |limit: u32| {
        let mut cfg = Config {
            gpus: 256,
            horizon: secs(20 * 24 * HOUR),
            health_check: false,
            failures: FailureModel::Components {
                causes: vec![Cause {
                    name: "faulty GPU",
                    count: 100.0,
                    scope: Scope::Gpu,
                    kind: Kind::Crash,
                    persistent: true,
                }],
                reference_gpus: 256,
                reference_gpus_per_node: 8,
                reference_period: secs(20 * 24 * HOUR),
                scale: 1.0,
            },
            ..Config::default()
        };
        cfg.policy.node_failure_limit = limit;
        run_seeds(&cfg, &seeds, threads())
    };
    let reused = |runs: &[RunResult]| -> u32 {
        runs.iter()
            .map(|r| {
                r.interruptions
                    .get(BROKEN_NODE_REUSED)
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    };
    let one = run(1);
    let three = run(3);
    // With a limit of 1 only faults that strike between attempts (no one to blame) are
    // found by a failed restart; with 3, every fault costs two more failed restarts.
    let (r1, r3) = (reused(&one), reused(&three));
    eprintln!("restarts on a broken node: limit 1 {r1}, limit 3 {r3}");
    assert!(r3 > 2 * 4 * 80 && r3 > 20 * r1, "{r1} vs {r3}");
    assert!(goodputs(&one).mean > goodputs(&three).mean + 0.01);
}

/// Every millisecond is booked once, whatever the setting.
#[test]
fn wall_time_is_fully_accounted() {
    let mut configs = [
        Config {
            gpus: 4096,
            horizon: secs(10 * 24 * HOUR),
            ..Config::default()
        },
        Config {
            gpus: 4096,
            horizon: secs(10 * 24 * HOUR),
            checkpoint_async: true,
            interarrival: trainyard_sim::failure::Interarrival::Weibull { shape: 0.7 },
            ..Config::default()
        },
        // No spares and slow repairs: the supervisor gives up and the job waits.
        Config {
            gpus: 1024,
            horizon: secs(10 * 24 * HOUR),
            spares: 0,
            repair: secs(12 * HOUR),
            ..Config::default()
        },
    ];
    configs[0].policy.hang_timeout = None;
    for (i, cfg) in configs.iter().enumerate() {
        let r = simulate(cfg, 3);
        let total = r.productive_s + r.lost.total();
        assert!((total - r.wall_s).abs() < 1e-6, "config {i}: {r:?}");
        assert!(r.goodput() > 0.0 && r.goodput() < 1.0, "config {i}: {r:?}");
        assert_eq!(simulate(cfg, 3), r, "config {i}: deterministic");
    }
    let waiting = simulate(&configs[2], 3);
    assert!(waiting.lost.waiting_for_spares > 0.0, "{waiting:?}");
    assert!(waiting.resubmissions > 0);
    let blocking = simulate(&configs[0], 3);
    assert!(blocking.lost.checkpoint > 0.0);
    assert_eq!(simulate(&configs[1], 3).lost.checkpoint, 0.0);
}
