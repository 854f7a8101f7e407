//! One rank's life on the machine that runs it, shared by the local driver and the Slurm
//! agent: start it behind its guard with torchrun's environment, capture its output (files,
//! live view, stderr tail, progress), and report its exit with when it began to fail.
//!
//! Both callers own the decisions around it (the local driver feeds the state machine, the
//! agent forwards to the supervisor over TCP); this module only starts and watches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use trainyard_job::ExitStatus;

use crate::env::RankEnv;
use crate::output::{capture, LiveView, Sinks, Source, Stream, Tail};
use crate::progress::ProgressRule;
use crate::spawn::{start_rank, GuardCommand, RankLaunch};
use crate::teardown::signal_group;

/// How long a dead rank's pipes may stay open (a descendant that left the process group holds
/// them) before we stop waiting for the rest of its output.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// A rank's last stderr line this close before its death is taken as the moment it began to
/// fail (see [`Exit::failed_at`]).
const DYING_WORDS: Duration = Duration::from_secs(1);

/// Messages from the per-rank tasks to their owner's loop.
pub(crate) enum RankMsg {
    Progress {
        attempt: u32,
        rank: u32,
        step: Option<u64>,
    },
    Exited(Exit),
}

/// A rank's end, as its watcher task reports it.
pub(crate) struct Exit {
    pub attempt: u32,
    pub rank: u32,
    pub status: ExitStatus,
    pub stderr_tail: Vec<String>,
    /// When it died, in nanoseconds since the UNIX epoch (the guard's record, else when we
    /// reaped the guard).
    pub died_at: u128,
    /// When its last stderr line arrived.
    pub last_stderr_at: Option<u128>,
}

impl Exit {
    /// When the rank began to fail: its last stderr line if that came shortly before its death
    /// (a traceback, an error message), else its death.
    ///
    /// Death order alone blames the wrong rank: a Python rank that raises closes its sockets
    /// while the interpreter finalizes, its peers see the broken connection, print their own
    /// traceback and exit, often before the first rank's process is gone. The first rank's
    /// error message, though, came before all of that.
    pub(crate) fn failed_at(&self) -> u128 {
        match self.last_stderr_at {
            Some(at) if at <= self.died_at && self.died_at - at <= DYING_WORDS.as_nanos() => at,
            _ => self.died_at,
        }
    }
}

/// A started rank, as its owner keeps it.
pub(crate) struct RankRun {
    pub pgid: u32,
    /// Where its guard records when it died.
    pub exit_file: PathBuf,
    pub progress_file: PathBuf,
    pub last_file_step: Option<u64>,
    /// Held while the rank lives; see [`crate::guard`].
    pub lifeline: Option<ChildStdin>,
    pub exited: bool,
}

/// Where a rank's output and progress go.
pub(crate) struct Watch {
    pub tx: mpsc::UnboundedSender<RankMsg>,
    pub live: Option<Arc<dyn LiveView>>,
    pub rule: Arc<ProgressRule>,
}

/// What one rank needs to start, besides its place ([`RankEnv`]).
pub(crate) struct NewRank<'a> {
    pub guard: &'a GuardCommand,
    pub command: &'a [String],
    pub spec_env: &'a BTreeMap<String, String>,
    pub workdir: Option<&'a Path>,
    pub grace: Duration,
    /// The attempt's log directory.
    pub dir: &'a Path,
    /// The node, as output lines name it.
    pub node: Arc<str>,
}

/// A rank that is running, and where its logs are.
pub(crate) struct Spawned {
    pub run: RankRun,
    pub pid: u32,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// `dir/rank-<r>.progress`: the rank's `TRAINYARD_PROGRESS_FILE`.
pub(crate) fn progress_file(dir: &Path, rank: u32) -> PathBuf {
    dir.join(format!("rank-{rank}.progress"))
}

/// Starts rank `env.rank` of attempt `env.attempt` behind its guard and spawns the tasks that
/// capture its output and report its exit to `watch.tx`. Clears the progress and exit files a
/// previous run may have left.
pub(crate) fn spawn_rank(
    new: &NewRank<'_>,
    env: &RankEnv,
    watch: &Watch,
) -> std::io::Result<Spawned> {
    let (attempt, rank) = (env.attempt, env.rank);
    let exit_file = new.dir.join(format!("rank-{rank}.exit"));
    let _ = std::fs::remove_file(&env.progress_file);
    let _ = std::fs::remove_file(&exit_file);
    let started = start_rank(&RankLaunch {
        guard: new.guard,
        command: new.command,
        spec_env: new.spec_env,
        rank_env: env,
        workdir: new.workdir,
        grace: new.grace,
        exit_file: &exit_file,
    })?;
    let pid = started.pid;
    let stdout = new
        .dir
        .join(format!("rank-{rank}.{}", Stream::Stdout.extension()));
    let stderr = new
        .dir
        .join(format!("rank-{rank}.{}", Stream::Stderr.extension()));
    let source = Arc::new(Source {
        attempt,
        rank,
        node: Arc::clone(&new.node),
    });
    watch_rank(
        started.child,
        started.stdout,
        started.stderr,
        source,
        pid,
        RankFiles {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            exit: exit_file.clone(),
        },
        watch,
    );
    Ok(Spawned {
        run: RankRun {
            pgid: pid,
            exit_file,
            progress_file: env.progress_file.clone(),
            last_file_step: None,
            lifeline: Some(started.lifeline),
            exited: false,
        },
        pid,
        stdout,
        stderr,
    })
}

/// Where a rank's guard and readers write.
struct RankFiles {
    stdout: PathBuf,
    stderr: PathBuf,
    /// The guard's record of when the rank died.
    exit: PathBuf,
}

/// Spawns the tasks that capture a rank's output and report its exit.
fn watch_rank(
    mut child: Child,
    stdout: tokio::process::ChildStdout,
    stderr: tokio::process::ChildStderr,
    source: Arc<Source>,
    pgid: u32,
    files: RankFiles,
    watch: &Watch,
) {
    let RankFiles {
        stdout: stdout_path,
        stderr: stderr_path,
        exit: exit_file,
    } = files;
    let tail = Tail::default();
    let progress_to = |tx: mpsc::UnboundedSender<RankMsg>, attempt: u32, rank: u32| {
        move |step| {
            let _ = tx.send(RankMsg::Progress {
                attempt,
                rank,
                step,
            });
        }
    };
    let (attempt, rank) = (source.attempt, source.rank);
    let out = tokio::spawn(capture(
        stdout,
        Stream::Stdout,
        Arc::clone(&source),
        Sinks {
            file: Some(stdout_path),
            view: watch.live.clone(),
            tail: None,
            rule: Arc::clone(&watch.rule),
            progress: progress_to(watch.tx.clone(), attempt, rank),
        },
    ));
    let err = tokio::spawn(capture(
        stderr,
        Stream::Stderr,
        source,
        Sinks {
            file: Some(stderr_path),
            view: watch.live.clone(),
            tail: Some(tail.clone()),
            rule: Arc::clone(&watch.rule),
            progress: progress_to(watch.tx.clone(), attempt, rank),
        },
    ));
    let tx = watch.tx.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        let reaped_at = unix_nanos();
        // The guard killed what the rank left behind; if the guard itself was killed
        // (OOM killer, a stray SIGKILL), this does it.
        signal_group(pgid, Signal::SIGKILL);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            let _ = out.await;
            let _ = err.await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                attempt,
                rank,
                "a descendant holds the rank's pipes open; the rest of its output is lost"
            );
        }
        let status = match status {
            Ok(status) => exit_status(status),
            Err(err) => {
                tracing::warn!(attempt, rank, %err, "waiting for a rank failed");
                ExitStatus::Signal(Signal::SIGKILL as i32)
            }
        };
        let died_at = std::fs::read_to_string(&exit_file)
            .ok()
            .and_then(|t| t.trim().parse::<u128>().ok())
            .unwrap_or(reaped_at);
        let _ = tx.send(RankMsg::Exited(Exit {
            attempt,
            rank,
            status,
            stderr_tail: tail.lines(),
            died_at,
            last_stderr_at: tail.last_at(),
        }));
    });
}

/// Wall-clock nanoseconds since the UNIX epoch.
pub(crate) fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        // Stopped/continued are not reported by wait(); treat the impossible as a kill.
        (None, None) => ExitStatus::Signal(Signal::SIGKILL as i32),
    }
}
