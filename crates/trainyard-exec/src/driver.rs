//! The local driver: one job's event loop.
//!
//! One `tokio::select!` turns what happens (rank exits, output, timers, progress files,
//! signals, cancel requests) into [`Event`]s for the pure [`Supervisor`], and carries out the
//! [`Action`]s it returns. The driver decides nothing about the job (when to restart, whom to
//! blame): that is the machine's. It only knows how to start, watch and stop processes.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::Instant;
use trainyard_job::{Action, Event, FinalState, JobSpec, NodeName, Supervisor};

use crate::env::{free_port, RankEnv};
use crate::interrupts::{instant_of, now, Interruptible, Interrupts};
use crate::output::LiveView;
use crate::progress::{read_step_file, ProgressRule};
use crate::rank::{progress_file, spawn_rank, Exit, NewRank, RankMsg, RankRun, Watch};
use crate::sink::{beat, log_failure, EventSink, RankStart};
use crate::spawn::{resolve_program, GuardCommand};
use crate::teardown::{signal_group, LiveGroups};
use crate::ExecError;

/// How often progress files are read.
const PROGRESS_FILE_POLL: Duration = Duration::from_millis(250);
/// How often the sink hears that the supervisor is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a failed rank's exit waits for others before the supervisor hears of it. A crash
/// makes its peers fail on the broken connection within milliseconds, and their exits may
/// reach us first; within this window, exits are handed over in the order the ranks began to
/// fail ([`Exit::failed_at`]), so the rank that failed first is the one blamed.
const EXIT_SETTLE: Duration = Duration::from_millis(100);
/// The longest exits are held while a rank that died earlier (its guard's record says so) has
/// not been reported yet: on a loaded machine reaping and draining can lag.
const EXIT_SETTLE_MAX: Duration = Duration::from_secs(3);

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// Succeeded, failed or cancelled.
    pub state: FinalState,
    /// The supervisor's one-line verdict.
    pub reason: String,
    /// How many attempts were launched.
    pub attempts: u32,
}

/// Asks a running [`LocalDriver`] to cancel its job, from any thread. (From another process:
/// send SIGTERM or SIGINT to the supervisor's pid; a second one kills the ranks at once.)
#[derive(Debug, Clone)]
pub struct CancelHandle(mpsc::UnboundedSender<String>);

impl CancelHandle {
    pub(crate) fn new(tx: mpsc::UnboundedSender<String>) -> Self {
        Self(tx)
    }

    /// Requests cancellation with a reason for the history. Does nothing once the job is over.
    pub fn cancel(&self, reason: impl Into<String>) {
        let _ = self.0.send(reason.into());
    }
}

/// Runs one job on this machine: every rank a local process, each logical node
/// (`local-0`, ...) a group of `procs_per_node` of them.
///
/// ```no_run
/// use trainyard_exec::{LocalDriver, NullSink};
/// use trainyard_job::JobSpec;
///
/// let spec = JobSpec::from_toml(
///     r#"command = ["python3", "examples/train.py"]
///        nodes = 2
///        procs_per_node = 2"#,
///     "job.toml".as_ref(),
/// )?;
/// let outcome = LocalDriver::new(spec, "job-1", "/tmp/trainyard/jobs/job-1", NullSink, None).run()?;
/// println!("{}: {}", outcome.state, outcome.reason);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LocalDriver<S> {
    spec: JobSpec,
    job_id: String,
    log_dir: PathBuf,
    sink: S,
    live: Option<Arc<dyn LiveView>>,
    guard: Option<GuardCommand>,
    handle_signals: bool,
    cancel_tx: mpsc::UnboundedSender<String>,
    cancel_rx: mpsc::UnboundedReceiver<String>,
}

impl<S: EventSink> LocalDriver<S> {
    /// A driver for `spec`, whose rank logs go to `log_dir/attempt-<k>/rank-<r>.out|.err`
    /// (`$TRAINYARD_HOME/jobs/<job_id>` by contract). `live_view` receives every output line.
    ///
    /// `spec.workdir` is used as given: the caller makes a relative one absolute (it is
    /// relative to the spec file's directory).
    pub fn new(
        spec: JobSpec,
        job_id: impl Into<String>,
        log_dir: impl Into<PathBuf>,
        sink: S,
        live_view: Option<Arc<dyn LiveView>>,
    ) -> Self {
        let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
        Self {
            spec,
            job_id: job_id.into(),
            log_dir: log_dir.into(),
            sink,
            live: live_view,
            guard: None,
            handle_signals: true,
            cancel_tx,
            cancel_rx,
        }
    }

    /// How to start the rank guard. The default is the running executable's hidden
    /// `__rank-guard` subcommand (the `trainyard` binary); tests and other embedders pass the
    /// `trainyard-rank-guard` binary.
    #[must_use]
    pub fn guard(mut self, guard: GuardCommand) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Whether SIGINT and SIGTERM to this process cancel the job (default: yes). A second
    /// signal kills the ranks without waiting for the grace period. Note that once listened
    /// for, these signals no longer end the process by default, also after [`Self::run`].
    #[must_use]
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }

    /// A handle to cancel the job from another thread while [`Self::run`] runs.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel_tx.clone())
    }

    /// Runs the job to its end on a runtime of its own (so callers stay synchronous) and
    /// returns how it ended. Ranks are started from the calling thread.
    ///
    /// # Errors
    /// Only when the driver itself cannot work (no runtime, no log directory, no signal
    /// handlers); anything that goes wrong with the job's processes is part of the outcome.
    pub fn run(self) -> Result<JobOutcome, ExecError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("trainyard-exec")
            .enable_all()
            .build()
            .map_err(ExecError::Runtime)?;
        runtime.block_on(self.run_async())
    }

    async fn run_async(self) -> Result<JobOutcome, ExecError> {
        std::fs::create_dir_all(&self.log_dir).map_err(|source| ExecError::LogDir {
            path: self.log_dir.clone(),
            source,
        })?;
        let guard = match self.guard {
            Some(guard) => guard,
            None => {
                GuardCommand::current_exe_subcommand("__rank-guard").map_err(ExecError::Runtime)?
            }
        };
        let mut interrupts = Interrupts::new(self.handle_signals)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let supervisor = Supervisor::new(self.spec.policy(), self.spec.local_pool(), now());
        let rule = Arc::new(ProgressRule::new(self.spec.progress_regex.clone()));
        let mut run = Run {
            spec: &self.spec,
            job_id: &self.job_id,
            log_dir: &self.log_dir,
            sink: self.sink,
            guard,
            supervisor,
            watch: Watch {
                tx,
                live: self.live,
                rule,
            },
            attempts: BTreeMap::new(),
            groups: LiveGroups::default(),
            queue: VecDeque::from([Event::Start]),
            outcome: None,
            launched: 0,
            held_exits: Vec::new(),
            settle_at: None,
            held_since: None,
        };
        let mut cancel_rx = self.cancel_rx;
        // Keep a sender so the channel never reads as closed.
        let _cancel_tx = self.cancel_tx;
        let mut next_progress_poll = Instant::now();
        let mut next_heartbeat = Instant::now();

        loop {
            run.drain_queue();
            if run.outcome.is_some() && run.alive_ranks() == 0 && run.held_exits.is_empty() {
                break;
            }
            let wake = [
                Some(next_progress_poll),
                Some(next_heartbeat),
                run.supervisor.poll_timeout().map(instant_of),
                run.next_kill(),
                run.settle_at,
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + HEARTBEAT);

            tokio::select! {
                Some(msg) = rx.recv() => run.on_internal(msg),
                Some(reason) = cancel_rx.recv() => run.queue.push_back(Event::Cancel { reason }),
                name = interrupts.next() => interrupts.act(name, &mut run),
                () = tokio::time::sleep_until(wake) => {}
            }

            let instant = Instant::now();
            if run.settle_at.is_some_and(|at| at <= instant) {
                run.release_exits();
            }
            run.kill_overdue(instant);
            if run.supervisor.poll_timeout().is_some_and(|at| at <= now()) {
                run.queue.push_back(Event::Tick);
            }
            if instant >= next_progress_poll {
                run.poll_progress_files();
                next_progress_poll = instant + PROGRESS_FILE_POLL;
            }
            if instant >= next_heartbeat {
                run.heartbeat();
                next_heartbeat = instant + HEARTBEAT;
            }
        }
        run.groups.kill_all();
        let (state, reason) = run
            .outcome
            .unwrap_or((FinalState::Failed, "the supervisor stopped".to_string()));
        Ok(JobOutcome {
            state,
            reason,
            attempts: run.launched,
        })
    }
}

struct AttemptRun {
    ranks: BTreeMap<u32, RankRun>,
    alive: usize,
    /// When the ranks still alive get SIGKILL, once a stop was asked for.
    kill_at: Option<Instant>,
    killed: bool,
    /// Progress since the last heartbeat: `Some(highest step or None)`.
    progress: Option<Option<u64>>,
    /// The highest step seen in the attempt.
    step: Option<u64>,
}

struct Run<'a, S> {
    spec: &'a JobSpec,
    job_id: &'a str,
    log_dir: &'a Path,
    sink: S,
    guard: GuardCommand,
    supervisor: Supervisor,
    /// Where the ranks' output, progress and exits go.
    watch: Watch,
    attempts: BTreeMap<u32, AttemptRun>,
    groups: LiveGroups,
    /// Events waiting for the supervisor, in order.
    queue: VecDeque<Event>,
    outcome: Option<(FinalState, String)>,
    launched: u32,
    /// Exits held back for [`EXIT_SETTLE`], and when they are handed over.
    held_exits: Vec<Exit>,
    settle_at: Option<Instant>,
    /// When the first of the held exits arrived.
    held_since: Option<Instant>,
}

impl<S: EventSink> Interruptible for Run<'_, S> {
    fn heartbeat(&mut self) -> bool {
        Run::heartbeat(self)
    }

    fn stop_now(&mut self, signal: &str) {
        tracing::warn!(signal, "second signal: killing every rank now");
        self.kill_now();
    }

    fn cancel(&mut self, reason: String) {
        self.queue.push_back(Event::Cancel { reason });
    }
}

impl<S: EventSink> Run<'_, S> {
    fn alive_ranks(&self) -> usize {
        self.attempts.values().map(|a| a.alive).sum()
    }

    fn next_kill(&self) -> Option<Instant> {
        self.attempts
            .values()
            .filter(|a| a.alive > 0 && !a.killed)
            .filter_map(|a| a.kill_at)
            .min()
    }

    /// Feeds queued events to the supervisor and carries out its actions, until quiet.
    fn drain_queue(&mut self) {
        while let Some(event) = self.queue.pop_front() {
            tracing::trace!(?event, "event");
            let actions = self.supervisor.handle(event, now());
            for action in actions {
                self.apply(action);
            }
        }
    }

    fn apply(&mut self, action: Action) {
        tracing::debug!(?action, "action");
        match action {
            Action::StartAttempt {
                attempt,
                nodes,
                restart_count,
            } => self.start_attempt(attempt, &nodes, restart_count),
            Action::StopAttempt {
                attempt,
                reason,
                grace,
            } => self.stop_attempt(attempt, &reason, grace),
            Action::MarkNodeBad { node, reason } => {
                tracing::warn!(%node, %reason, "node marked bad");
            }
            Action::Record(event) => {
                tracing::info!(kind = %event.kind, "{}", event.message);
                log_failure("record", self.sink.record(&event));
            }
            Action::Finish { state, reason } => {
                tracing::info!(%state, %reason, "job finished");
                log_failure("finished", self.sink.finished(state, &reason, now()));
                // The machine stops every attempt before finishing; should a rank still be
                // alive, it gets the normal teardown rather than being left behind.
                let grace = self.spec.stop_grace;
                let running: Vec<u32> = self
                    .attempts
                    .iter()
                    .filter(|(_, a)| a.alive > 0 && a.kill_at.is_none())
                    .map(|(n, _)| *n)
                    .collect();
                for attempt in running {
                    self.stop_attempt(attempt, "the job finished", grace);
                }
                self.outcome = Some((state, reason));
            }
        }
    }

    fn start_attempt(&mut self, attempt: u32, nodes: &[NodeName], restart_count: u32) {
        self.launched += 1;
        let dir = self.log_dir.join(format!("attempt-{attempt}"));
        let fail = |queue: &mut VecDeque<Event>, error: String| {
            tracing::warn!(attempt, %error, "launch failed");
            queue.push_back(Event::LaunchFailed { attempt, error });
        };
        if let Err(err) = std::fs::create_dir_all(&dir) {
            return fail(
                &mut self.queue,
                format!("cannot create the log directory {}: {err}", dir.display()),
            );
        }
        let Some(program) = self.spec.command.first() else {
            return fail(&mut self.queue, "the command is empty".to_string());
        };
        let path_var = self
            .spec
            .env
            .get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        if let Err(error) =
            resolve_program(program, self.spec.workdir.as_deref(), path_var.as_deref())
        {
            return fail(&mut self.queue, error);
        }
        let master_port = match free_port() {
            Ok(port) => port,
            Err(err) => {
                return fail(
                    &mut self.queue,
                    format!("no free port for the rendezvous: {err}"),
                )
            }
        };
        log_failure(
            "attempt_started",
            self.sink
                .attempt_started(attempt, nodes, restart_count, &dir, now()),
        );

        let ppn = self.spec.procs_per_node;
        let world_size = u32::try_from(nodes.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(ppn);
        let mut run = AttemptRun {
            ranks: BTreeMap::new(),
            alive: 0,
            kill_at: None,
            killed: false,
            progress: None,
            step: None,
        };
        'nodes: for (node_rank, node) in (0u32..).zip(nodes) {
            let node_name: Arc<str> = Arc::from(node.as_str());
            for local_rank in 0..ppn {
                let rank = node_rank * ppn + local_rank;
                let rank_env = RankEnv {
                    rank,
                    local_rank,
                    world_size,
                    local_world_size: ppn,
                    node_rank,
                    master_addr: "127.0.0.1".to_string(),
                    master_port,
                    restart_count,
                    max_restarts: self.spec.max_restarts,
                    job_id: self.job_id.to_string(),
                    attempt,
                    progress_file: progress_file(&dir, rank),
                };
                let new = NewRank {
                    guard: &self.guard,
                    command: &self.spec.command,
                    spec_env: &self.spec.env,
                    workdir: self.spec.workdir.as_deref(),
                    grace: self.spec.stop_grace,
                    dir: &dir,
                    node: Arc::clone(&node_name),
                };
                let spawned = match spawn_rank(&new, &rank_env, &self.watch) {
                    Ok(spawned) => spawned,
                    Err(err) => {
                        fail(
                            &mut self.queue,
                            format!(
                                "cannot start rank {rank} (guard {}): {err}",
                                self.guard.program().display()
                            ),
                        );
                        break 'nodes;
                    }
                };
                let pid = spawned.pid;
                self.groups.insert(pid);
                log_failure(
                    "rank_started",
                    self.sink.rank_started(
                        &RankStart {
                            attempt,
                            rank,
                            node,
                            pid,
                            stdout: &spawned.stdout,
                            stderr: &spawned.stderr,
                        },
                        now(),
                    ),
                );
                run.ranks.insert(rank, spawned.run);
                run.alive += 1;
                self.queue.push_back(Event::RankStarted {
                    attempt,
                    rank,
                    node: node.clone(),
                    pid: Some(pid),
                });
            }
        }
        self.attempts.insert(attempt, run);
    }

    fn stop_attempt(&mut self, attempt: u32, reason: &str, grace: Duration) {
        let Some(run) = self.attempts.get_mut(&attempt) else {
            self.queue.push_back(Event::AttemptStopped { attempt });
            return;
        };
        if run.alive == 0 {
            self.queue.push_back(Event::AttemptStopped { attempt });
            return;
        }
        tracing::info!(
            attempt,
            reason,
            ?grace,
            ranks = run.alive,
            "stopping attempt"
        );
        for rank in run.ranks.values().filter(|r| !r.exited) {
            signal_group(rank.pgid, Signal::SIGTERM);
        }
        let kill_at = Instant::now() + grace;
        run.kill_at = Some(run.kill_at.map_or(kill_at, |at| at.min(kill_at)));
    }

    /// SIGKILL for the ranks whose grace ran out.
    fn kill_overdue(&mut self, now: Instant) {
        for (attempt, run) in &mut self.attempts {
            if run.killed || run.alive == 0 || run.kill_at.is_none_or(|at| at > now) {
                continue;
            }
            tracing::info!(attempt, ranks = run.alive, "grace over: SIGKILL");
            for rank in run.ranks.values().filter(|r| !r.exited) {
                signal_group(rank.pgid, Signal::SIGKILL);
            }
            run.killed = true;
        }
    }

    /// The second Ctrl-C: no more grace.
    fn kill_now(&mut self) {
        let now = Instant::now();
        for run in self.attempts.values_mut() {
            run.kill_at = Some(now);
        }
        self.kill_overdue(now);
    }

    fn on_internal(&mut self, msg: RankMsg) {
        match msg {
            RankMsg::Progress {
                attempt,
                rank,
                step,
            } => self.on_progress(attempt, rank, step),
            RankMsg::Exited(exit) => {
                if exit.status.success() && self.held_exits.is_empty() {
                    self.deliver_exit(exit);
                } else {
                    self.held_exits.push(exit);
                    let now = Instant::now();
                    self.held_since.get_or_insert(now);
                    self.settle_at.get_or_insert(now + EXIT_SETTLE);
                }
            }
        }
    }

    /// Hands the held exits to the supervisor, in the order the ranks died.
    fn release_exits(&mut self) {
        let now = Instant::now();
        if self.earlier_death_unreported()
            && self
                .held_since
                .is_some_and(|since| now < since + EXIT_SETTLE_MAX)
        {
            self.settle_at = Some(now + Duration::from_millis(20));
            return;
        }
        self.settle_at = None;
        self.held_since = None;
        let mut exits = std::mem::take(&mut self.held_exits);
        exits.sort_by_key(Exit::failed_at);
        for exit in exits {
            self.deliver_exit(exit);
        }
    }

    /// Whether a rank not reported yet died before every held exit, by its guard's record.
    fn earlier_death_unreported(&self) -> bool {
        let Some(earliest) = self.held_exits.iter().map(Exit::failed_at).min() else {
            return false;
        };
        self.attempts.iter().any(|(attempt, run)| {
            run.ranks.iter().any(|(rank, r)| {
                !r.exited
                    && !self
                        .held_exits
                        .iter()
                        .any(|e| e.attempt == *attempt && e.rank == *rank)
                    && std::fs::read_to_string(&r.exit_file)
                        .ok()
                        .and_then(|t| t.trim().parse::<u128>().ok())
                        .is_some_and(|died_at| died_at < earliest)
            })
        })
    }

    fn deliver_exit(&mut self, exit: Exit) {
        let Exit {
            attempt,
            rank,
            status,
            stderr_tail,
            ..
        } = exit;
        log_failure(
            "rank_exited",
            self.sink.rank_exited(attempt, rank, status, now()),
        );
        self.queue.push_back(Event::RankExited {
            attempt,
            rank,
            status,
            stderr_tail,
        });
        let Some(run) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if let Some(r) = run.ranks.get_mut(&rank) {
            if !r.exited {
                r.exited = true;
                r.lifeline = None;
                run.alive = run.alive.saturating_sub(1);
                self.groups.remove(r.pgid);
            }
        }
        if run.alive == 0 {
            log_failure("attempt_ended", self.sink.attempt_ended(attempt, now()));
            self.queue.push_back(Event::AttemptStopped { attempt });
        }
    }

    fn on_progress(&mut self, attempt: u32, rank: u32, step: Option<u64>) {
        if let Some(run) = self.attempts.get_mut(&attempt) {
            run.step = run.step.max(step);
            run.progress = Some(run.step);
        }
        self.queue.push_back(Event::Progress {
            attempt,
            rank,
            step,
        });
    }

    /// Once a second (and on the first SIGINT/SIGTERM): the attempts' progress, then the
    /// heartbeat, which may carry a cancel; true when it did and the cancel is queued.
    fn heartbeat(&mut self) -> bool {
        let progress = self
            .attempts
            .iter_mut()
            .filter_map(|(attempt, run)| run.progress.take().map(|step| (*attempt, step)));
        match beat(&mut self.sink, progress, now()) {
            Some(reason) => {
                self.queue.push_back(Event::Cancel { reason });
                true
            }
            None => false,
        }
    }

    fn poll_progress_files(&mut self) {
        for (attempt, run) in &mut self.attempts {
            for (rank, r) in run.ranks.iter_mut().filter(|(_, r)| !r.exited) {
                let step = read_step_file(&r.progress_file);
                if step.is_some() && step != r.last_file_step {
                    r.last_file_step = step;
                    run.step = run.step.max(step);
                    run.progress = Some(run.step);
                    self.queue.push_back(Event::Progress {
                        attempt: *attempt,
                        rank: *rank,
                        step,
                    });
                }
            }
        }
    }
}
