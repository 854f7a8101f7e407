//! The failure model: which causes interrupt a job, how often, and what each does.
//!
//! Defaults are Meta's Llama 3 405B pre-training run (Dubey et al., "The Llama 3 Herd of
//! Models", arXiv 2407.21783, Table 5): 16,384 H100 GPUs (2,048 nodes of 8), 54 days, 419
//! unexpected interruptions by root cause. Each cause's count is turned into a rate per GPU,
//! per node or per job (its [`Scope`]) so it scales with the simulated cluster; `docs/sim.md`
//! gives the source and the reasoning for every scope, kind and persistence.

use std::time::Duration;

use crate::rng::Rng;

/// The Llama 3 run the default rates are calibrated on.
pub mod llama3 {
    use std::time::Duration;

    /// GPUs in the run.
    pub const GPUS: u64 = 16_384;
    /// GPUs per node (Grand Teton H100 servers).
    pub const GPUS_PER_NODE: u32 = 8;
    /// Length of the reported period.
    pub const PERIOD: Duration = Duration::from_secs(54 * 24 * 3600);
    /// Unexpected interruptions in that period.
    pub const INTERRUPTIONS: u32 = 419;
}

/// What a failure's rate is proportional to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One more GPU (with its HBM, NIC and share of the fabric) adds this cause's per-GPU rate.
    Gpu,
    /// One more host adds the per-node rate.
    Node,
    /// The job as a whole (its software): independent of size.
    Job,
}

/// How the supervisor gets to know of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A rank dies: the supervisor hears its exit at once.
    Crash,
    /// Ranks stop making progress but stay alive: only the supervisor's hang timeout finds it.
    Hang,
}

/// One root cause of interruptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cause {
    /// Name as in the report (Table 5's wording).
    pub name: &'static str,
    /// Interruptions per `reference_period` on the reference cluster.
    pub count: f64,
    /// What the rate scales with.
    pub scope: Scope,
    /// Crash or hang.
    pub kind: Kind,
    /// The node stays broken until repaired (hardware) rather than working again on restart
    /// (software, a flapped link, an external dependency).
    pub persistent: bool,
}

const fn cause(
    name: &'static str,
    count: u32,
    scope: Scope,
    kind: Kind,
    persistent: bool,
) -> Cause {
    Cause {
        name,
        count: count as f64,
        scope,
        kind,
        persistent,
    }
}

/// Llama 3's 419 unexpected interruptions by cause (Table 5), with the simulator's reading of
/// each: see `docs/sim.md` for why each is a crash or a hang and what it scales with.
pub const LLAMA3_CAUSES: [Cause; 18] = {
    use Kind::{Crash, Hang};
    use Scope::{Gpu, Job, Node};
    [
        cause("faulty GPU", 148, Gpu, Crash, true),
        cause("GPU HBM3 memory", 72, Gpu, Crash, true),
        cause("software bug", 54, Job, Crash, false),
        cause("network switch/cable", 35, Gpu, Hang, false),
        cause("host maintenance", 32, Node, Crash, true),
        cause("GPU SRAM memory", 19, Gpu, Crash, true),
        cause("GPU system processor", 17, Gpu, Hang, true),
        cause("NIC", 7, Gpu, Hang, true),
        cause("NCCL watchdog timeout", 7, Gpu, Hang, false),
        cause("silent data corruption", 6, Gpu, Crash, true),
        cause("GPU thermal interface + sensor", 6, Gpu, Crash, true),
        cause("SSD", 3, Node, Crash, true),
        cause("power supply", 3, Node, Crash, true),
        cause("server chassis", 2, Node, Crash, true),
        cause("IO expansion board", 2, Node, Crash, true),
        cause("dependency", 2, Job, Hang, false),
        cause("CPU", 2, Node, Crash, true),
        cause("system memory", 2, Node, Crash, true),
    ]
};

/// The distribution of the time between two failures of one cause stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interarrival {
    /// Memoryless (a Poisson process): the assumption behind Young's and Daly's formulas.
    Exponential,
    /// Weibull with this shape, scaled to the same mean. Shape below 1 (0.7–0.8 in Schroeder
    /// and Gibson's field data) clusters failures: many short gaps, a few long ones.
    Weibull {
        /// The shape parameter k (> 0; 1 is exponential).
        shape: f64,
    },
}

impl Interarrival {
    /// One draw with mean `mean_ms`.
    pub(crate) fn sample(self, mean_ms: f64, rng: &mut Rng) -> f64 {
        let e = -rng.uniform().ln(); // Exp(1)
        match self {
            Interarrival::Exponential => mean_ms * e,
            Interarrival::Weibull { shape } => {
                let scale = mean_ms / gamma(1.0 + 1.0 / shape);
                scale * e.powf(1.0 / shape)
            }
        }
    }
}

/// Where failures come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FailureModel {
    /// Per-component causes calibrated on a reference cluster.
    Components {
        /// The causes (default [`LLAMA3_CAUSES`]).
        causes: Vec<Cause>,
        /// GPUs of the reference cluster.
        reference_gpus: u64,
        /// GPUs per node of the reference cluster.
        reference_gpus_per_node: u32,
        /// The period the counts were observed over.
        reference_period: Duration,
        /// Multiplies every rate (1.0 = as observed).
        scale: f64,
    },
    /// One job-level stream of failures with this mean time between them (`--mtbf`), hitting a
    /// random node; for validation against the formulas.
    Job {
        /// Mean time between failures.
        mtbf: Duration,
        /// Crash (the `--mtbf` default) or hang.
        kind: Kind,
    },
}

impl Default for FailureModel {
    fn default() -> FailureModel {
        FailureModel::Components {
            causes: LLAMA3_CAUSES.to_vec(),
            reference_gpus: llama3::GPUS,
            reference_gpus_per_node: llama3::GPUS_PER_NODE,
            reference_period: llama3::PERIOD,
            scale: 1.0,
        }
    }
}

/// One cause with its rate on the simulated cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// The cause.
    pub cause: Cause,
    /// Mean time between failures of this cause for the whole job, in milliseconds
    /// (infinite when the rate is zero).
    pub mean_ms: f64,
}

impl FailureModel {
    /// The cause streams of a job on `gpus` GPUs in `nodes` nodes.
    #[must_use]
    pub fn streams(&self, gpus: u64, nodes: u64) -> Vec<Stream> {
        match self {
            FailureModel::Components {
                causes,
                reference_gpus,
                reference_gpus_per_node,
                reference_period,
                scale,
            } => {
                let ref_gpus = (*reference_gpus).max(1) as f64;
                let ref_nodes = (ref_gpus / f64::from((*reference_gpus_per_node).max(1))).ceil();
                let period_ms = reference_period.as_secs_f64() * 1000.0;
                causes
                    .iter()
                    .map(|c| {
                        let factor = match c.scope {
                            Scope::Gpu => gpus as f64 / ref_gpus,
                            Scope::Node => nodes as f64 / ref_nodes,
                            Scope::Job => 1.0,
                        };
                        let per_period = c.count * factor * scale.max(0.0);
                        let mean_ms = if per_period > 0.0 {
                            period_ms / per_period
                        } else {
                            f64::INFINITY
                        };
                        Stream { cause: *c, mean_ms }
                    })
                    .collect()
            }
            FailureModel::Job { mtbf, kind } => vec![Stream {
                cause: Cause {
                    name: match kind {
                        Kind::Crash => "job-level crash",
                        Kind::Hang => "job-level hang",
                    },
                    count: 0.0,
                    scope: Scope::Job,
                    kind: *kind,
                    persistent: false,
                },
                mean_ms: (mtbf.as_secs_f64() * 1000.0).max(1.0),
            }],
        }
    }
}

/// The job's mean time between failures of all streams together (1 / the sum of the rates).
#[must_use]
pub fn job_mtbf(streams: &[Stream]) -> Duration {
    let rate: f64 = streams.iter().map(|s| 1.0 / s.mean_ms).sum();
    if rate > 0.0 {
        Duration::from_secs_f64((1.0 / rate / 1000.0).min(1e15))
    } else {
        Duration::MAX
    }
}

/// Γ(x) for x > 0 (Lanczos, g = 7, n = 9): ~15 significant digits, enough to scale a Weibull
/// to a given mean.
pub(crate) fn gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sums_to_419() {
        let total: f64 = LLAMA3_CAUSES.iter().map(|c| c.count).sum();
        assert!((total - f64::from(llama3::INTERRUPTIONS)).abs() < 1e-9);
    }

    #[test]
    fn reference_cluster_reproduces_the_reference_rate() {
        let streams = FailureModel::default().streams(16_384, 2_048);
        let m = job_mtbf(&streams).as_secs_f64() / 3600.0;
        // 54 days / 419 = 3.09 h
        assert!((m - 54.0 * 24.0 / 419.0).abs() < 1e-6, "{m}");
        // GPU causes scale with GPUs, the software with nothing.
        let big = FailureModel::default().streams(163_840, 20_480);
        assert!((big[0].mean_ms * 10.0 - streams[0].mean_ms).abs() < 1.0);
        assert!((big[2].mean_ms - streams[2].mean_ms).abs() < 1.0);
    }

    #[test]
    fn gamma_values() {
        assert!((gamma(1.0) - 1.0).abs() < 1e-12);
        assert!((gamma(5.0) - 24.0).abs() < 1e-9);
        assert!((gamma(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn weibull_keeps_the_mean() {
        let mut rng = Rng::new(3, 9);
        let n = 200_000;
        for shape in [0.7, 1.0, 2.0] {
            let d = Interarrival::Weibull { shape };
            let mean = (0..n).map(|_| d.sample(100.0, &mut rng)).sum::<f64>() / f64::from(n);
            assert!((mean - 100.0).abs() < 1.5, "shape {shape}: {mean}");
        }
    }
}
