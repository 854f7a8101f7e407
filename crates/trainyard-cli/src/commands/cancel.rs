//! `trainyard cancel JOB`: ask the job's supervisor to stop it, and wait until it has.
//!
//! The request goes two ways: through the store (`cancel_requested_at`, which the supervisor
//! reads with every heartbeat, so it works from any host) and, when the supervisor runs on
//! this host, as SIGTERM to its pid (at once). The supervisor then stops every rank (SIGTERM,
//! `stop_grace`, SIGKILL) and records the job `cancelled`. A job whose supervisor is gone
//! (`lost`) has nobody to stop it: its ranks died with their guards, so it is simply marked
//! cancelled; a Slurm attempt's job is `scancel`led too (it may still be queued).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use trainyard_store::{pid_alive, this_host, Job, JobState, Store};

use super::jobs;
use crate::exit::Exit;
use crate::job_args::CancelArgs;

/// How often the job's state is read while waiting.
const POLL: Duration = Duration::from_millis(100);

#[derive(Serialize)]
struct JsonOut<'a> {
    id: &'a str,
    name: &'a str,
    state: JobState,
    reason: Option<&'a str>,
}

/// Runs the command.
pub fn run(args: &CancelArgs) -> anyhow::Result<Exit> {
    let home = jobs::home()?;
    let mut store = jobs::open_store(&home)?;
    let job = jobs::find(&mut store, &args.job)?;
    let job = match job.state {
        JobState::Lost => cancel_lost(&mut store, &job)?,
        s if s.is_terminal() => job,
        _ => cancel_running(&mut store, &job, args)?,
    };
    report(&job, args.json)?;
    Ok(match job.state {
        JobState::Cancelled => Exit::Clean,
        _ => Exit::JOB_FAILED,
    })
}

/// A lost job: nobody is left to stop; record that the user gave up on it, and `scancel`
/// the Slurm jobs of its attempts (a pending one would otherwise start later, its agents
/// finding no supervisor).
fn cancel_lost(store: &mut Store, job: &Job) -> anyhow::Result<Job> {
    let slurm_jobs: Vec<String> = store
        .attempts(&job.id)
        .map(|attempts| attempts.into_iter().filter_map(|a| a.backend_job).collect())
        .unwrap_or_default();
    if !slurm_jobs.is_empty() {
        let cmd = super::supervise::slurm_cmd();
        let runtime = tokio_runtime()?;
        for id in slurm_jobs.iter().filter_map(|id| id.parse::<u64>().ok()) {
            if let Err(err) = runtime.block_on(cmd.scancel(id)) {
                tracing::warn!(slurm_job = id, %err, "scancel of a lost job's Slurm job failed");
            }
        }
    }
    let reason = format!(
        "cancelled after its supervisor was lost ({})",
        job.reason.as_deref().unwrap_or("no heartbeat")
    );
    store
        .update_job_state(
            &job.id,
            JobState::Cancelled,
            Some(&reason),
            trainyard_store::now(),
        )
        .context("cannot mark the job cancelled")?;
    jobs::find(store, job.id.as_str())
}

fn cancel_running(store: &mut Store, job: &Job, args: &CancelArgs) -> anyhow::Result<Job> {
    store
        .request_cancel(&job.id, trainyard_store::now())
        .context("cannot record the cancel request")?;
    let same_host = job
        .supervisor_host
        .as_deref()
        .is_none_or(|h| h == this_host());
    if let (Some(pid), true) = (job.supervisor_pid, same_host) {
        if pid_alive(pid) == Some(true) {
            if let Ok(raw) = i32::try_from(pid) {
                // Not fatal: the store request reaches it within a heartbeat anyway.
                if let Err(err) = kill(Pid::from_raw(raw), Signal::SIGTERM) {
                    tracing::warn!(pid, %err, "cannot signal the supervisor");
                }
            }
        }
    }
    let grace = jobs::stored_spec(job).map_or(Duration::from_secs(10), |s| s.stop_grace);
    let deadline = Instant::now() + grace + Duration::from_secs(args.wait);
    loop {
        let now_job = jobs::find(store, job.id.as_str())?;
        match now_job.state {
            JobState::Lost => return cancel_lost(store, &now_job),
            s if s.is_terminal() => return Ok(now_job),
            _ => {}
        }
        if Instant::now() >= deadline {
            bail!(
                "job {} is still {} after {}s; its supervisor (pid {}) was asked to stop",
                job.id,
                now_job.state,
                (grace + Duration::from_secs(args.wait)).as_secs(),
                now_job
                    .supervisor_pid
                    .map_or_else(|| "unknown".to_string(), |p| p.to_string())
            );
        }
        std::thread::sleep(POLL);
    }
}

fn report(job: &Job, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let doc = JsonOut {
            id: job.id.as_str(),
            name: &job.name,
            state: job.state,
            reason: job.reason.as_deref(),
        };
        jobs::write_json(&mut out, &doc)?;
    } else if job.state == JobState::Cancelled {
        writeln!(out, "job {} ({}) cancelled", job.id, job.name)?;
    } else {
        writeln!(
            out,
            "job {} ({}) had already {}: {}",
            job.id,
            job.name,
            job.state,
            job.reason.as_deref().unwrap_or("nothing to cancel")
        )?;
    }
    Ok(())
}

/// A small runtime for the Slurm calls of `cancel`.
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime for Slurm calls")
}
