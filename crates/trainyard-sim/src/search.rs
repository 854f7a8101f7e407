//! Checkpoint intervals: the classic formulas, the expected goodput of periodic
//! checkpointing, and the search for the best interval by simulation.
//!
//! **Theory** (Daly, "A higher order estimate of the optimum checkpoint interval for restart
//! dumps", FGCS 22(3), 2006, eq. 13 and 20). Failures arrive as a Poisson process of mean M,
//! each detected at once; a segment of τ work plus its checkpoint write δ must run without a
//! failure to count; after a failure the job restarts (R, itself exposed to failures) and
//! repeats the segment from its beginning. The expected wall time to complete one segment is
//!
//! ```text
//! E[T] = M · e^(R/M) · (e^((τ+δ)/M) − 1)
//! ```
//!
//! (condition on the first failure: with probability e^(−w/M) the segment of w = τ + δ
//! completes, else it costs the time to the failure plus a restart, then starts over; the
//! restart's own expected time with failures is M(e^(R/M) − 1)). Goodput is τ / E[T]; its
//! maximizer does not depend on R, and Young's √(2δM) and Daly's
//! √(2δM)·[1 + ⅓√(δ/2M) + (1/9)(δ/2M)] − δ are successive approximations of it.

use std::time::Duration;

use crate::config::Config;
use crate::model::simulate;
use crate::report::{CurvePoint, RunResult};

/// Young's interval √(2δM) (Young, CACM 17(9), 1974).
#[must_use]
pub fn young(delta: Duration, mtbf: Duration) -> Duration {
    let (d, m) = (delta.as_secs_f64(), mtbf.as_secs_f64());
    secs((2.0 * d * m).sqrt())
}

/// Daly's higher-order interval (FGCS 2006, eq. 20): M when δ ≥ 2M.
#[must_use]
pub fn daly(delta: Duration, mtbf: Duration) -> Duration {
    let (d, m) = (delta.as_secs_f64(), mtbf.as_secs_f64());
    if d >= 2.0 * m {
        return mtbf;
    }
    let x = d / (2.0 * m);
    secs((2.0 * d * m).sqrt() * (1.0 + x.sqrt() / 3.0 + x / 9.0) - d)
}

/// Goodput τ / E[T] of periodic checkpointing under exponential failures (module docs).
#[must_use]
pub fn expected_goodput(
    interval: Duration,
    write: Duration,
    restart: Duration,
    mtbf: Duration,
) -> f64 {
    let (t, d, r, m) = (
        interval.as_secs_f64(),
        write.as_secs_f64(),
        restart.as_secs_f64(),
        mtbf.as_secs_f64(),
    );
    if m <= 0.0 || t <= 0.0 {
        return 0.0;
    }
    t / (m * (r / m).exp() * (((t + d) / m).exp_m1()))
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// Runs `cfg` once per seed, on up to `threads` threads; results in seed order.
#[must_use]
pub fn run_seeds(cfg: &Config, seeds: &[u64], threads: usize) -> Vec<RunResult> {
    let threads = threads.clamp(1, seeds.len().max(1));
    if threads == 1 {
        return seeds.iter().map(|&s| simulate(cfg, s)).collect();
    }
    let chunk = seeds.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|&s| simulate(cfg, s)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            // A panicking simulation is a bug; surface it on the caller's thread.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Vec<RunResult>>()
    })
}

/// Mean goodput of `cfg` at `interval` over `seeds`.
#[must_use]
pub fn mean_goodput(cfg: &Config, interval: Duration, seeds: &[u64], threads: usize) -> f64 {
    let cfg = Config {
        checkpoint_interval: interval,
        ..cfg.clone()
    };
    let runs = run_seeds(&cfg, seeds, threads);
    runs.iter().map(RunResult::goodput).sum::<f64>() / runs.len().max(1) as f64
}

/// The best interval found and every interval evaluated on the way (sorted).
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The interval with the highest mean goodput.
    pub best: Duration,
    /// Goodput at every evaluated interval, by interval.
    pub curve: Vec<CurvePoint>,
}

/// Searches the checkpoint interval with the highest mean goodput over `seeds`.
///
/// A log-spaced grid of 9 intervals over [c/4, 4c] around `center` (Daly's interval is a good
/// one), then a golden-section search in the best grid point's bracket. Every evaluation uses
/// the same seeds, and failure times depend only on the seed (one random stream per cause),
/// so the curve is smooth enough to search: common random numbers.
#[must_use]
pub fn search(cfg: &Config, center: Duration, seeds: &[u64], threads: usize) -> Search {
    let c = center.as_secs_f64().max(1.0);
    let hi_cap = cfg.horizon.as_secs_f64().max(2.0);
    let (lo, hi) = ((c / 4.0).max(1.0), (c * 4.0).min(hi_cap));
    let mut curve: Vec<CurvePoint> = Vec::new();
    let eval = |log_t: f64, curve: &mut Vec<CurvePoint>| -> f64 {
        // Whole seconds: checkpoints are scheduled in milliseconds, and nobody sets 117.3 s.
        let t = log_t.exp().round().max(1.0);
        if let Some(p) = curve.iter().find(|p| p.interval_s == t) {
            return p.goodput;
        }
        let g = mean_goodput(cfg, secs(t), seeds, threads);
        curve.push(CurvePoint {
            interval_s: t,
            goodput: g,
        });
        g
    };
    let (a, b) = (lo.ln(), hi.max(lo).ln());
    let n = 9;
    let grid: Vec<f64> = (0..n)
        .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
        .collect();
    let vals: Vec<f64> = grid.iter().map(|&x| eval(x, &mut curve)).collect();
    let best_i = vals
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))
        .map_or(0, |(i, _)| i);
    let (mut l, mut r) = (
        grid[best_i.saturating_sub(1)],
        grid[(best_i + 1).min(n - 1)],
    );
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut x1 = r - phi * (r - l);
    let mut x2 = l + phi * (r - l);
    let (mut f1, mut f2) = (eval(x1, &mut curve), eval(x2, &mut curve));
    for _ in 0..10 {
        if f1 >= f2 {
            r = x2;
            x2 = x1;
            f2 = f1;
            x1 = r - phi * (r - l);
            f1 = eval(x1, &mut curve);
        } else {
            l = x1;
            x1 = x2;
            f1 = f2;
            x2 = l + phi * (r - l);
            f2 = eval(x2, &mut curve);
        }
    }
    curve.sort_by(|p, q| p.interval_s.total_cmp(&q.interval_s));
    let (bl, br) = (
        grid[best_i.saturating_sub(1)],
        grid[(best_i + 1).min(n - 1)],
    );
    let near: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| (p.interval_s.ln(), p.goodput))
        .filter(|(x, _)| *x >= bl - 1e-9 && *x <= br + 1e-9)
        .collect();
    // Near its top the goodput curve is flat and each point carries simulation noise, so the
    // single best point wanders; the vertex of a parabola fitted to every point of the final
    // bracket averages that noise out.
    let best = match vertex(&near) {
        Some(x) => secs(x.clamp(bl, br).exp().round()),
        None => curve
            .iter()
            .max_by(|p, q| p.goodput.total_cmp(&q.goodput))
            .map_or(center, |p| secs(p.interval_s)),
    };
    Search { best, curve }
}

/// The maximum of the least-squares parabola through `pts`, if it opens downwards.
fn vertex(pts: &[(f64, f64)]) -> Option<f64> {
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    // Normal equations of y = a + b·u + c·u², u = x − mean(x) (centred for conditioning).
    let (mut s1, mut s2, mut s3, mut s4, mut t0, mut t1, mut t2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y) in pts {
        let u = x - mx;
        s1 += u;
        s2 += u * u;
        s3 += u * u * u;
        s4 += u * u * u * u;
        t0 += y;
        t1 += u * y;
        t2 += u * u * y;
    }
    let m = [[n, s1, s2], [s1, s2, s3], [s2, s3, s4]];
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-300 {
        return None;
    }
    let with = |col: usize| {
        let mut k = m;
        for (row, t) in [t0, t1, t2].into_iter().enumerate() {
            k[row][col] = t;
        }
        det(k) / d
    };
    let (b, c) = (with(1), with(2));
    (c < 0.0).then(|| mx - b / (2.0 * c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn parabola_vertex() {
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 3.0, 4.0]
            .iter()
            .map(|&x: &f64| (x, 5.0 - (x - 2.5f64).powi(2)))
            .collect();
        let v = vertex(&pts).unwrap_or(0.0);
        assert!((v - 2.5).abs() < 1e-9, "{v}");
        assert_eq!(vertex(&[(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]), None);
    }

    #[test]
    fn dalys_published_examples() {
        // δ = 5 min: M = 24 h → about 117 min; M = 6 h → about 57 min (Daly 2006).
        let d = daly(min(5), min(24 * 60)).as_secs_f64() / 60.0;
        assert!((d - 116.7).abs() < 0.5, "{d}");
        let d = daly(min(5), min(6 * 60)).as_secs_f64() / 60.0;
        assert!((d - 57.0).abs() < 1.0, "{d}");
        assert_eq!(young(min(5), min(24 * 60)), min(120));
        assert_eq!(daly(min(60), min(20)), min(20));
    }

    #[test]
    fn expected_goodput_peaks_near_daly() {
        let (d, r, m) = (min(5), min(10), min(24 * 60));
        let best = (30..=300)
            .map(|t| (t, expected_goodput(min(t), d, r, m)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
            .unwrap_or(0);
        assert!((best as f64 - 116.7).abs() <= 1.5, "{best}");
    }
}
