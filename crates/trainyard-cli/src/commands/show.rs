//! `trainyard show JOB`: the job's timeline. Every attempt with its nodes, start and end, why
//! it ended, the blamed node and rank with its exit code or signal and stderr tail, the time
//! it lost; the job's goodput (productive time / wall time).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use owo_colors::OwoColorize;
use serde::Serialize;
use trainyard_store::{Attempt, AttemptState, Event, JobDetail, JobState, Liveness, Millis, Rank};

use super::jobs;
use crate::exit::Exit;
use crate::job_args::ShowArgs;
use crate::time_fmt::{self, rfc3339, rfc3339_opt};

/// `show --json` (docs/jobs.md). The contract's keys (`id`, `name`, `state`, `attempts[]
/// {number, state, reason, blamed_node, blamed_rank, exit_code, started_at, ended_at}`,
/// `goodput`) never change; the rest may grow.
#[derive(Debug, Serialize)]
struct JsonJob {
    id: String,
    name: String,
    state: JobState,
    reason: Option<String>,
    created_at: String,
    finished_at: Option<String>,
    #[serde(skip)]
    created_ms: Millis,
    wall_ms: u64,
    /// Productive time / wall time, 0..=1 (`null` before any time passed).
    goodput: Option<f64>,
    productive_ms: u64,
    lost_ms: u64,
    nodes: u32,
    procs_per_node: u32,
    max_restarts: u32,
    restarts: u32,
    supervisor_pid: Option<u32>,
    supervisor_host: Option<String>,
    job_dir: PathBuf,
    checkpoint_dir: PathBuf,
    checkpoint_step: Option<u64>,
    attempts: Vec<JsonAttempt>,
    events: Vec<JsonEvent>,
}

#[derive(Debug, Serialize)]
struct JsonAttempt {
    number: u32,
    state: AttemptState,
    reason: Option<String>,
    nodes: Vec<String>,
    /// The Slurm job id of a Slurm attempt.
    slurm_job_id: Option<String>,
    restart_count: u32,
    blamed_node: Option<String>,
    blamed_rank: Option<u32>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    started_at: String,
    ended_at: Option<String>,
    #[serde(skip)]
    started_ms: Millis,
    #[serde(skip)]
    ended_ms: Option<Millis>,
    duration_ms: u64,
    startup_ms: Option<u64>,
    /// Time in the scheduler's queue before its resources ran (part of `startup_ms`);
    /// `null` where nothing queues (the local backend) or while still queued.
    queued_ms: Option<u64>,
    productive_ms: u64,
    lost_ms: u64,
    last_step: Option<u64>,
    stderr_tail: Vec<String>,
    ranks: Vec<JsonRank>,
}

#[derive(Debug, Serialize)]
struct JsonRank {
    rank: u32,
    node: String,
    local_rank: u32,
    pid: Option<u32>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    started_at: String,
    ended_at: Option<String>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct JsonEvent {
    at: String,
    kind: String,
    attempt: Option<u32>,
    rank: Option<u32>,
    node: Option<String>,
    message: String,
    data: Option<serde_json::Value>,
}

/// Runs the command.
pub fn run(args: &ShowArgs) -> anyhow::Result<Exit> {
    let home = jobs::home()?;
    let mut store = jobs::open_store(&home)?;
    let detail = store
        .job_detail(&args.job, trainyard_store::now(), &Liveness::default())
        .with_context(|| format!("cannot read job `{}`", args.job))?
        .with_context(|| {
            format!(
                "no job `{}` in {} (`trainyard ps --all` lists the jobs)",
                args.job,
                home.display()
            )
        })?;
    let doc = to_json(&detail);
    let mut out = anstream::AutoStream::auto(std::io::stdout().lock());
    if args.json {
        jobs::write_json(&mut out, &doc)?;
    } else {
        print_text(&mut out, &doc)?;
    }
    Ok(Exit::Clean)
}

/// How long attempt `a` waited in the scheduler's queue: from its start to the supervisor's
/// `attempt_running` event (recorded only for backends with a queue).
fn queued_ms(events: &[Event], a: &Attempt) -> Option<u64> {
    events
        .iter()
        .find(|e| e.attempt == Some(a.number) && e.kind == "attempt_running")
        .map(|e| e.at.0.saturating_sub(a.started_at.0))
}

/// The blamed rank's stderr tail for attempt `n`, from its failure or hang event.
fn stderr_tail(events: &[Event], n: u32) -> Vec<String> {
    events
        .iter()
        .rev()
        .filter(|e| e.attempt == Some(n))
        .filter(|e| matches!(e.kind.as_str(), "attempt_failed" | "hang_detected"))
        .find_map(|e| e.data.as_ref()?.get("stderr_tail")?.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn json_rank(r: &Rank) -> JsonRank {
    JsonRank {
        rank: r.rank,
        node: r.node.clone(),
        local_rank: r.local_rank,
        pid: r.pid,
        exit_code: r.exit.and_then(|e| e.code()),
        signal: r.exit.and_then(|e| e.signal()),
        started_at: rfc3339(r.started_at),
        ended_at: rfc3339_opt(r.ended_at),
        stdout: r.stdout_path.clone(),
        stderr: r.stderr_path.clone(),
    }
}

fn json_attempt(d: &JobDetail, a: &Attempt) -> JsonAttempt {
    let time = d.goodput.attempts.iter().find(|t| t.number == a.number);
    JsonAttempt {
        number: a.number,
        state: a.state,
        reason: a.reason.clone(),
        nodes: a.nodes.clone(),
        slurm_job_id: a.backend_job.clone(),
        restart_count: a.restart_count,
        blamed_node: a.blamed_node.clone(),
        blamed_rank: a.blamed_rank,
        exit_code: a.exit.and_then(|e| e.code()),
        signal: a.exit.and_then(|e| e.signal()),
        started_at: rfc3339(a.started_at),
        ended_at: rfc3339_opt(a.ended_at),
        started_ms: a.started_at,
        ended_ms: a.ended_at,
        duration_ms: time.map_or(0, |t| t.duration_ms),
        startup_ms: time.and_then(|t| t.startup_ms),
        queued_ms: queued_ms(&d.events, a),
        productive_ms: time.map_or(0, |t| t.productive_ms),
        lost_ms: time.map_or(0, |t| t.lost_ms),
        last_step: a.last_step,
        stderr_tail: stderr_tail(&d.events, a.number),
        ranks: d
            .ranks
            .iter()
            .filter(|r| r.attempt == a.number)
            .map(json_rank)
            .collect(),
    }
}

fn to_json(d: &JobDetail) -> JsonJob {
    let spec = jobs::stored_spec(&d.job).ok();
    let checkpoint_dir = spec.as_ref().map_or_else(
        || d.job.job_dir.join("checkpoints"),
        |s| jobs::checkpoint_dir(s, &d.job.job_dir),
    );
    JsonJob {
        id: d.job.id.to_string(),
        name: d.job.name.clone(),
        state: d.job.state,
        reason: d.job.reason.clone(),
        created_at: rfc3339(d.job.created_at),
        finished_at: rfc3339_opt(d.job.finished_at),
        created_ms: d.job.created_at,
        wall_ms: d.goodput.wall_ms,
        goodput: d.goodput.ratio,
        productive_ms: d.goodput.productive_ms,
        lost_ms: d.goodput.lost_ms,
        nodes: spec.as_ref().map_or(0, |s| s.nodes),
        procs_per_node: spec.as_ref().map_or(0, |s| s.procs_per_node),
        max_restarts: spec.as_ref().map_or(0, |s| s.max_restarts),
        restarts: d
            .attempts
            .iter()
            .map(|a| a.restart_count)
            .max()
            .unwrap_or(0),
        supervisor_pid: d.job.supervisor_pid,
        supervisor_host: d.job.supervisor_host.clone(),
        job_dir: d.job.job_dir.clone(),
        checkpoint_step: jobs::newest_checkpoint(&checkpoint_dir),
        checkpoint_dir,
        attempts: d.attempts.iter().map(|a| json_attempt(d, a)).collect(),
        events: d
            .events
            .iter()
            .map(|e| JsonEvent {
                at: rfc3339(e.at),
                kind: e.kind.clone(),
                attempt: e.attempt,
                rank: e.rank,
                node: e.node.clone(),
                message: e.message.clone(),
                data: e.data.clone(),
            })
            .collect(),
    }
}

fn percent(g: Option<f64>) -> String {
    g.map_or_else(|| "-".to_string(), |g| format!("{:.0}%", g * 100.0))
}

fn print_text(out: &mut impl Write, j: &JsonJob) -> anyhow::Result<()> {
    let state = match j.state {
        JobState::Succeeded => j.state.green().bold().to_string(),
        JobState::Failed | JobState::Lost => j.state.red().bold().to_string(),
        _ => j.state.yellow().bold().to_string(),
    };
    writeln!(out, "{} {}  {}  {state}", "job".bold(), j.id.bold(), j.name)?;
    if let Some(reason) = &j.reason {
        writeln!(out, "  {reason}")?;
    }
    let label = |s: &str| format!("{:<12}", s).dimmed().to_string();
    writeln!(
        out,
        "  {}{} ({}), wall {}",
        label("created"),
        time_fmt::human(j.created_ms),
        if j.finished_at.is_some() {
            "finished"
        } else {
            "still going"
        },
        time_fmt::duration_ms(j.wall_ms),
    )?;
    writeln!(
        out,
        "  {}{} (productive {}, lost {}, of {} wall)",
        label("goodput"),
        percent(j.goodput).bold(),
        time_fmt::duration_ms(j.productive_ms),
        time_fmt::duration_ms(j.lost_ms),
        time_fmt::duration_ms(j.wall_ms),
    )?;
    writeln!(
        out,
        "  {}{} node(s) x {} rank(s), {} attempt(s), restarts {} of {}",
        label("shape"),
        j.nodes,
        j.procs_per_node,
        j.attempts.len(),
        j.restarts,
        j.max_restarts
    )?;
    writeln!(
        out,
        "  {}{} (`trainyard logs {}`)",
        label("logs"),
        j.job_dir.display(),
        j.id
    )?;
    let newest = j
        .checkpoint_step
        .map_or_else(|| "none yet".to_string(), |s| format!("newest step {s}"));
    writeln!(
        out,
        "  {}{} ({newest})",
        label("checkpoints"),
        j.checkpoint_dir.display()
    )?;
    for a in &j.attempts {
        writeln!(out)?;
        print_attempt(out, a, &label)?;
    }
    Ok(())
}

fn print_attempt(
    out: &mut impl Write,
    a: &JsonAttempt,
    label: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    let state = match a.state {
        AttemptState::Succeeded => a.state.green().to_string(),
        AttemptState::Failed | AttemptState::Lost => a.state.red().to_string(),
        _ => a.state.yellow().to_string(),
    };
    let ended = a
        .ended_ms
        .map_or_else(|| "now".to_string(), time_fmt::clock);
    writeln!(
        out,
        "{} {}  {state}  {} -> {} ({})  on {}{}",
        "attempt".bold(),
        a.number.bold(),
        time_fmt::clock(a.started_ms),
        ended,
        time_fmt::duration_ms(a.duration_ms),
        if a.nodes.is_empty() {
            "-".to_string()
        } else {
            a.nodes.join(", ")
        },
        a.slurm_job_id
            .as_ref()
            .map_or_else(String::new, |id| format!("  (Slurm job {id})")),
    )?;
    if let Some(reason) = &a.reason {
        writeln!(out, "  {}{reason}", label("why"))?;
    }
    if let (Some(rank), Some(node)) = (a.blamed_rank, &a.blamed_node) {
        let how = match (a.exit_code, a.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(s)) => format!("signal {s}"),
            _ => "no exit (hung)".to_string(),
        };
        writeln!(out, "  {}rank {rank} on {node}, {how}", label("blamed"))?;
    }
    let step = a
        .last_step
        .map_or_else(String::new, |s| format!(", last step {s}"));
    let mut startup = a
        .startup_ms
        .map_or_else(|| "-".to_string(), time_fmt::duration_ms);
    if let Some(q) = a.queued_ms {
        startup.push_str(&format!(" (queued {})", time_fmt::duration_ms(q)));
    }
    writeln!(
        out,
        "  {}startup {startup}, productive {}, lost {}{step}",
        label("time"),
        time_fmt::duration_ms(a.productive_ms),
        time_fmt::duration_ms(a.lost_ms),
    )?;
    for (i, line) in a.stderr_tail.iter().enumerate() {
        let l = if i == 0 { label("stderr") } else { label("") };
        writeln!(out, "  {l}{} {line}", "|".dimmed())?;
    }
    Ok(())
}
