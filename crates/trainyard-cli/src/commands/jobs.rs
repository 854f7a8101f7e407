//! What the job commands share: the store at `$TRAINYARD_HOME`, finding a job by id or name,
//! the rank environment the CLI adds, and the exit status of a finished job.

use std::path::{Path, PathBuf};

use anyhow::Context;
use trainyard_job::JobSpec;
use trainyard_store::{Job, JobState, Liveness, Store};

use crate::exit::Exit;

/// The trainyard home (`$TRAINYARD_HOME`, else the XDG data dir), made absolute so a detached
/// supervisor started elsewhere finds the same one.
pub fn home() -> anyhow::Result<PathBuf> {
    let home = trainyard_store::default_home()
        .context("cannot find the trainyard home; set TRAINYARD_HOME")?;
    std::path::absolute(&home)
        .with_context(|| format!("cannot make the trainyard home {} absolute", home.display()))
}

/// Opens the job database in `home`.
pub fn open_store(home: &Path) -> anyhow::Result<Store> {
    Store::open(home).with_context(|| format!("cannot open the job database in {}", home.display()))
}

/// The job `JOB` names (its id, else the latest job of that name), with `lost` judged.
pub fn find(store: &mut Store, job: &str) -> anyhow::Result<Job> {
    store
        .find_job(job, trainyard_store::now(), &Liveness::default())
        .with_context(|| format!("cannot read job `{job}`"))?
        .with_context(|| {
            format!(
                "no job `{job}` in {} (`trainyard ps --all` lists the jobs)",
                store.home().display()
            )
        })
}

/// The stored spec of `job`, as its supervisor runs it (paths already absolute).
pub fn stored_spec(job: &Job) -> anyhow::Result<JobSpec> {
    let label = format!("<spec stored with job {}>", job.id);
    JobSpec::from_toml(&job.spec_toml, Path::new(&label))
        .with_context(|| format!("job {} has an unreadable stored spec", job.id))
}

/// The checkpoint directory of a job: the spec's, else `<job dir>/checkpoints` (which the CLI
/// hands to the ranks as `TRAINYARD_CHECKPOINT_DIR`).
pub fn checkpoint_dir(spec: &JobSpec, job_dir: &Path) -> PathBuf {
    spec.checkpoint_dir
        .clone()
        .unwrap_or_else(|| job_dir.join("checkpoints"))
}

/// Adds what the CLI tells every rank on top of the driver's torchrun variables:
/// `TRAINYARD_JOB_DIR` and `TRAINYARD_CHECKPOINT_DIR` (the spec's `checkpoint_dir`, else a
/// directory of the job's own). A value the spec sets itself wins.
pub fn add_rank_env(spec: &mut JobSpec, job_dir: &Path) {
    let ckpt = checkpoint_dir(spec, job_dir);
    for (key, value) in [
        ("TRAINYARD_JOB_DIR", job_dir.to_path_buf()),
        ("TRAINYARD_CHECKPOINT_DIR", ckpt),
    ] {
        spec.env
            .entry(key.to_string())
            .or_insert_with(|| value.to_string_lossy().into_owned());
    }
}

/// A finished job's exit status: 0 succeeded, 1 failed (or lost), 130 cancelled.
pub fn exit_for(state: JobState) -> Exit {
    match state {
        JobState::Succeeded => Exit::Clean,
        JobState::Cancelled => Exit::Cancelled,
        _ => Exit::JOB_FAILED,
    }
}

/// The newest checkpoint step in `dir`: the largest number in the name of any entry (`ckpt-
/// 00000200.json`, `step_200/`), if any. Informative only.
pub fn newest_checkpoint(dir: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.contains(".tmp") {
                return None;
            }
            name.split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse::<u64>().ok())
                .max()
        })
        .max()
}

/// Writes `doc` as pretty JSON and a newline. Serialized first, so a closed pipe surfaces as
/// the `io::Error` `main` treats as success.
pub fn write_json(
    out: &mut impl std::io::Write,
    doc: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(doc)?;
    text.push('\n');
    out.write_all(text.as_bytes())?;
    Ok(())
}
