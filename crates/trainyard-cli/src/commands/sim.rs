//! `trainyard sim`: goodput of the real supervisor policy on a simulated cluster (see
//! docs/sim.md).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use trainyard_job::{format_duration, parse_duration, Backoff};
use trainyard_sim::failure::{FailureModel, Interarrival, Kind};
use trainyard_sim::{analyze, default_policy, Config, Interval, Report};

use crate::exit::Exit;

/// `trainyard sim` options.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// GPUs the job trains on.
    #[arg(long, default_value_t = 100_000)]
    pub gpus: u64,
    /// GPUs per node.
    #[arg(long, default_value_t = 8)]
    pub gpus_per_node: u32,
    /// Simulated days of training (wall clock).
    #[arg(long, default_value_t = 54.0)]
    pub days: f64,
    /// Training time between checkpoints (`30m`), or `auto` to search the best interval.
    #[arg(long, default_value = "30m", value_name = "DURATION|auto")]
    pub checkpoint_interval: String,
    /// Time to write one checkpoint.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub checkpoint_write: String,
    /// Asynchronous checkpoints: training continues while the checkpoint is written.
    #[arg(long)]
    pub checkpoint_async: bool,
    /// Attempt start-up: scheduling, init and checkpoint load (launch to first step).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub restart: String,
    /// Teardown of a stopped attempt (SIGTERM, grace, SIGKILL).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub teardown: String,
    /// Spare nodes.
    #[arg(long, default_value_t = 64)]
    pub spares: u32,
    /// The supervisor's hang timeout (no progress for this long), or `off`.
    #[arg(long, default_value = "10m", value_name = "DURATION|off")]
    pub hang_timeout: String,
    /// First restart delay (doubling per restart up to --backoff-max; the spec's default).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub backoff: String,
    /// Restart delay cap.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub backoff_max: String,
    /// Restarts before the supervisor gives up and the job is resubmitted (default unlimited).
    #[arg(long)]
    pub max_restarts: Option<u32>,
    /// Failures blamed on one node before the supervisor marks it bad.
    #[arg(long, default_value_t = 2)]
    pub node_failure_limit: u32,
    /// No node health check: broken nodes are only taken out by the supervisor's blame count.
    #[arg(long)]
    pub no_health_check: bool,
    /// Time for a node marked bad to be repaired and return.
    #[arg(long, default_value = "2h", value_name = "DURATION")]
    pub repair: String,
    /// Seeds to run (the CI is over seeds).
    #[arg(long, default_value_t = 20)]
    pub seeds: u32,
    /// Replace the component model with job-level crashes of this mean, detected at once.
    #[arg(long, value_name = "DURATION")]
    pub mtbf: Option<String>,
    /// Weibull inter-failure times with this shape (same means); default exponential.
    #[arg(long, value_name = "K")]
    pub weibull_shape: Option<f64>,
    /// Multiply every component failure rate.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub failure_scale: f64,
    /// Most supervisor units the cluster is cut into (docs/sim.md, "Units").
    #[arg(long, default_value_t = 64, hide_short_help = true)]
    pub max_units: u32,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write goodput vs interval and the lost-time breakdown as SVG.
    #[arg(long, value_name = "FILE", conflicts_with = "html")]
    pub svg: Option<PathBuf>,
    /// Write the charts and the report as one HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

fn dur(name: &str, text: &str) -> anyhow::Result<Duration> {
    parse_duration(text).with_context(|| format!("--{name} {text:?}"))
}

/// The simulation the arguments describe, and whether the interval is searched.
fn config(args: &SimArgs) -> anyhow::Result<(Config, Interval)> {
    if args.gpus == 0 || args.gpus_per_node == 0 {
        bail!("--gpus and --gpus-per-node must be positive");
    }
    if !(args.days.is_finite() && args.days > 0.0 && args.days <= 36_500.0) {
        bail!("--days must be between 0 and 36500, got {}", args.days);
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if !(args.failure_scale.is_finite() && args.failure_scale >= 0.0) {
        bail!("--failure-scale must be a non-negative number");
    }
    let (interval, checkpoint_interval) = match args.checkpoint_interval.as_str() {
        "auto" => (Interval::Auto, Duration::from_secs(1800)),
        t => (Interval::Fixed, dur("checkpoint-interval", t)?),
    };
    if checkpoint_interval.is_zero() {
        bail!("--checkpoint-interval must be positive");
    }
    let hang_timeout = match args.hang_timeout.as_str() {
        "off" => None,
        t => Some(dur("hang-timeout", t)?).filter(|d| !d.is_zero()),
    };
    let interarrival = match args.weibull_shape {
        None => Interarrival::Exponential,
        Some(k) if k.is_finite() && k > 0.0 => Interarrival::Weibull { shape: k },
        Some(k) => bail!("--weibull-shape must be a positive number, got {k}"),
    };
    let failures = match &args.mtbf {
        Some(m) => {
            let mtbf = dur("mtbf", m)?;
            if mtbf.is_zero() {
                bail!("--mtbf must be positive");
            }
            FailureModel::Job {
                mtbf,
                kind: Kind::Crash,
            }
        }
        None => match FailureModel::default() {
            FailureModel::Components {
                causes,
                reference_gpus,
                reference_gpus_per_node,
                reference_period,
                ..
            } => FailureModel::Components {
                causes,
                reference_gpus,
                reference_gpus_per_node,
                reference_period,
                scale: args.failure_scale,
            },
            other => other,
        },
    };
    let base = default_policy();
    let policy = trainyard_job::Policy {
        max_restarts: args.max_restarts.unwrap_or(u32::MAX),
        hang_timeout,
        backoff: Backoff {
            initial: dur("backoff", &args.backoff)?,
            max: dur("backoff-max", &args.backoff_max)?,
            factor: 2.0,
        },
        node_failure_limit: args.node_failure_limit.max(1),
        ..base
    };
    let cfg = Config {
        gpus: args.gpus,
        gpus_per_node: args.gpus_per_node,
        horizon: Duration::from_secs_f64(args.days * 86_400.0),
        checkpoint_interval,
        checkpoint_write: dur("checkpoint-write", &args.checkpoint_write)?,
        checkpoint_async: args.checkpoint_async,
        restart: dur("restart", &args.restart)?,
        teardown: dur("teardown", &args.teardown)?,
        spares: args.spares,
        repair: dur("repair", &args.repair)?,
        health_check: !args.no_health_check,
        failures,
        interarrival,
        policy,
        max_units: args.max_units.max(1),
    };
    Ok((cfg, interval))
}

/// Runs the command.
pub fn run(args: &SimArgs) -> anyhow::Result<Exit> {
    let (cfg, interval) = config(args)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let want_curve = args.svg.is_some() || args.html.is_some();
    let report = analyze(&cfg, args.seeds, interval, want_curve, threads);
    let text = render(&report, &cfg, interval);
    if let Some(path) = &args.svg {
        std::fs::write(path, trainyard_sim::svg::charts(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, trainyard_sim::svg::html(&report, &text))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = anstream::AutoStream::auto(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(text.as_bytes())?;
    }
    Ok(Exit::Clean)
}

fn hours(s: f64) -> String {
    if s.is_finite() {
        format!("{:.1} h", s / 3600.0)
    } else {
        "∞".to_owned()
    }
}

fn dur_s(s: f64) -> String {
    if s.is_finite() && s >= 0.0 {
        format_duration(Duration::from_secs(s.round() as u64))
    } else {
        "∞".to_owned()
    }
}

/// The human report.
fn render(r: &Report, cfg: &Config, interval: Interval) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let days = r.wall_s / 86_400.0;
    let _ = writeln!(
        s,
        "{} GPUs ({} nodes of {}, {} spare) for {days:.1} days, {} seed(s)",
        r.gpus, r.nodes, cfg.gpus_per_node, cfg.spares, r.seeds
    );
    if r.nodes_per_unit > 1 {
        let _ = writeln!(
            s,
            "  supervisor view: {} units of {} nodes (see docs/sim.md, \"Units\")",
            r.units, r.nodes_per_unit
        );
    }
    let _ = writeln!(
        s,
        "\ngoodput          {:.2}% ± {:.2} (95% CI over seeds)",
        r.goodput.mean * 100.0,
        r.goodput.ci95 * 100.0
    );
    let chosen = if interval == Interval::Auto {
        "best found"
    } else {
        "given"
    };
    let _ = writeln!(
        s,
        "checkpoint every {} ({chosen}); Young {}, Daly {} (write {}, model MTBF {})",
        dur_s(r.checkpoint_interval_s),
        dur_s(r.young_interval_s),
        dur_s(r.daly_interval_s),
        format_duration(cfg.checkpoint_write),
        dur_s(r.model_mtbf_s)
    );
    let _ = writeln!(
        s,
        "job MTBF         {} ({:.1} ± {:.1} interruptions per run)",
        hours(r.job_mtbf_s),
        r.interruptions_total.mean,
        r.interruptions_total.ci95
    );
    let _ = writeln!(s, "\nwall time (mean per run)");
    let wall = r.wall_s.max(1e-9);
    let _ = writeln!(
        s,
        "  {:<34} {:>10} {:>7.2}%",
        "productive training",
        hours(r.productive_s),
        r.productive_s / wall * 100.0
    );
    let label = |k: &'static str| match k {
        "lost_work" => "lost work since last checkpoint",
        "detection" => "detection (hang timeout)",
        "restart" => "teardown + backoff + restart",
        "checkpoint" => "checkpoint writes",
        "waiting_for_spares" => "waiting for spares",
        other => other,
    };
    for k in [
        "lost_work",
        "detection",
        "restart",
        "checkpoint",
        "waiting_for_spares",
    ] {
        let v = r.lost_s.get(k).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "  {:<34} {:>10} {:>7.2}%",
            label(k),
            hours(v),
            v / wall * 100.0
        );
    }
    let _ = writeln!(s, "\ninterruptions by cause (mean per run)");
    let mut causes: Vec<(&String, &f64)> = r.interruptions.iter().collect();
    causes.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    for (c, n) in causes {
        let _ = writeln!(s, "  {c:<34} {n:>8.1}");
    }
    let _ = writeln!(
        s,
        "\nattempts {:.0}, nodes marked bad {:.0}, resubmissions {:.1}, {:.0} events per run",
        r.attempts, r.nodes_marked_bad, r.resubmissions, r.events
    );
    s
}
