//! Supervising one job: the local driver with the store as its sink and the merged log (plus,
//! in the foreground, the console) as its view; and the hidden `trainyard __supervise JOB_ID`,
//! the background supervisor `launch --detach` starts.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use trainyard_exec::{JobOutcome, LiveView, LocalDriver, ProgressRule};
use trainyard_job::JobSpec;
use trainyard_store::{Job, JobState};

use super::jobs;
use crate::exit::Exit;
use crate::job_args::SuperviseArgs;
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
    LocalDriver::new(spec, job.id.as_str(), &job.job_dir, sink, Some(view))
        .run()
        .with_context(|| format!("cannot supervise job {}", job.id))
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
