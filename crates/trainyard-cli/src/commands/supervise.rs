//! Supervising one job: the local driver with the store as its sink and the merged log (plus,
//! in the foreground, the console) as its view; and the hidden `trainyard __supervise JOB_ID`,
//! the background supervisor `launch --detach` starts.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use trainyard_exec::{JobOutcome, LiveView, LocalDriver, ProgressRule, SlurmDriver};
use trainyard_job::{Backend, JobSpec};
use trainyard_store::{Job, JobState};

use super::jobs;
use crate::exit::Exit;
use crate::job_args::{AgentArgs, SuperviseArgs};
use crate::job_sink::StoreSink;
use crate::live::{Console, MergedLog, ProgressMarks, View};

/// Runs `job` (already in the store, spec resolved) to its end on this machine.
pub fn supervise(
    home: &Path,
    job: &Job,
    mut spec: JobSpec,
    console: Option<Arc<Console>>,
) -> anyhow::Result<JobOutcome> {
    jobs::add_rank_env(&mut spec, &job.job_dir);
    let store = jobs::open_store(home)?;
    let marks = Arc::new(ProgressMarks::default());
    let sink = StoreSink::new(store, job.id.clone(), spec.procs_per_node, console.clone())
        .with_marks(Arc::clone(&marks));
    let view: Arc<dyn LiveView> = Arc::new(View {
        merged: MergedLog::new(job.job_dir.clone()),
        rule: ProgressRule::new(spec.progress_regex.clone()),
        marks,
        console,
    });
    match spec.backend {
        Backend::Slurm => SlurmDriver::new(spec, job.id.as_str(), &job.job_dir, sink, Some(view))
            .slurm_cmd(slurm_cmd())
            .run(),
        _ => LocalDriver::new(spec, job.id.as_str(), &job.job_dir, sink, Some(view)).run(),
    }
    .with_context(|| format!("cannot supervise job {}", job.id))
}

/// How the CLI calls Slurm: from `TRAINYARD_SLURM_BIN_DIR` if set (a site's
/// `/opt/slurm/bin`), else PATH; each call bounded by `TRAINYARD_SLURM_TIMEOUT` seconds
/// (default 20), so an unreachable controller is an error, not a hang.
pub fn slurm_cmd() -> trainyard_slurm::SlurmCmd {
    let secs = std::env::var("TRAINYARD_SLURM_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(20.0);
    trainyard_slurm::SlurmCmd {
        bin_dir: std::env::var_os("TRAINYARD_SLURM_BIN_DIR")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from),
        timeout: std::time::Duration::from_secs_f64(secs),
    }
}

/// `trainyard agent`: one node's ranks of a Slurm attempt.
pub fn run_agent(args: &AgentArgs) -> anyhow::Result<Exit> {
    let code = trainyard_exec::slurm::run_agent(trainyard_exec::slurm::AgentArgs {
        connect: args.connect.clone(),
        job_id: args.job_id.clone(),
        attempt: args.attempt,
        guard: None,
    })
    .context("trainyard agent")?;
    Ok(if code == 0 {
        Exit::Clean
    } else {
        Exit::JOB_FAILED
    })
}

/// `trainyard __supervise JOB_ID`: the detached supervisor.
pub fn run_detached(args: &SuperviseArgs) -> anyhow::Result<Exit> {
    // A session of our own: no controlling terminal, not in the launching shell's job
    // control, so its exit or hang-up does not reach us. (Fails only for a group leader,
    // which `launch` never makes us.)
    if let Err(err) = nix::unistd::setsid() {
        tracing::warn!(%err, "setsid failed; the supervisor stays in its parent's session");
    }
    let home = jobs::home()?;
    let mut store = jobs::open_store(&home)?;
    let job = jobs::find(&mut store, &args.job)?;
    if job.state != JobState::Pending {
        bail!(
            "job {} is {}, not pending: it has a supervisor already",
            job.id,
            job.state
        );
    }
    let spec = jobs::stored_spec(&job)?;
    drop(store);
    eprintln_now(&format!("supervising job {} ({})", job.id, job.name));
    let outcome = supervise(&home, &job, spec, None)?;
    eprintln_now(&format!(
        "job {} {}: {} ({} attempt(s))",
        job.id, outcome.state, outcome.reason, outcome.attempts
    ));
    Ok(jobs::exit_for(JobState::from(outcome.state)))
}

/// One line to the supervisor's log (its stderr), with the time.
fn eprintln_now(message: &str) {
    use std::io::Write;
    let at = crate::time_fmt::rfc3339(trainyard_store::now());
    let _ = writeln!(std::io::stderr(), "{at} {message}");
}
