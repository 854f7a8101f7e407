//! `trainyard launch job.toml [--detach]`: validate the spec, create the job in the store,
//! and supervise it, in the foreground (live status line and merged log) or in a detached
//! background supervisor (`trainyard __supervise JOB_ID`).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Serialize;
use trainyard_job::{Backend, JobSpec};
use trainyard_store::{Job, NewJob};

use super::jobs;
use super::supervise;
use crate::exit::Exit;
use crate::job_args::{BackendArg, LaunchArgs};
use crate::live::Console;
use crate::time_fmt;

/// The detached supervisor's stdout and stderr, inside the job's directory.
pub const SUPERVISOR_LOG: &str = "supervisor.log";

/// Runs the command.
pub fn run(args: &LaunchArgs) -> anyhow::Result<Exit> {
    let spec = load_spec(args)?;
    let home = jobs::home()?;
    let mut store = jobs::open_store(&home)?;
    let now = trainyard_store::now();
    let spec_toml = spec.to_toml();
    let job = store
        .create_job(&NewJob {
            name: &spec.name,
            spec_toml: &spec_toml,
            created_at: now,
            supervisor_pid: (!args.detach).then(std::process::id),
        })
        .context("cannot create the job in the store")?;
    std::fs::create_dir_all(&job.job_dir)
        .with_context(|| format!("cannot create the job directory {}", job.job_dir.display()))?;
    if args.detach {
        detach(&mut store, &home, &job, args.json)
    } else {
        drop(store);
        foreground(&home, &job, spec, args)
    }
}

/// Reads, validates and resolves the spec, and checks that the command can be started.
fn load_spec(args: &LaunchArgs) -> anyhow::Result<JobSpec> {
    let text = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("cannot read the job spec {}", args.spec.display()))?;
    // A SpecError already says file:line:col, what and a hint: print it as it is.
    let mut spec = JobSpec::from_toml(&text, &args.spec)?;
    match args.backend {
        Some(BackendArg::Local) => spec.backend = Backend::Local,
        Some(BackendArg::Slurm) => spec.backend = Backend::Slurm,
        None => {}
    }
    if spec.backend == Backend::Slurm {
        // Before the job exists: no sbatch, a controller that does not answer or a partition
        // without nodes is a clear error now, not a job that hangs or fails later.
        let cmd = supervise::slurm_cmd();
        if let Err(err) = trainyard_exec::slurm::check_slurm(&cmd, &spec) {
            bail!(
                "{}: cannot launch job `{}` on Slurm: {err}",
                args.spec.display(),
                spec.name
            );
        }
    }
    let spec_path = std::path::absolute(&args.spec)
        .with_context(|| format!("cannot resolve {}", args.spec.display()))?;
    let spec_dir = spec_path.parent().unwrap_or(Path::new("/"));
    spec.resolve_paths(spec_dir);
    let workdir = spec
        .workdir
        .clone()
        .unwrap_or_else(|| spec_dir.to_path_buf());
    if !workdir.is_dir() {
        bail!(
            "{}: workdir {} is not a directory",
            args.spec.display(),
            workdir.display()
        );
    }
    let program = spec.command.first().map(String::as_str).unwrap_or_default();
    let path_var = spec
        .env
        .get("PATH")
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"));
    if let Err(why) = trainyard_exec::resolve_program(program, Some(&workdir), path_var.as_deref())
    {
        bail!(
            "{}: cannot launch job `{}`: {why}\n  hint: `command` runs without a shell, from {}; \
             check the program's name and PATH",
            args.spec.display(),
            spec.name,
            workdir.display()
        );
    }
    Ok(spec)
}

/// The outcome of a foreground launch, for `--json`.
#[derive(Serialize)]
struct Outcome<'a> {
    id: &'a str,
    name: &'a str,
    state: &'a str,
    reason: &'a str,
    attempts: u32,
    job_dir: &'a Path,
}

/// Supervises in this process, showing the live log and status.
fn foreground(home: &Path, job: &Job, spec: JobSpec, args: &LaunchArgs) -> anyhow::Result<Exit> {
    let console = Arc::new(Console::new(
        &spec.name,
        !args.quiet && !args.json,
        !args.json,
    ));
    console.event(&format!(
        "job {} ({}): {} node(s) x {} rank(s); logs in {}",
        job.id,
        spec.name,
        spec.nodes,
        spec.procs_per_node,
        job.job_dir.display()
    ));
    let outcome = supervise::supervise(home, job, spec, Some(Arc::clone(&console)))?;
    console.finish();
    let state = trainyard_store::JobState::from(outcome.state);
    if args.json {
        let out = Outcome {
            id: job.id.as_str(),
            name: &job.name,
            state: state.as_str(),
            reason: &outcome.reason,
            attempts: outcome.attempts,
            job_dir: &job.job_dir,
        };
        let mut stdout = std::io::stdout().lock();
        jobs::write_json(&mut stdout, &out)?;
    } else {
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "trainyard: job {} {} after {} attempt(s) in {}; `trainyard show {}` tells the story",
            job.id,
            state,
            outcome.attempts,
            time_fmt::duration(time_fmt::between(trainyard_store::now(), job.created_at)),
            job.id
        )?;
    }
    Ok(jobs::exit_for(state))
}

/// What `launch --detach --json` prints.
#[derive(Serialize)]
struct Detached<'a> {
    id: &'a str,
    name: &'a str,
    supervisor_pid: u32,
    job_dir: &'a Path,
}

/// Starts `trainyard __supervise JOB_ID` in a session of its own and returns.
fn detach(
    store: &mut trainyard_store::Store,
    home: &Path,
    job: &Job,
    json: bool,
) -> anyhow::Result<Exit> {
    let log_path = job.job_dir.join(SUPERVISOR_LOG);
    let log =
        File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let log_err = log.try_clone().context("cannot duplicate the log file")?;
    let exe = std::env::current_exe().context("cannot find the trainyard executable")?;
    // The child calls setsid() itself (see `supervise::run_detached`): it leaves our session
    // and terminal, so neither our exit nor a closed terminal (SIGHUP) reaches it.
    let child = Command::new(exe)
        .arg("__supervise")
        .arg(job.id.as_str())
        .env("TRAINYARD_HOME", home)
        .current_dir(&job.job_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .context("cannot start the background supervisor")?;
    // Name the supervisor at once, so `ps` and `cancel` reach it before its first heartbeat.
    store
        .heartbeat(&job.id, child.id(), trainyard_store::now())
        .context("cannot record the background supervisor")?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let out = Detached {
            id: job.id.as_str(),
            name: &job.name,
            supervisor_pid: child.id(),
            job_dir: &job.job_dir,
        };
        jobs::write_json(&mut stdout, &out)?;
    } else {
        writeln!(stdout, "{}", job.id)?;
    }
    // The child is not waited for: it outlives us (and is reparented to init).
    drop(child);
    Ok(Exit::Clean)
}
