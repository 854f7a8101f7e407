//! Results: one run's accounting ([`RunResult`]) and the aggregate over seeds ([`Report`],
//! whose serde form is `trainyard sim --json`, documented in `docs/sim.md`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Wall time lost, by reason, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Lost {
    /// Training since the last checkpoint, rolled back by a failure.
    pub lost_work: f64,
    /// Failure to the supervisor's stop decision (a hang's timeout; zero for a crash).
    pub detection: f64,
    /// Teardown, restart backoff and start-up (scheduling, init, checkpoint load).
    pub restart: f64,
    /// Blocking checkpoint writes, including writes cut short by a failure.
    pub checkpoint: f64,
    /// The supervisor gave up for lack of healthy nodes: waiting for repairs to resubmit.
    pub waiting_for_spares: f64,
}

impl Lost {
    /// The parts with their `--json` names, in report order.
    #[must_use]
    pub fn parts(&self) -> [(&'static str, f64); 5] {
        [
            ("lost_work", self.lost_work),
            ("detection", self.detection),
            ("restart", self.restart),
            ("checkpoint", self.checkpoint),
            ("waiting_for_spares", self.waiting_for_spares),
        ]
    }

    /// Sum of all parts.
    #[must_use]
    pub fn total(&self) -> f64 {
        self.parts().iter().map(|(_, v)| v).sum()
    }

    fn add_scaled(&mut self, o: &Lost, k: f64) {
        self.lost_work += o.lost_work * k;
        self.detection += o.detection * k;
        self.restart += o.restart * k;
        self.checkpoint += o.checkpoint * k;
        self.waiting_for_spares += o.waiting_for_spares * k;
    }
}

/// One simulated job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// Simulated wall time.
    pub wall_s: f64,
    /// Training whose work survived (saved by a checkpoint, or in flight at the end).
    pub productive_s: f64,
    /// Where the rest went; `productive_s + lost.total() == wall_s`.
    pub lost: Lost,
    /// Failures that hit a healthy attempt, by cause.
    pub interruptions: BTreeMap<String, u32>,
    /// Every failure drawn, including those on idle or stopping nodes.
    pub failures: u32,
    /// Attempts started.
    pub attempts: u32,
    /// Times the supervisor gave up and the job was resubmitted.
    pub resubmissions: u32,
    /// Nodes (units) marked bad.
    pub nodes_marked_bad: u32,
    /// Checkpoints completed.
    pub checkpoints: u32,
    /// Calls to `Supervisor::handle`.
    pub supervisor_calls: u64,
    /// Clock events plus supervisor calls: the work the simulator did.
    pub events: u64,
}

impl RunResult {
    /// Productive time / wall time.
    #[must_use]
    pub fn goodput(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.productive_s / self.wall_s
        } else {
            0.0
        }
    }

    /// Interruptions of all causes.
    #[must_use]
    pub fn interruption_count(&self) -> u32 {
        self.interruptions.values().sum()
    }
}

/// A mean with its 95% confidence half-width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Mean over seeds.
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean (Student t).
    pub ci95: f64,
    /// Sample standard deviation over seeds.
    pub sd: f64,
}

impl Estimate {
    /// The estimate from per-seed values.
    #[must_use]
    pub fn of(xs: &[f64]) -> Estimate {
        let n = xs.len();
        if n == 0 {
            return Estimate::default();
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate {
                mean,
                ci95: 0.0,
                sd: 0.0,
            };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        Estimate {
            mean,
            ci95: t975(n - 1) * sd / (n as f64).sqrt(),
            sd,
        }
    }
}

/// Student's t 97.5% quantile for `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=60 => 2.0,
        _ => 1.96,
    }
}

/// One point of a goodput-vs-interval curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Checkpoint interval.
    pub interval_s: f64,
    /// Mean goodput over the seeds.
    pub goodput: f64,
}

/// The aggregate of several seeds at one checkpoint interval: what `trainyard sim` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// GPUs simulated.
    pub gpus: u64,
    /// Nodes simulated.
    pub nodes: u64,
    /// Supervisor units (nodes per unit: `nodes_per_unit`).
    pub units: u32,
    /// Nodes per supervisor unit.
    pub nodes_per_unit: u64,
    /// Seeds run.
    pub seeds: u32,
    /// Simulated wall time per seed.
    pub wall_s: f64,
    /// Productive time / wall time.
    pub goodput: Estimate,
    /// The checkpoint interval used (the search's best with `auto`).
    pub checkpoint_interval_s: f64,
    /// Young's interval √(2δM) for the model's job MTBF M and write time δ.
    pub young_interval_s: f64,
    /// Daly's higher-order interval.
    pub daly_interval_s: f64,
    /// The failure model's job MTBF (all causes).
    pub model_mtbf_s: f64,
    /// Observed job MTBF: wall time / interruptions (mean over seeds).
    pub job_mtbf_s: f64,
    /// Interruptions of a healthy attempt by cause (mean per seed).
    pub interruptions: BTreeMap<String, f64>,
    /// Interruptions of all causes per seed.
    pub interruptions_total: Estimate,
    /// Lost time by part (mean seconds per seed).
    pub lost_s: BTreeMap<String, f64>,
    /// Productive seconds (mean per seed).
    pub productive_s: f64,
    /// Attempts per seed (mean).
    pub attempts: f64,
    /// Resubmissions after the supervisor gave up (mean per seed).
    pub resubmissions: f64,
    /// Nodes marked bad (mean per seed).
    pub nodes_marked_bad: f64,
    /// Simulator events per seed (mean).
    pub events: f64,
    /// Goodput against checkpoint interval (from `auto`'s search, or a sweep for the chart).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<CurvePoint>,
}

impl Report {
    /// Aggregates `runs` (one per seed). Interval fields are filled by the caller.
    #[must_use]
    pub fn from_runs(runs: &[RunResult]) -> Report {
        let n = runs.len().max(1) as f64;
        let k = 1.0 / n;
        let mut lost = Lost::default();
        let mut interruptions: BTreeMap<String, f64> = BTreeMap::new();
        for r in runs {
            lost.add_scaled(&r.lost, k);
            for (c, v) in &r.interruptions {
                *interruptions.entry(c.clone()).or_insert(0.0) += f64::from(*v) * k;
            }
        }
        let mean = |f: &dyn Fn(&RunResult) -> f64| runs.iter().map(f).sum::<f64>() * k;
        let totals: Vec<f64> = runs
            .iter()
            .map(|r| f64::from(r.interruption_count()))
            .collect();
        let total = Estimate::of(&totals);
        let wall = mean(&|r| r.wall_s);
        Report {
            gpus: 0,
            nodes: 0,
            units: 0,
            nodes_per_unit: 0,
            seeds: u32::try_from(runs.len()).unwrap_or(u32::MAX),
            wall_s: wall,
            goodput: Estimate::of(&runs.iter().map(RunResult::goodput).collect::<Vec<_>>()),
            checkpoint_interval_s: 0.0,
            young_interval_s: 0.0,
            daly_interval_s: 0.0,
            model_mtbf_s: 0.0,
            job_mtbf_s: if total.mean > 0.0 {
                wall / total.mean
            } else {
                f64::INFINITY
            },
            interruptions,
            interruptions_total: total,
            lost_s: lost
                .parts()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            productive_s: mean(&|r| r.productive_s),
            attempts: mean(&|r| f64::from(r.attempts)),
            resubmissions: mean(&|r| f64::from(r.resubmissions)),
            nodes_marked_bad: mean(&|r| f64::from(r.nodes_marked_bad)),
            events: mean(&|r| r.events as f64),
            curve: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate() {
        let e = Estimate::of(&[1.0, 2.0, 3.0]);
        assert!((e.mean - 2.0).abs() < 1e-12);
        assert!((e.sd - 1.0).abs() < 1e-12);
        assert!((e.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(Estimate::of(&[5.0]).ci95, 0.0);
    }
}
