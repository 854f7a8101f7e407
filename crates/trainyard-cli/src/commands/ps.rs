//! `trainyard ps [--all]`: the jobs, newest first, with `lost` for dead supervisors.

use std::io::Write;

use anyhow::Context;
use owo_colors::OwoColorize;
use serde::Serialize;
use trainyard_store::{goodput, Job, JobState, Liveness, Millis};

use super::jobs;
use crate::exit::Exit;
use crate::job_args::PsArgs;
use crate::time_fmt;

/// One row of `ps`, and its `--json` object.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    name: String,
    state: JobState,
    reason: Option<String>,
    attempts: usize,
    restarts: u32,
    created_at: String,
    finished_at: Option<String>,
    duration_ms: u64,
    goodput: Option<f64>,
    supervisor_pid: Option<u32>,
    job_dir: String,
}

/// Runs the command.
pub fn run(args: &PsArgs) -> anyhow::Result<Exit> {
    let home = jobs::home()?;
    let mut store = jobs::open_store(&home)?;
    let now = trainyard_store::now();
    let list = store
        .list_jobs(args.all, now, &Liveness::default())
        .context("cannot list jobs")?;
    let mut rows = Vec::with_capacity(list.len());
    for job in &list {
        rows.push(row(&store, job, now)?);
    }
    let mut out = anstream::AutoStream::auto(std::io::stdout().lock());
    if args.json {
        jobs::write_json(&mut out, &rows)?;
        return Ok(Exit::Clean);
    }
    if rows.is_empty() {
        let what = if args.all {
            "no jobs"
        } else {
            "no running or lost jobs"
        };
        writeln!(
            out,
            "{what} in {} (`trainyard ps --all` lists finished ones)",
            home.display()
        )?;
        return Ok(Exit::Clean);
    }
    print_table(&mut out, &rows, &list, now)?;
    Ok(Exit::Clean)
}

fn row(store: &trainyard_store::Store, job: &Job, now: Millis) -> anyhow::Result<Row> {
    let attempts = store
        .attempts(&job.id)
        .with_context(|| format!("cannot read the attempts of job {}", job.id))?;
    let g = goodput(job, &attempts, now);
    Ok(Row {
        id: job.id.to_string(),
        name: job.name.clone(),
        state: job.state,
        reason: job.reason.clone(),
        attempts: attempts.len(),
        restarts: attempts.iter().map(|a| a.restart_count).max().unwrap_or(0),
        created_at: time_fmt::rfc3339(job.created_at),
        finished_at: time_fmt::rfc3339_opt(job.finished_at),
        duration_ms: g.wall_ms,
        goodput: g.ratio,
        supervisor_pid: job.supervisor_pid,
        job_dir: job.job_dir.to_string_lossy().into_owned(),
    })
}

fn print_table(
    out: &mut impl Write,
    rows: &[Row],
    jobs: &[Job],
    now: Millis,
) -> anyhow::Result<()> {
    let cells: Vec<[String; 8]> = rows
        .iter()
        .zip(jobs)
        .map(|(r, j)| {
            [
                r.id.clone(),
                r.name.clone(),
                r.state.to_string(),
                r.attempts.to_string(),
                r.restarts.to_string(),
                time_fmt::ago(j.created_at, now),
                time_fmt::duration_ms(r.duration_ms),
                r.goodput
                    .map_or_else(|| "-".to_string(), |g| format!("{:.0}%", g * 100.0)),
            ]
        })
        .collect();
    let header = [
        "ID", "NAME", "STATE", "ATTEMPTS", "RESTARTS", "CREATED", "DURATION", "GOODPUT",
    ];
    let mut widths = header.map(str::len);
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", line(&header).bold())?;
    for (c, r) in cells.iter().zip(rows) {
        let text = line(c);
        match r.state {
            JobState::Lost | JobState::Failed => writeln!(out, "{}", text.red())?,
            JobState::Succeeded => writeln!(out, "{}", text.green())?,
            _ => writeln!(out, "{text}")?,
        }
    }
    if let Some(lost) = rows.iter().find(|r| r.state == JobState::Lost) {
        writeln!(
            out,
            "\n{} {}: {}",
            "lost:".yellow(),
            lost.id,
            lost.reason.as_deref().unwrap_or("its supervisor is gone")
        )?;
    }
    Ok(())
}
